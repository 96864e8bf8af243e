package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/document/pdftest"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
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

// TestLargeMessageMemory sends a 50 MB message (a 37 MB one-page scan)
// through SMTP, parsing, the PDF check, storage and the job store: it adds
// less than 16 MB to the heap (the bytes allocated bound its growth).
// pdfcpu's validation alone held the whole PDF. The provider is down, so
// that its fetch of the document does not count.
func TestLargeMessageMemory(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.Fax.MaxDocBytes = 60 << 20
		c.SMTP.MaxMessageBytes = 80 << 20
	})
	h.sim.SetFaults(signalwiretest.Faults{DownUntil: time.Now().Add(time.Hour), DownMode: signalwiretest.Down503})
	msg := message("a@example.com", "s", attachment{"scan.pdf", "application/pdf", "", scanPDF(6080)})
	t.Logf("message: %.1f MB", float64(len(msg))/(1<<20))

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, msg)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("accepting it allocated %.1f MB", float64(alloc)/(1<<20))
	if alloc > 16<<20 {
		t.Errorf("accepting a %d MB message allocated %.1f MB; the bound is 16 MB", len(msg)>>20, float64(alloc)/(1<<20))
	}
}

// scanPDF is a one-page PDF showing one side x side grey image of noise,
// uncompressed: the size of a scanned page at high resolution.
func scanPDF(side int) []byte {
	var b bytes.Buffer
	var offs []int
	obj := func(body string) {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), body)
	}
	b.WriteString("%PDF-1.4\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R >>")
	content := "q 512 0 0 512 50 140 cm /Im0 Do Q"
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	offs = append(offs, b.Len())
	fmt.Fprintf(&b, "5 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d >>\nstream\n", side, side, side*side)
	noise := make([]byte, side*side)
	rand.NewChaCha8([32]byte{1}).Read(noise)
	b.Write(noise)
	b.WriteString("\nendstream\nendobj\n")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return b.Bytes()
}
