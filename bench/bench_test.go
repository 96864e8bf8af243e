package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// TestHarness checks that what the benchmarks measure is real work: the
// generated message is accepted as a one-page fax of exactly the generated
// PDF, and with the worker running the fax is delivered and its document
// cleaned up. A benchmark of a daemon that refuses every message would
// otherwise report a splendid rate.
func TestHarness(t *testing.T) {
	for _, worker := range []bool{false, true} {
		name := "accept-only"
		if worker {
			name = "with-worker"
		}
		t.Run(name, func(t *testing.T) {
			var pdf bytes.Buffer
			if err := writePDF(&pdf, 100_000, 1); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "msg.eml")
			var msg bytes.Buffer
			if err := writeMessage(&msg, pdf.Bytes()); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, msg.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}

			d := startDaemon(t, daemonOptions{worker: worker})
			c, err := dial(d.smtpAddr, path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			if err := c.send(); err != nil {
				t.Fatal(err)
			}

			if worker {
				d.waitIdle(t, time.Minute)
			}
			js, err := d.db.List(context.Background(), faxbridge.JobFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(js) != 1 {
				t.Fatalf("got %d jobs, want 1", len(js))
			}
			j := js[0]
			sum := sha256.Sum256(pdf.Bytes())
			if j.Pages != 1 || j.DocumentBytes != int64(pdf.Len()) || j.DocumentSHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("job has %d pages, %d bytes, sha256 %s; want 1 page, %d bytes, sha256 %x",
					j.Pages, j.DocumentBytes, j.DocumentSHA256, pdf.Len(), sum)
			}
			_, statErr := os.Stat(filepath.Join(d.docs, j.DocumentKey))
			if worker {
				if j.Outcome != faxbridge.OutcomeDelivered {
					t.Errorf("outcome %q, want %q", j.Outcome, faxbridge.OutcomeDelivered)
				}
				if !os.IsNotExist(statErr) {
					t.Errorf("document after delivery: %v, want it removed", statErr)
				}
			} else if statErr != nil {
				t.Errorf("stored document: %v", statErr)
			}
		})
	}
}

// TestPDFSize checks that the generated PDFs and messages have the sizes the
// benchmark names claim.
func TestPDFSize(t *testing.T) {
	for _, want := range []int{100_000, 5_000_000} {
		var pdf bytes.Buffer
		if err := writePDF(&pdf, pdfSizeFor(want), 1); err != nil {
			t.Fatal(err)
		}
		var msg bytes.Buffer
		if err := writeMessage(&msg, pdf.Bytes()); err != nil {
			t.Fatal(err)
		}
		if got := msg.Len(); got < want*95/100 || got > want*105/100 {
			t.Errorf("message for %d bytes is %d bytes", want, got)
		}
	}
}
