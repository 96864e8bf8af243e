package mailparse_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	faxbridge "github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/document"
	"github.com/faxbridge/faxbridge/internal/testenv"
	"github.com/faxbridge/faxbridge/mailparse"
)

// TestCorpusDocuments takes the PDFs the walk finds in the real messages
// through document.Build: the valid ones must count the pages their
// makers gave them, and the stubs must be refused as damaged.
func TestCorpusDocuments(t *testing.T) {
	dir := testenv.Corpus(t)
	const damaged = -1
	cases := map[string]int{ // pages, or damaged
		"pdf-octetstream-ibmnotes-10p.eml":            10,
		"pdf-octetstream-cdo-2p-related-jpegs.eml":    2,
		"pdf-ricoh-mfp-scan-fwd-mdaemon.eml":          1,
		"pdf-thunderbird-alt-related-inline-jpeg.eml": 1,
		"pdf-curl-preamble-epilogue.eml":              1,
		"pdf-inline-disposition.raw":                  1,
		"pdf-swiftmailer-office-png-rfc822.eml":       1,
		"pdf-truncated-bare-lf.eml":                   damaged,
		"fwd-rfc822-with-truncated-pdf.eml":           damaged,
		"pdf-stub-blank-name-param.raw":               damaged,
		"pdf-stub-ctype-missing-semicolon.raw":        damaged,
		"pdf-stub-unquoted-tspecials-filename.raw":    damaged,
		"pdf-stub-boundary-prefix-clash.msg":          damaged,
	}
	for file, pages := range cases {
		t.Run(file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := mailparse.Parse(f, mailparse.Options{SpoolDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Remove()
			var pdf *mailparse.Part
			for i := range m.Parts {
				if m.Parts[i].Kind == mailparse.KindPDF && m.Parts[i].Depth <= 3 {
					pdf = &m.Parts[i]
					break
				}
			}
			if pdf == nil {
				t.Fatalf("no PDF found in %+v", m.Parts)
			}
			in := document.Input{Name: pdf.Name, Kind: string(pdf.Kind), Path: pdf.Path, Size: pdf.Size, SHA256: pdf.SHA256}
			res, err := document.Build(context.Background(), []document.Input{in}, document.Options{TempDir: t.TempDir()})
			if pages == damaged {
				want := `attachment "` + pdf.Name + `" is damaged or incomplete and cannot be faxed; export it again and resend`
				if faxbridge.ErrorCode(err) != faxbridge.EBadContent || faxbridge.ErrorMessage(err) != want {
					t.Errorf("got %+v, %v; want %q", res, err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Pages != pages || res.SHA256 != pdf.SHA256 || res.Bytes != pdf.Size {
				t.Errorf("result %+v; part %+v; want %d pages", res, pdf, pages)
			}
		})
	}
}
