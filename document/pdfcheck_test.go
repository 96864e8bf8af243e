package document

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	faxbridge "github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/document/pdftest"
	"github.com/faxbridge/faxbridge/internal/testenv"
	"github.com/pdfcpu/pdfcpu/pkg/api"
)

// needTool returns the path of a program the test suite installs; without
// it the test is skipped, or fails under the full suite.
func needTool(t testing.TB, name string) string {
	t.Helper()
	return testenv.Tool(t, "", name)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(needTool(t, name), args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// realPDFs writes PDFs the way different producers lay them out: a
// classic cross-reference table (writePDF, Ghostscript), cross-reference
// and object streams (pdfcpu, qpdf), a linearized file (qpdf), an image
// wrapped by img2pdf, and an incremental update. It returns their paths
// and page counts.
func realPDFs(t testing.TB, dir string) map[string]int {
	t.Helper()
	files := map[string]int{}
	classic := filepath.Join(dir, "classic.pdf")
	writePDF(t, classic, 4, 64)
	files[classic] = 4

	sample, err := filepath.Abs(filepath.Join("..", "cmd", "faxbridge", "sample.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	files[sample] = 1

	// pdfcpu's merge writes object streams and a cross-reference stream.
	one := filepath.Join(dir, "one.pdf")
	writePDF(t, one, 1, 0)
	res, err := Build(context.Background(), []Input{input(t, classic), input(t, one)}, Options{TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	merged := filepath.Join(dir, "pdfcpu-merged.pdf")
	if err := os.Rename(res.Path, merged); err != nil {
		t.Fatal(err)
	}
	files[merged] = 5

	objstm := filepath.Join(dir, "qpdf-objstm.pdf")
	run(t, "qpdf", "--object-streams=generate", classic, objstm)
	files[objstm] = 4
	linear := filepath.Join(dir, "qpdf-linearized.pdf")
	run(t, "qpdf", "--linearize", "--object-streams=generate", classic, linear)
	files[linear] = 4

	ps := filepath.Join(dir, "three.ps")
	var b strings.Builder
	for i := range 3 {
		fmt.Fprintf(&b, "/Helvetica findfont 24 scalefont setfont 72 700 moveto (Ghostscript page %d) show 100 100 moveto 400 500 lineto stroke showpage\n", i+1)
	}
	if err := os.WriteFile(ps, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	gs := filepath.Join(dir, "ghostscript.pdf")
	run(t, "gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite", "-sOutputFile="+gs, ps)
	files[gs] = 3

	png := filepath.Join(dir, "scan.png")
	writePNG(t, png, 300, 400, 150)
	img := filepath.Join(dir, "img2pdf.pdf")
	run(t, "img2pdf", "-o", img, png)
	files[img] = 1

	// An incremental update replaces page 1's content; the old section
	// stays in the file, reached through /Prev.
	updated := filepath.Join(dir, "updated.pdf")
	appendUpdate(t, classic, updated)
	files[updated] = 4
	return files
}

// appendUpdate copies src (a writePDF file) with an incremental update
// that gives page 1 new content (object 5 in writePDF's numbering).
func appendUpdate(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(b, []byte("startxref\n"))
	var prev int64
	fmt.Sscanf(string(b[i+len("startxref\n"):]), "%d", &prev)
	var size int
	fmt.Sscanf(string(b[bytes.LastIndex(b, []byte("/Size "))+len("/Size "):]), "%d", &size)
	off := len(b)
	content := "BT /F1 24 Tf 72 720 Td (Page 1, revised) Tj ET"
	upd := fmt.Sprintf("5 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(content), content)
	xref := off + len(upd)
	upd += fmt.Sprintf("xref\n5 1\n%010d 00000 n \ntrailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n", off, size, prev, xref)
	if err := os.WriteFile(dst, append(b, upd...), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCheckPDFReadsRealLayouts(t *testing.T) {
	dir := t.TempDir()
	for path, pages := range realPDFs(t, dir) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			info, err := checkPDF(path)
			if err != nil || info.pages != pages {
				t.Fatalf("checkPDF = %+v, %v; want %d pages", info, err, pages)
			}
			// The same count as pdfcpu's, which reads everything.
			if n, err := api.PageCountFile(path); err != nil || n != pages {
				t.Errorf("pdfcpu: %d pages, %v", n, err)
			}
		})
	}
}

// TestCutPDFsRefused cuts each real PDF at several points: every cut that
// loses part of the file up to its startxref keyword is refused as
// damaged, naming the attachment. A cut after it keeps every object and
// the cross-reference data, so the file is whole: with "%%EOF" or the
// offset's last digits lost (the section is then looked for, as viewers
// do), it faxes every page.
func TestCutPDFsRefused(t *testing.T) {
	dir := t.TempDir()
	want := `attachment "cut.pdf" is damaged or incomplete and cannot be faxed; export it again and resend`
	for path, pages := range realPDFs(t, dir) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		eof := bytes.LastIndex(b, []byte("%%EOF"))
		startxref := bytes.LastIndex(b, []byte("startxref"))
		cuts := map[string]int{}
		for _, pct := range []int{1, 10, 25, 50, 75, 90, 95, 99} {
			cuts[fmt.Sprintf("%d%%", pct)] = len(b) * pct / 100
		}
		cuts["just before startxref"] = startxref
		for name, n := range cuts {
			t.Run(filepath.Base(path)+"/"+name, func(t *testing.T) {
				cut := filepath.Join(t.TempDir(), "cut.pdf")
				if err := os.WriteFile(cut, b[:n], 0o600); err != nil {
					t.Fatal(err)
				}
				res, err := Build(context.Background(), []Input{input(t, cut)}, Options{TempDir: t.TempDir()})
				if res != nil || faxbridge.ErrorCode(err) != faxbridge.EBadContent || faxbridge.ErrorMessage(err) != want {
					t.Errorf("cut to %d of %d bytes: %+v, %v", n, len(b), res, err)
				}
			})
		}
		whole := map[string]int{
			"just before %%EOF":       eof,
			"in the startxref offset": startxref + len("startxref\n") + 1,
		}
		for name, n := range whole {
			t.Run(filepath.Base(path)+"/"+name, func(t *testing.T) {
				cut := filepath.Join(t.TempDir(), "cut.pdf")
				if err := os.WriteFile(cut, b[:n], 0o600); err != nil {
					t.Fatal(err)
				}
				res, err := Build(context.Background(), []Input{input(t, cut)}, Options{TempDir: t.TempDir()})
				if err != nil || res.Pages != pages {
					t.Errorf("%+v, %v; want %d pages", res, err, pages)
				}
			})
		}
	}
}

// TestHollowPDFsRefused keeps a file's length and its cross-reference
// data but blanks what comes before them, as a disk or transfer error
// would, so that entries point at objects that are not there: the check
// must read what the pages need, not only the table.
func TestHollowPDFsRefused(t *testing.T) {
	dir := t.TempDir()
	for path := range realPDFs(t, dir) {
		switch filepath.Base(path) {
		case "sample.pdf", "ghostscript.pdf", "img2pdf.pdf":
			// Their producers put metadata last, which a fax can do
			// without: TestHollowPDFPageContent blanks what matters.
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		xref, err := strconv.Atoi(strings.Fields(string(b[bytes.LastIndex(b, []byte("startxref"))+len("startxref"):]))[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, pct := range []int{10, 40, 70} {
			// From pct% to the last cross-reference section: the objects
			// and stream ends there are gone, the table is intact.
			start, end := len(b)*pct/100, xref
			if end <= start {
				continue // a linearized file's table comes first
			}
			t.Run(fmt.Sprintf("%s/%d%%", filepath.Base(path), pct), func(t *testing.T) {
				hollow := append([]byte(nil), b...)
				clear(hollow[start:end])
				p := filepath.Join(t.TempDir(), "hollow.pdf")
				if err := os.WriteFile(p, hollow, 0o600); err != nil {
					t.Fatal(err)
				}
				_, err := Build(context.Background(), []Input{input(t, p)}, Options{TempDir: t.TempDir()})
				if faxbridge.ErrorCode(err) != faxbridge.EBadContent || !strings.Contains(faxbridge.ErrorMessage(err), "damaged") {
					t.Errorf("bytes %d-%d of %d blanked: %v", start, end, len(b), err)
				}
			})
		}
	}
}

// TestHollowPDFPageContent blanks single objects of Ghostscript's
// sample.pdf: without its page's content stream it is refused; without
// its XMP metadata and document information, which draw nothing, it is
// still faxed.
func TestHollowPDFPageContent(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "cmd", "faxbridge", "sample.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	at := func(header string) int {
		i := bytes.Index(b, []byte("\n"+header))
		if i < 0 {
			t.Fatalf("%q not in sample.pdf", header)
		}
		return i + 1
	}
	blank := func(from, to int) string {
		hollow := append([]byte(nil), b...)
		clear(hollow[from:to])
		p := filepath.Join(t.TempDir(), "hollow.pdf")
		if err := os.WriteFile(p, hollow, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Object 5 is the page's content, object 6 its length.
	_, err = Build(context.Background(), []Input{input(t, blank(at("5 0 obj"), at("6 0 obj")))}, Options{TempDir: t.TempDir()})
	if faxbridge.ErrorCode(err) != faxbridge.EBadContent || !strings.Contains(faxbridge.ErrorMessage(err), "damaged") {
		t.Errorf("without the page's content: %v", err)
	}
	// Objects 10 (metadata) and 2 (document information) end at the table.
	res, err := Build(context.Background(), []Input{input(t, blank(at("10 0 obj"), at("xref")))}, Options{TempDir: t.TempDir()})
	if err != nil || res.Pages != 1 {
		t.Errorf("without metadata: %+v, %v", res, err)
	}
}

// TestWrongOffsetsForgiven: cross-reference entries that miss their
// objects by a few bytes (a writer's slip) are forgiven when the object is
// found by its header, as viewers and pdfcpu forgive them; an entry for an
// object that is nowhere is not.
func TestWrongOffsetsForgiven(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.pdf")
	writePDF(t, src, 3, 0)
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// writePDF's entries are "%010d 00000 n"; move every one 3 bytes on.
	table := bytes.LastIndex(b, []byte("xref\n"))
	lines := strings.Split(string(b[table:]), "\n")
	for i, l := range lines {
		if f := strings.Fields(l); len(f) == 3 && f[2] == "n" {
			off, _ := strconv.Atoi(f[0])
			lines[i] = fmt.Sprintf("%010d %s n ", off+3, f[1])
		}
	}
	slipped := filepath.Join(dir, "slipped.pdf")
	os.WriteFile(slipped, append(append([]byte(nil), b[:table]...), strings.Join(lines, "\n")...), 0o600)
	if res, err := Build(context.Background(), []Input{input(t, slipped)}, Options{TempDir: dir}); err != nil || res.Pages != 3 {
		t.Errorf("slipped offsets: %+v, %v", res, err)
	}

	// Page 2's content (object 7) renamed away: its entry points nowhere.
	gone := bytes.Replace(b, []byte("\n7 0 obj"), []byte("\n% 0 obj"), 1)
	missing := filepath.Join(dir, "missing.pdf")
	os.WriteFile(missing, gone, 0o600)
	if _, err := Build(context.Background(), []Input{input(t, missing)}, Options{TempDir: dir}); faxbridge.ErrorCode(err) != faxbridge.EBadContent {
		t.Errorf("missing object: %v", err)
	}
}

func TestHostilePDFsRefusedAsTooComplex(t *testing.T) {
	dir := t.TempDir()
	want := `attachment "bomb.pdf": the PDF is too complex to fax; print it to a new PDF and send that`
	cases := []struct {
		name          string
		hostile, tame []byte // tame: the same construction within the limits
	}{
		{"4 million xref entries", pdftest.XRefBomb(4_000_000), pdftest.XRefBomb(1000)},
		{"xref entries just over the limit", pdftest.XRefBomb(maxPDFObjects + 1), pdftest.XRefBomb(maxPDFObjects)},
		{"nesting", pdftest.Nested(10_000), pdftest.Nested(maxPDFNesting - 2)},
		{"object stream decoding to 64 MB", pdftest.ObjectStreamBomb(64 << 20), pdftest.ObjectStreamBomb(1 << 20)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hostile, tame := filepath.Join(dir, "bomb.pdf"), filepath.Join(dir, "tame.pdf")
			os.WriteFile(hostile, tc.hostile, 0o600)
			os.WriteFile(tame, tc.tame, 0o600)
			if res, err := Build(context.Background(), []Input{input(t, tame)}, Options{TempDir: dir}); err != nil || res.Pages != 1 {
				t.Fatalf("the tame file: %+v, %v", res, err)
			} else {
				os.Remove(res.Path)
			}
			res, err := Build(context.Background(), []Input{input(t, hostile)}, Options{TempDir: dir})
			if res != nil || faxbridge.ErrorCode(err) != faxbridge.EBadContent || faxbridge.ErrorMessage(err) != want {
				t.Errorf("%d bytes: %+v, %v", len(tc.hostile), res, err)
			}
		})
	}
}

// TestLargePDFCheckedInLittleMemory: a single 37 MB PDF (a scan) is
// checked and passed through in well under the 16 MB a 50 MB message may
// add (pdfcpu held the whole file: 37 MB). The bytes allocated bound the
// heap's growth.
func TestLargePDFCheckedInLittleMemory(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "scan.pdf")
	writePDF(t, big, 1, 6080)
	in := input(t, big)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := Build(context.Background(), []Input{in}, Options{TempDir: dir})
	runtime.ReadMemStats(&after)
	if err != nil || res.Pages != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MB PDF: %d KB allocated", in.Size>>20, alloc>>10)
	if alloc > 4<<20 {
		t.Errorf("checking and copying a %d MB PDF allocated %d KB; the bound is 4 MB", in.Size>>20, alloc>>10)
	}
}

// TestMergeBoundsValues: a PDF within the limits of the check alone, but
// whose objects would cost pdfcpu hundreds of MB to merge (it loads every
// object), is refused as too complex when it must be merged, and faxed
// byte for byte when it is alone.
func TestMergeBoundsValues(t *testing.T) {
	dir := t.TempDir()
	hostile := filepath.Join(dir, "bomb.pdf")
	os.WriteFile(hostile, pdftest.ManyValues(maxPDFMergeValues/250+1, 250), 0o600)
	one := filepath.Join(dir, "one.pdf")
	writePDF(t, one, 1, 0)

	res, err := Build(context.Background(), []Input{input(t, hostile)}, Options{TempDir: dir})
	if err != nil || res.Pages != 1 {
		t.Fatalf("alone: %+v, %v", res, err)
	}
	os.Remove(res.Path)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err = Build(context.Background(), []Input{input(t, one), input(t, hostile)}, Options{TempDir: dir})
	runtime.ReadMemStats(&after)
	want := `attachment "bomb.pdf": the PDF is too complex to fax; print it to a new PDF and send that`
	if res != nil || faxbridge.ErrorMessage(err) != want {
		t.Errorf("merged: %+v, %v", res, err)
	}
	// pdfcpu took 1.2 GB for a 36 MB file of this kind.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("refusing it allocated %d MB; the bound is 32 MB", alloc>>20)
	}

	// A cover page makes a merge too.
	res, err = Build(context.Background(), []Input{input(t, hostile)}, Options{TempDir: dir, Cover: &CoverInfo{From: "a@example.com", Subject: "s"}})
	if res != nil || faxbridge.ErrorMessage(err) != want {
		t.Errorf("with a cover: %+v, %v", res, err)
	}
}

// TestUnreadConstructsLeftToPdfcpu: a valid file using what the check does
// not read (an object stream coded ASCIIHexDecode) is judged by pdfcpu.
func TestUnreadConstructsLeftToPdfcpu(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hex.pdf")
	os.WriteFile(path, pdftest.HexObjectStream(), 0o600)
	if _, err := checkPDF(path); !errors.Is(err, errPDFUnsupported) {
		t.Fatalf("checkPDF: %v, want errPDFUnsupported", err)
	}
	res, err := Build(context.Background(), []Input{input(t, path)}, Options{TempDir: dir})
	if err != nil || res.Pages != 1 {
		t.Errorf("%+v, %v", res, err)
	}
}

// TestWrongStartxrefForgiven: a startxref that misses the newest section
// by a few bytes is forgiven, for a classic table and for a cross-reference
// stream, as viewers forgive it.
func TestWrongStartxrefForgiven(t *testing.T) {
	dir := t.TempDir()
	for path, pages := range realPDFs(t, dir) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			i := bytes.LastIndex(b, []byte("startxref")) + len("startxref")
			f := strings.Fields(string(b[i:]))
			off, err := strconv.Atoi(f[0])
			if err != nil {
				t.Fatal(err)
			}
			j := i + bytes.Index(b[i:], []byte(f[0]))
			moved := append(append(append([]byte(nil), b[:j]...), strconv.Itoa(off+7)...), b[j+len(f[0]):]...)
			p := filepath.Join(t.TempDir(), "moved.pdf")
			os.WriteFile(p, moved, 0o600)
			info, err := checkPDF(p)
			if err != nil || info.pages != pages {
				t.Errorf("startxref %d instead of %d: %+v, %v", off+7, off, info, err)
			}
		})
	}
}
