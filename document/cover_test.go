package document

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	faxbridge "github.com/faxbridge/faxbridge"
	"github.com/pdfcpu/pdfcpu/pkg/font"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

var coverDate = time.Date(2025, 3, 4, 9, 30, 0, 0, time.FixedZone("", -5*3600))

func TestCover(t *testing.T) {
	dir := t.TempDir()
	c := CoverInfo{
		From:    "Zoë Müller <zoe@example.com>",
		To:      "+1 555 123 4567",
		Date:    coverDate,
		Subject: "Invoice (March) \\ 50% — paid",
		Body:    "Hello,\r\n\r\nplease find the invoice attached.\n\tIndented line.\n\nRegards",
		Pages:   3,
	}
	path, pages, err := Cover(c, Options{TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if pages != 1 {
		t.Errorf("pages = %d", pages)
	}
	if got := pageDims(t, path); !sameDims(got, []types.Dim{letterP}) {
		t.Errorf("page sizes %v", got)
	}
	content := contents(t, path)[0]
	// pdfcpu writes core-font text as Windows-1252 strings, escaping
	// parentheses and backslashes.
	for _, want := range []string{
		"(FAX)", "(From:)", "(Zo\xeb M\xfcller <zoe@example.com>)", "(To:)", "(+1 555 123 4567)",
		"(Date:)", "(Tue, 4 Mar 2025 09:30 -0500)", "(Subject:)", `(Invoice \(March\) \\ 50% ` + "\x97" + ` paid)`,
		"(Pages:)", "(1 cover page + 3 pages)", "(Hello,)", "(please find the invoice attached.)",
		"(Indented line.)", "(Regards)",
	} {
		if !strings.Contains(content, want) {
			t.Errorf("cover does not show %q", want)
		}
	}
	// A tab indents by eight spaces' width (Helvetica's is 0.278 em).
	at := regexp.MustCompile(`1\.00000 ([0-9.]+) [0-9.]+ cm BT[^(]*\((Hello,|Indented line\.)\)`).FindAllStringSubmatch(content, -1)
	if len(at) != 2 || at[0][1] != "54.00000" || at[1][1] != "78.46400" {
		t.Errorf("body lines start at %q, want Hello, at 54 and the indented line at 78.464", at)
	}
	if strings.Contains(content, "(Note:)") {
		t.Error("cover has a note about unprintable characters, but all were printable")
	}
}

func TestCoverLong(t *testing.T) {
	dir := t.TempDir()
	para := strings.Repeat("All work and no play makes a long fax body. ", 40)
	body := strings.Repeat(para+"\n\n", 30) // far more than three pages
	for _, tc := range []struct {
		max, want int
		paper     string
	}{{0, DefaultMaxCoverPages, ""}, {1, 1, "a4"}, {5, 5, ""}} {
		path, pages, err := Cover(CoverInfo{Subject: "long", Body: body}, Options{TempDir: dir, MaxCoverPages: tc.max, Paper: tc.paper})
		if err != nil {
			t.Fatal(err)
		}
		c := contents(t, path)
		if pages != tc.want || len(c) != tc.want {
			t.Fatalf("max %d: %d pages (%d in the file), want %d", tc.max, pages, len(c), tc.want)
		}
		if !strings.Contains(c[0], "("+plural(tc.want, "cover page")+")") {
			t.Errorf("max %d: first page does not count %d cover pages", tc.max, tc.want)
		}
		if !strings.Contains(c[len(c)-1], "([The message is longer; the rest is not shown.])") {
			t.Errorf("max %d: last page does not say the body was cut", tc.max)
		}
		if tc.want > 1 && !strings.Contains(c[1], fmt.Sprintf("(Fax cover, page 2 of %d)", tc.want)) {
			t.Errorf("max %d: page 2 header missing", tc.max)
		}
		// Every body line fits the text width.
		dim, _ := paper(tc.paper)
		for _, l := range wrapText(para, regular, coverSize, dim.Width-2*coverMargin, 100) {
			if w := measureLine(l); w > dim.Width-2*coverMargin {
				t.Errorf("line %q is %.1f points wide", l, w)
			}
		}
	}
	// A body that fits one page gives one page.
	_, pages, err := Cover(CoverInfo{Body: strings.Repeat("line\n", 20)}, Options{TempDir: dir})
	if err != nil || pages != 1 {
		t.Errorf("short body: %d pages, %v", pages, err)
	}
}

func measureLine(s string) float64 {
	w, _ := font.TextWidthFloat(model.DecodeUTF8ToByte(s), regular, coverSize)
	return w
}

func TestPrintable(t *testing.T) {
	cases := []struct {
		in, want string
		replaced int
	}{
		{"plain ASCII", "plain ASCII", 0},
		{"Grüße, déjà vu, €5 “quoted” – ok…", "Grüße, déjà vu, €5 “quoted” – ok…", 0},
		{"Łódź, Dvořák, Ős", "?ódz, Dvorák, Os", 1}, // Ł has no base letter in 1252
		{"e\u0301", "é", 0}, // combining accent composed
		{"Привет 世界 🙂", "?????? ?? ?", 9},
		{"zero\u200bwidth\ufeff", "zerowidth", 0},
		{"a\tb", "a       b", 0},
		{"non\u2011breaking \u2212 minus", "non-breaking - minus", 0},
		{"ctrl\x07\x1b", "ctrl", 0},
	}
	for _, tc := range cases {
		got, n := printable(tc.in)
		if got != tc.want || n != tc.replaced {
			t.Errorf("printable(%q) = %q, %d; want %q, %d", tc.in, got, n, tc.want, tc.replaced)
		}
	}
}

func TestCoverUnprintable(t *testing.T) {
	dir := t.TempDir()
	path, _, err := Cover(CoverInfo{From: "Иван", Subject: "Отчёт", Body: "Привет"}, Options{TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := contents(t, path)[0]
	for _, want := range []string{"(????)", "(?????)", "(??????)", "(Note:)", "(some characters of the message cannot be printed and are shown as ?)"} {
		if !strings.Contains(c, want) {
			t.Errorf("cover does not show %q", want)
		}
	}
}

func TestBuildWithCover(t *testing.T) {
	dir := t.TempDir()
	a, img := filepath.Join(dir, "a.pdf"), filepath.Join(dir, "photo.jpg")
	writePDF(t, a, 2, 0)
	writeJPEG(t, img, 800, 600, 0, 0)
	info := &CoverInfo{From: "sender@example.com", To: "+15551234567", Date: coverDate, Subject: "See attached", Body: "Two documents."}
	out := t.TempDir()
	res, err := Build(context.Background(), []Input{input(t, a), imageInput(t, img, "jpeg")}, Options{TempDir: out, Cover: info, MaxPages: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages != 4 || res.CoverPages != 1 || len(res.Docs) != 2 {
		t.Errorf("Pages %d, CoverPages %d, Docs %+v", res.Pages, res.CoverPages, res.Docs)
	}
	if got, want := pageDims(t, res.Path), []types.Dim{letterP, pdfA4, pdfA4, letterL}; !sameDims(got, want) {
		t.Errorf("pages %v, want %v", got, want)
	}
	c := contents(t, res.Path)
	if !strings.Contains(c[0], "(1 cover page + 3 pages)") || !strings.Contains(c[1], "(Page 1)") {
		t.Errorf("cover is not first, or miscounts")
	}
	if info.Pages != 0 {
		t.Error("Build changed the caller's CoverInfo")
	}
	if left, _ := os.ReadDir(out); len(left) != 1 {
		t.Errorf("TempDir holds %v, want only the result", left)
	}

	// A message of text alone faxes its cover.
	res, err = Build(context.Background(), nil, Options{TempDir: out, Cover: info, Paper: "a4"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages != 1 || res.CoverPages != 1 || len(res.Docs) != 0 || !sameDims(pageDims(t, res.Path), []types.Dim{a4P}) {
		t.Errorf("cover alone: %+v", res)
	}
	if c := contents(t, res.Path); !strings.Contains(c[0], "(1 cover page)") {
		t.Error("cover alone does not say 1 cover page")
	}

	// The cover counts against the page limit.
	_, err = Build(context.Background(), []Input{input(t, a)}, Options{TempDir: out, Cover: info, MaxPages: 2})
	if want := "the fax would have 3 pages with its cover page; the limit is 2 pages per fax"; faxbridge.ErrorCode(err) != faxbridge.ETooLarge || faxbridge.ErrorMessage(err) != want {
		t.Errorf("cover over the limit: %v", err)
	}
}
