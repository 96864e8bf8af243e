package mailparse

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	faxbridge "github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus.golden")

// corpusDir is the shared corpus of real messages, read in place; the
// repository does not carry copies.
func corpusDir(t testing.TB) string {
	t.Helper()
	return testenv.Corpus(t)
}

func corpusFiles(t testing.TB) []string {
	files, err := corpusFilesAt(corpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func corpusFilesAt(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), ".md") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

// corpusErrors lists the messages expected to be refused, with the code.
var corpusErrors = map[string]faxbridge.Code{}

func TestCorpus(t *testing.T) {
	var golden bytes.Buffer
	for _, path := range corpusFiles(t) {
		name := filepath.Base(path)
		m, err := parseFile(t, path)
		fmt.Fprint(&golden, name)
		if code, ok := corpusErrors[name]; ok || err != nil {
			if faxbridge.ErrorCode(err) != code {
				t.Errorf("%s: err = %v, want code %q", name, err, code)
			}
			fmt.Fprintf(&golden, " | error %s\n", faxbridge.ErrorCode(err))
			continue
		}
		for _, p := range m.Parts {
			fmt.Fprintf(&golden, " | %s %q %s %d related=%t", p.Kind, p.Name, p.DeclaredType, p.Size, p.InRelated)
		}
		golden.WriteByte('\n')
	}
	file := filepath.Join("testdata", "corpus.golden")
	if *update {
		if err := os.WriteFile(file, golden.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(golden.Bytes(), want) {
		got, exp := strings.Split(golden.String(), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(got), len(exp)) {
			g, e := line(got, i), line(exp, i)
			if g != e {
				t.Errorf("line %d:\n got  %s\n want %s", i+1, g, e)
			}
		}
	}
}

func line(l []string, i int) string {
	if i < len(l) {
		return l[i]
	}
	return ""
}

func parseFile(t *testing.T, path string) (*Message, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Parse(f, Options{SpoolDir: t.TempDir()})
	if err == nil {
		t.Cleanup(func() { _ = m.Remove() })
	}
	return m, err
}

// TestCorpusExpectations pins what the gateway relies on, so a careless
// -update cannot bless a regression in these.
func TestCorpusExpectations(t *testing.T) {
	dir := corpusDir(t)
	type doc struct {
		kind    Kind
		name    string
		related bool
	}
	cases := []struct {
		file   string
		docs   []doc // parts with Kind != other, in order
		report bool
		from   string
	}{
		{file: "pdf-octetstream-ibmnotes-10p.eml", docs: []doc{{KindPDF, "Move To Eight ZWEP6227F.pdf", false}}, from: "nicoletta_bernasconi@it.ibm.com"},
		{file: "pdf-inline-disposition.raw", docs: []doc{{KindPDF, "Hello-World.pdf", false}}},
		{file: "pdf-thunderbird-alt-related-inline-jpeg.eml", docs: []doc{{KindJPEG, "inline-image.jpg", true}, {KindPDF, "Sample PDF.pdf", false}}},
		{file: "pdf-stub-boundary-prefix-clash.msg", docs: []doc{{KindPDF, "Daily_Stats-2022-05-12-0700.pdf", false}}},
		{file: "pdf-stub-ctype-missing-semicolon.raw", docs: []doc{{KindPDF, "Invoice_302232133150612.pdf", false}}},
		{file: "pdf-stub-2047-in-quoted-param-iso8859.eml"}, // 10 bytes of text labelled PDF
		{file: "pdf-ctype-but-pkcs7-bytes-2047-name.eml"},
		{file: "jpeg-label-png-bytes-single-part.raw", docs: []doc{{KindPNG, "favicon.jpg", false}}},
		{file: "jpeg-applemail-rfc2231-2047-filename-inline.eml", docs: []doc{{KindJPEG, "Eelanalüüsi päring.jpg", false}}},
		{file: "jpeg-smime-signed-thunderbird.txt", docs: []doc{{KindJPEG, "signed.jpg", false}}},
		{file: "tiff-netscape3-fwd-related-inline.eml", docs: []doc{{KindTIFF, "C:¥win95¥TEMP¥nsmailRJ.tiff", true}}},
		{file: "fwd-rfc822-with-truncated-pdf.eml", docs: []doc{{KindPDF, "broken.pdf", false}}},
		{file: "octetstream-txt-outlook2007.eml"},
		{file: "dsn-bounce-multipart-report.raw", report: true, from: "MAILER-DAEMON@CS.UTK.EDU"},
		{file: "malformed-multipart-no-boundary.raw", report: true},
		{file: "zip-stub-missing-final-boundary.raw"},
		{file: "text-only-very-long-lines.msg"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			m, err := parseFile(t, filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var docs []doc
			for _, p := range m.Parts {
				if p.Kind != KindOther {
					docs = append(docs, doc{p.Kind, p.Name, p.InRelated})
				}
			}
			if fmt.Sprint(docs) != fmt.Sprint(tc.docs) {
				t.Errorf("documents %v, want %v", docs, tc.docs)
			}
			if m.IsReport != tc.report {
				t.Errorf("IsReport = %t", m.IsReport)
			}
			if tc.from != "" && m.From != tc.from {
				t.Errorf("From = %q, want %q", m.From, tc.from)
			}
		})
	}
}
