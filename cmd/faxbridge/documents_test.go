package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge/document/pdftest"
)

// TestCutPDFRefusedAtData: a PDF cut to half its length is refused at the
// end of DATA with 554 5.6.0 naming the attachment, and nothing is faxed.
func TestCutPDFRefusedAtData(t *testing.T) {
	h := newHarness(t, nil)
	for _, name := range []string{"sample.pdf", "two-pages.pdf"} {
		t.Run(name, func(t *testing.T) {
			b := pdf(t, name)
			msg := message("a@example.com", "s", attachment{"half.pdf", "application/pdf", "", b[:len(b)/2]})
			err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, msg)
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 6, 0}) ||
				!strings.Contains(se.Message, `"half.pdf" is damaged or incomplete`) {
				t.Errorf("got %v, want 554 5.6.0 naming half.pdf as damaged", err)
			}
		})
	}
	if n := len(h.sim.Creates()); n != 0 {
		t.Errorf("%d faxes sent for cut PDFs", n)
	}
}

// TestPDFBombsRefusedWithinMemory sends two copies of a 27 KB PDF whose
// cross-reference stream declares 4 million entries at once. Both are
// refused as too complex, and the daemon allocates less than 100 MB for
// them in all: the bytes allocated bound the heap's growth, whatever the
// timing (the file once took a daemon from 29 MB to 1.1 GB).
func TestPDFBombsRefusedWithinMemory(t *testing.T) {
	h := newHarness(t, nil)
	bomb := pdftest.XRefBomb(4_000_000)
	msg := message("a@example.com", "s", attachment{"bomb.pdf", "application/pdf", "", bomb})
	t.Logf("bomb: %d bytes", len(bomb))

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resetPeakRSS()
	rssBefore := procStatusKB("VmRSS")

	const copies = 2
	errs := make(chan error, copies)
	for range copies {
		go func() {
			errs <- h.sendWithin(30*time.Second, "a@example.com", []string{"15551234567@fax.example.com"}, msg)
		}()
	}
	for range copies {
		err := <-errs
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 554 || !strings.Contains(se.Message, "too complex to fax") {
			t.Errorf("got %v, want 554 too complex to fax", err)
		}
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %.1f MB; peak RSS %d KB over %d KB before", float64(alloc)/(1<<20), procStatusKB("VmHWM"), rssBefore)
	if alloc > 100<<20 {
		t.Errorf("two bombs allocated %.1f MB; the bound is 100 MB", float64(alloc)/(1<<20))
	}
	if n := len(h.sim.Creates()); n != 0 {
		t.Errorf("%d faxes sent for the bombs", n)
	}
}

// sendWithin is send on a connection that gives up after d, so that a
// daemon that never answers fails the test rather than hanging it.
func (h *harness) sendWithin(d time.Duration, from string, rcpts []string, msg []byte) error {
	c, err := smtp.Dial(h.smtp)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(d)
	c.CommandTimeout, c.SubmissionTimeout = time.Until(deadline), time.Until(deadline)
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}

// resetPeakRSS restarts the kernel's peak-RSS counter (VmHWM) where Linux
// allows it; the numbers are logged for the record, not asserted on.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func procStatusKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var kb int64
		if n, _ := fmt.Sscanf(string(line), field+": %d kB", &kb); n == 1 {
			return kb
		}
	}
	return -1
}
