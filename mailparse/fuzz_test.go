package mailparse

import (
	"bytes"
	"errors"
	"os"
	"testing"

	faxbridge "github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/internal/testenv"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"Subject: x\r\n\r\nbody",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n",
		"Content-Type: multipart/related; boundary=b; start=<x>\n\n--b\nContent-ID: <x>\n\n--b\nContent-Type: message/rfc822\n\nContent-Type: multipart/alternative; boundary=c\n\n--c\n",
		"Content-Type: application/pdf; name*0*=x'y'%FF; name*1=\"\\\"\n\n%PDF-",
		"From \nContent-Type: multipart/digest; boundary=\"\"\n\n",
	} {
		f.Add([]byte(s))
	}
	// The real messages seed the corpus where they are available.
	var files []string
	if dir, err := testenv.CorpusDir(); err == nil {
		files, _ = corpusFilesAt(dir)
	}
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		m, err := Parse(bytes.NewReader(data), Options{SpoolDir: dir, MaxParts: 50})
		if errors.Is(err, errPanic) {
			t.Fatalf("panic: %v", err)
		}
		if err != nil {
			if c := faxbridge.ErrorCode(err); c != faxbridge.EBadContent && c != faxbridge.ETooLarge {
				t.Fatalf("unexpected error %v", err)
			}
		} else {
			for _, p := range m.Parts {
				if (p.Kind == KindOther) != (p.Path == "") || p.Size < 0 || len(p.SHA256) != 64 {
					t.Fatalf("inconsistent part %+v", p)
				}
				if p.Path != "" {
					if fi, err := os.Stat(p.Path); err != nil || fi.Size() != p.Size {
						t.Fatalf("spool file of %+v: %v", p, err)
					}
				}
			}
			if err := m.Remove(); err != nil {
				t.Fatal(err)
			}
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Fatalf("files left in the spool: %d", len(left))
		}
	})
}
