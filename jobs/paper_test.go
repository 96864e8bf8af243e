package jobs

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/faxbridge/faxbridge"
)

// TestPaperOnlyForDrawnPages: the destination's paper is looked up (a
// libphonenumber region match, not free) only when faxbridge draws pages
// itself, a cover or images; a PDF passes as it is on any paper.
func TestPaperOnlyForDrawnPages(t *testing.T) {
	for _, tt := range []struct {
		file, cover string
		lookups     int
	}{
		{"scan-pdf-root-no-body.eml", "never", 0},
		{"scan-pdf-root-no-body.eml", "always", 1},
		{"scan-jpeg-octetstream-latin1.eml", "never", 1},
	} {
		t.Run(tt.file+"/"+tt.cover, func(t *testing.T) {
			var lookups []string
			cfg := Config{SpoolDir: t.TempDir(), CoverPage: tt.cover, MaxBuilds: 1,
				PaperFor: func(e164 string) string { lookups = append(lookups, e164); return "a4" }}
			svc := New(cfg, &memJobs{}, &memBlobs{}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			f, err := os.Open(filepath.Join("testdata", "scanner", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			env := faxbridge.Envelope{
				MailFrom:   "envelope@office.example",
				Recipients: []faxbridge.Recipient{{Destination: faxbridge.Destination{To: "+4930123456"}}},
				RemoteAddr: "192.0.2.10:40000",
			}
			if _, err := svc.Accept(context.Background(), env, f); err != nil {
				t.Fatal(err)
			}
			if len(lookups) != tt.lookups {
				t.Errorf("paper looked up for %v, want %d lookups", lookups, tt.lookups)
			}
		})
	}
}
