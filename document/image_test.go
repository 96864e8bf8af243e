package document

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	faxbridge "github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/internal/testenv"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Page sizes the tests expect, in points.
var (
	letterP = types.Dim{Width: 612, Height: 792}
	letterL = types.Dim{Width: 792, Height: 612}
	a4P     = types.Dim{Width: 595.28, Height: 841.89}
	a4L     = types.Dim{Width: 841.89, Height: 595.28}
	pdfA4   = types.Dim{Width: 595, Height: 842} // writePDF's pages
)

// testImage is a grey picture with a dark bar, so that it is not blank.
func testImage(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := h / 4; y < h/4+max(h/20, 1); y++ {
		for x := w / 8; x < w-w/8; x++ {
			img.SetGray(x, y, color.Gray{})
		}
	}
	return img
}

// writeJPEG writes a w×h JPEG. dpi > 0 adds a JFIF density; orient > 0
// adds an EXIF block with that orientation.
func writeJPEG(t testing.TB, path string, w, h, dpi, orient int) {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(w, h), &jpeg.Options{Quality: 60}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	var meta []byte
	if dpi > 0 {
		seg := []byte("JFIF\x00\x01\x01\x01")
		seg = binary.BigEndian.AppendUint16(seg, uint16(dpi))
		seg = binary.BigEndian.AppendUint16(seg, uint16(dpi))
		seg = append(seg, 0, 0)
		meta = append(meta, segment(0xe0, seg)...)
	}
	if orient > 0 {
		// A big-endian TIFF structure with one directory of one entry.
		exif := []byte("Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01")
		exif = binary.BigEndian.AppendUint16(exif, tagOrientation)
		exif = binary.BigEndian.AppendUint16(exif, typeShort)
		exif = binary.BigEndian.AppendUint32(exif, 1)
		exif = binary.BigEndian.AppendUint16(exif, uint16(orient))
		exif = append(exif, 0, 0, 0, 0, 0, 0)
		meta = append(meta, segment(0xe1, exif)...)
	}
	out := append(append(append([]byte{}, b[:2]...), meta...), b[2:]...)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func segment(marker byte, data []byte) []byte {
	s := []byte{0xff, marker}
	s = binary.BigEndian.AppendUint16(s, uint16(len(data)+2))
	return append(s, data...)
}

// writePNG writes a w×h PNG, with a pHYs chunk when dpi > 0.
func writePNG(t testing.TB, path string, w, h, dpi int) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(w, h)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if dpi > 0 {
		ppm := uint32(math.Round(float64(dpi) / 0.0254))
		var d []byte
		d = binary.BigEndian.AppendUint32(d, ppm)
		d = binary.BigEndian.AppendUint32(d, ppm)
		d = append(d, 1)
		chunk := binary.BigEndian.AppendUint32(nil, uint32(len(d)))
		body := append([]byte("pHYs"), d...)
		chunk = append(chunk, body...)
		chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(body))
		const ihdrEnd = 8 + 4 + 4 + 13 + 4
		b = append(append(append([]byte{}, b[:ihdrEnd]...), chunk...), b[ihdrEnd:]...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tiffPage is one page for writeTIFF.
type tiffPage struct {
	w, h       int
	xdpi, ydpi uint32 // 0: no resolution tags
	unit       uint16 // ResolutionUnit; 0 for inches
	g4         bool   // a blank bilevel page coded CCITT Group 4, else 8-bit grey
	g3twoD     bool   // claim Group 3 two-dimensional coding
	orient     uint16
}

// writeTIFF writes a little-endian TIFF. Go has no TIFF encoder for
// several pages or CCITT coding, so the test writes the structure itself.
// A blank Group 4 page is easy to code: each row that repeats the row
// above is the single bit 1 (vertical mode, offset 0).
func writeTIFF(t testing.TB, path string, pages []tiffPage, loop bool) {
	t.Helper()
	le := binary.LittleEndian
	b := []byte("II*\x00\x00\x00\x00\x00")
	firstIFD := 0
	prevNext := 4 // where the previous "next directory" offset goes
	for _, p := range pages {
		var data []byte
		switch {
		case p.g4 || p.g3twoD:
			data = bytes.Repeat([]byte{0xff}, (p.h+7)/8)
		default:
			data = testImage(p.w, p.h).Pix
		}
		dataOff := len(b)
		b = append(b, data...)
		if len(b)%2 == 1 {
			b = append(b, 0)
		}
		type entry struct {
			tag, typ uint16
			val      uint32
		}
		bps, comp, photo := uint16(8), uint16(1), uint16(1)
		if p.g4 {
			bps, comp, photo = 1, 4, 0
		}
		if p.g3twoD {
			bps, comp, photo = 1, 3, 0
		}
		es := []entry{
			{256, typeLong, uint32(p.w)}, {257, typeLong, uint32(p.h)},
			{258, typeShort, uint32(bps)}, {259, typeShort, uint32(comp)},
			{262, typeShort, uint32(photo)}, {273, typeLong, uint32(dataOff)},
		}
		if p.orient > 0 {
			es = append(es, entry{274, typeShort, uint32(p.orient)})
		}
		es = append(es, entry{277, typeShort, 1}, entry{278, typeLong, uint32(p.h)}, entry{279, typeLong, uint32(len(data))})
		ifd := len(b)
		n := len(es)
		if p.xdpi > 0 {
			n += 3
		}
		if p.g3twoD {
			n++
		}
		ratOff := ifd + 2 + n*12 + 4
		if p.xdpi > 0 {
			es = append(es, entry{282, typeRational, uint32(ratOff)}, entry{283, typeRational, uint32(ratOff + 8)})
		}
		if p.g3twoD {
			es = append(es, entry{292, typeLong, 1})
		}
		if p.xdpi > 0 {
			unit := p.unit
			if unit == 0 {
				unit = 2
			}
			es = append(es, entry{296, typeShort, uint32(unit)})
		}
		b = le.AppendUint16(b, uint16(len(es)))
		for _, e := range es {
			b = le.AppendUint16(b, e.tag)
			b = le.AppendUint16(b, e.typ)
			b = le.AppendUint32(b, 1)
			if e.typ == typeShort {
				b = le.AppendUint16(b, uint16(e.val))
				b = append(b, 0, 0)
			} else {
				b = le.AppendUint32(b, e.val)
			}
		}
		next := len(b)
		b = append(b, 0, 0, 0, 0)
		if p.xdpi > 0 {
			b = le.AppendUint32(b, p.xdpi)
			b = le.AppendUint32(b, 1)
			b = le.AppendUint32(b, p.ydpi)
			b = le.AppendUint32(b, 1)
		}
		le.PutUint32(b[prevNext:], uint32(ifd))
		if firstIFD == 0 {
			firstIFD = ifd
		}
		prevNext = next
	}
	if loop {
		le.PutUint32(b[prevNext:], uint32(firstIFD))
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// imageInput describes an image file as mailparse would.
func imageInput(t testing.TB, path, kind string) Input {
	in := input(t, path)
	in.Kind = kind
	return in
}

// pageDims reads the page sizes of a PDF with pdfcpu.
func pageDims(t testing.TB, path string) []types.Dim {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pc, err := api.ReadAndValidate(f, config(model.VALIDATE))
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	dims, err := pc.PageDims()
	if err != nil {
		t.Fatal(err)
	}
	return dims
}

// contents returns the content stream of each page of a PDF.
func contents(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	err = api.ExtractContent(f, nil, func(r io.Reader, page int) error {
		b, err := io.ReadAll(r)
		for len(out) < page {
			out = append(out, "")
		}
		out[page-1] = string(b)
		return err
	}, config(model.EXTRACTCONTENT))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameDims(got, want []types.Dim) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(got[i].Width-want[i].Width) > 0.01 || math.Abs(got[i].Height-want[i].Height) > 0.01 {
			return false
		}
	}
	return true
}

func TestBuildImages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	writeJPEG(t, path("scan150.jpg"), 1275, 1650, 150, 0) // 8.5 x 11 in
	writeJPEG(t, path("photo.jpg"), 800, 600, 0, 0)       // no density: 72 dpi
	writeJPEG(t, path("phone.jpg"), 600, 400, 0, 6)       // stored sideways
	writeJPEG(t, path("small.jpg"), 50, 50, 0, 0)
	writePNG(t, path("scan.png"), 827, 1170, 100)   // A4 at 100 dpi
	writePNG(t, path("screen.png"), 1200, 700, 0)   // landscape
	writePNG(t, path("receipt.png"), 300, 1500, 96) // tall, 15.6 in
	writeTIFF(t, path("multi.tif"), []tiffPage{
		{w: 170, h: 220, xdpi: 20, ydpi: 20},            // 8.5 x 11 in
		{w: 220, h: 170, xdpi: 20, ydpi: 20},            // landscape
		{w: 168, h: 238, xdpi: 8, ydpi: 8, unit: 3},     // dots per cm: 21 x 29.7 cm
		{w: 170, h: 220, xdpi: 20, ydpi: 20, orient: 8}, // turned: landscape
	}, false)
	writeTIFF(t, path("fax.tif"), []tiffPage{{w: 1728, h: 2200, xdpi: 200, ydpi: 200, g4: true}}, false)
	writeTIFF(t, path("fax-std.tif"), []tiffPage{
		{w: 1728, h: 1100, xdpi: 204, ydpi: 98, g4: true}, // standard resolution: 2:1 pixels
		{w: 1728, h: 2200, g4: true},                      // no resolution at all
	}, false)

	cases := []struct {
		file, kind, paper string
		want              []types.Dim
	}{
		{"scan150.jpg", "jpeg", "", []types.Dim{letterP}},
		{"scan150.jpg", "jpeg", "a4", []types.Dim{a4P}},
		{"photo.jpg", "jpeg", "", []types.Dim{letterL}},
		{"phone.jpg", "jpeg", "", []types.Dim{letterP}},
		{"small.jpg", "jpeg", "", []types.Dim{letterP}},
		{"scan.png", "png", "letter", []types.Dim{letterP}},
		{"screen.png", "png", "a4", []types.Dim{a4L}},
		{"receipt.png", "png", "", []types.Dim{letterP}},
		{"multi.tif", "tiff", "", []types.Dim{letterP, letterL, letterP, letterL}},
		{"fax.tif", "tiff", "", []types.Dim{letterP}},
		{"fax-std.tif", "tiff", "", []types.Dim{letterP, letterP}},
		{"scan150.jpg", "png", "", []types.Dim{letterP}}, // the bytes win over the label
	}
	for _, tc := range cases {
		t.Run(tc.file+"/"+tc.paper, func(t *testing.T) {
			out := t.TempDir()
			res, err := Build(context.Background(), []Input{imageInput(t, path(tc.file), tc.kind)}, Options{TempDir: out, Paper: tc.paper})
			if err != nil {
				t.Fatal(err)
			}
			if got := pageDims(t, res.Path); !sameDims(got, tc.want) {
				t.Errorf("pages %v, want %v", got, tc.want)
			}
			if res.Pages != len(tc.want) || len(res.Docs) != 1 || res.Docs[0].Pages != len(tc.want) {
				t.Errorf("Pages %d, Docs %+v", res.Pages, res.Docs)
			}
			if want := map[string]string{".jpg": "jpeg", ".png": "png", ".tif": "tiff"}[filepath.Ext(tc.file)]; res.Docs[0].Type != want {
				t.Errorf("Type %q, want %q", res.Docs[0].Type, want)
			}
			if n, sum, _ := hashFile(res.Path); n != res.Bytes || sum != res.SHA256 {
				t.Errorf("Bytes/SHA256 do not match the file")
			}
			if left, _ := os.ReadDir(out); len(left) != 1 {
				t.Errorf("TempDir holds %v, want only the result", left)
			}
		})
	}
}

// TestBuildImagePlacement checks what the pages draw, not only their size.
func TestBuildImagePlacement(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fax, phone := filepath.Join(dir, "fax.tif"), filepath.Join(dir, "phone.jpg")
	writeTIFF(t, fax, []tiffPage{{w: 1728, h: 2200, xdpi: 200, ydpi: 200, g4: true}}, false)
	writeJPEG(t, phone, 600, 400, 0, 6)
	for _, tc := range []struct {
		in   Input
		want string
	}{
		// 8.64 x 11 in shrunk to Letter's width, edge to edge.
		{imageInput(t, fax, "tiff"), "q 612.0000 0.0000 0.0000 779.1667 0.0000 6.4167 cm /Im0 Do Q"},
		// Stored 600x400, shown 400x600 points: drawn turned a quarter.
		{imageInput(t, phone, "jpeg"), "q 0.0000 -600.0000 400.0000 0.0000 106.0000 696.0000 cm /Im0 Do Q"},
	} {
		res, err := Build(context.Background(), []Input{tc.in}, Options{TempDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if got := contents(t, res.Path); len(got) != 1 || strings.TrimSpace(got[0]) != tc.want {
			t.Errorf("%s: content %q, want %q", tc.in.Name, got, tc.want)
		}
	}
}

func TestPlace(t *testing.T) {
	letter, _ := paper("letter")
	cases := []struct {
		name   string
		p      picture
		page   types.Dim
		dw, dh float64 // drawn size
		x, y   float64 // lower left of the drawn rectangle
	}{
		{"letter scan at 300 dpi", picture{w: 2550, h: 3300, xdpi: 300, ydpi: 300, orient: 1}, letterP, 612, 792, 0, 0},
		{"fax fine", picture{w: 1728, h: 2200, xdpi: 200, ydpi: 200, orient: 1}, letterP, 612, 779.1667, 0, 6.4167},
		{"half-page scan keeps its size", picture{w: 850, h: 550, xdpi: 100, ydpi: 100, orient: 1}, letterL, 612, 396, 90, 108},
		{"huge photo fits inside margins", picture{w: 4000, h: 3000, orient: 1}, letterL, 756, 567, 18, 22.5},
		{"small image is not enlarged", picture{w: 100, h: 50, orient: 1}, letterL, 100, 50, 346, 281},
		{"legal scan shrinks into margins", picture{w: 850, h: 1400, xdpi: 100, ydpi: 100, orient: 1}, letterP, 459, 756, 76.5, 18},
		{"implausible dpi is ignored", picture{w: 800, h: 600, xdpi: 1, ydpi: 1, orient: 1}, letterL, 756, 567, 18, 22.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			page, m := place(tc.p, letter)
			if !sameDims([]types.Dim{page}, []types.Dim{tc.page}) {
				t.Errorf("page %v, want %v", page, tc.page)
			}
			want := [6]float64{tc.dw, 0, 0, tc.dh, tc.x, tc.y}
			for i := range m {
				if math.Abs(m[i]-want[i]) > 0.01 {
					t.Errorf("matrix %v, want %v", m, want)
					break
				}
			}
		})
	}
	// Every orientation maps the unit square onto the same rectangle.
	for o := 1; o <= 8; o++ {
		m := orientMatrix(o, 10, 20, 300, 400)
		xs, ys := []float64{}, []float64{}
		for _, c := range [][2]float64{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
			xs = append(xs, m[0]*c[0]+m[2]*c[1]+m[4])
			ys = append(ys, m[1]*c[0]+m[3]*c[1]+m[5])
		}
		minX, maxX, minY, maxY := slicesMin(xs), slicesMax(xs), slicesMin(ys), slicesMax(ys)
		if minX != 10 || maxX != 310 || minY != 20 || maxY != 420 {
			t.Errorf("orientation %d covers x %v..%v y %v..%v", o, minX, maxX, minY, maxY)
		}
		// The stored top-left pixel (0,1) lands where EXIF says.
		want := map[int][2]float64{1: {10, 420}, 2: {310, 420}, 3: {310, 20}, 4: {10, 20}, 5: {10, 420}, 6: {310, 420}, 7: {310, 20}, 8: {10, 20}}[o]
		if got := [2]float64{m[2] + m[4], m[3] + m[5]}; got != want {
			t.Errorf("orientation %d puts the first pixel at %v, want %v", o, got, want)
		}
	}
}

func slicesMin(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func slicesMax(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func TestBuildMergeOrderWithImages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, img, b := filepath.Join(dir, "a.pdf"), filepath.Join(dir, "photo.jpg"), filepath.Join(dir, "b.pdf")
	writePDF(t, a, 1, 0)
	writeJPEG(t, img, 800, 600, 0, 0)
	writePDF(t, b, 2, 0)
	res, err := Build(context.Background(), []Input{input(t, a), imageInput(t, img, "jpeg"), input(t, b)}, Options{TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pageDims(t, res.Path), []types.Dim{pdfA4, letterL, pdfA4, pdfA4}; !sameDims(got, want) {
		t.Errorf("pages %v, want %v", got, want)
	}
	c := contents(t, res.Path)
	for i, want := range []string{"(Page 1)", "/Im0 Do", "(Page 1)", "(Page 2)"} {
		if i >= len(c) || !strings.Contains(c[i], want) {
			t.Errorf("page %d does not show %s", i+1, want)
		}
	}
	var types []string
	for _, d := range res.Docs {
		types = append(types, d.Type+":"+d.Name)
	}
	if got := strings.Join(types, " "); got != "pdf:a.pdf jpeg:photo.jpg pdf:b.pdf" || res.Pages != 4 {
		t.Errorf("Docs %s, Pages %d", got, res.Pages)
	}
	if res.Docs[1].SHA256 == "" || res.Docs[1].Bytes == 0 {
		t.Errorf("image document info %+v", res.Docs[1])
	}
}

func TestBuildImageRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	writeJPEG(t, path("whole.jpg"), 400, 300, 0, 0)
	truncate(t, path("whole.jpg"), path("x.jpg"), func(n int) int { return n / 2 })
	truncate(t, path("whole.jpg"), path("header.jpg"), func(int) int { return 20 })
	writePNG(t, path("whole.png"), 400, 300, 0)
	truncate(t, path("whole.png"), path("cut.png"), func(n int) int { return n * 2 / 3 })
	writeTIFF(t, path("loop.tif"), []tiffPage{{w: 20, h: 20}, {w: 20, h: 20}}, true)
	writeTIFF(t, path("g32d.tif"), []tiffPage{{w: 1728, h: 100, xdpi: 204, ydpi: 196, g3twoD: true}}, false)
	writeTIFF(t, path("pages.tif"), []tiffPage{{w: 20, h: 20}, {w: 20, h: 20}, {w: 20, h: 20}}, false)
	os.WriteFile(path("junk.tif"), []byte("II*\x00\xff\xff\xff\x7f junk"), 0o600)
	os.WriteFile(path("notes.docx"), []byte("PK\x03\x04 not a fax document"), 0o600)
	writeJPEG(t, path("big.jpg"), 1200, 1000, 0, 0)
	writePDF(t, path("one.pdf"), 1, 0)
	writeTIFF(t, path("fax.tif"), []tiffPage{{w: 1728, h: 2200, xdpi: 200, ydpi: 200, g4: true}}, false)

	in := func(name, kind string) Input { return imageInput(t, path(name), kind) }
	unreadable := func(name string) string {
		return `attachment "` + name + `" is not a readable image; export it again or send it as a PDF`
	}
	cases := []struct {
		name   string
		inputs []Input
		opt    Options
		code   faxbridge.Code
		msg    string
	}{
		{"truncated jpeg", []Input{in("x.jpg", "jpeg")}, Options{}, faxbridge.EBadContent, unreadable("x.jpg")},
		{"jpeg header only", []Input{in("header.jpg", "jpeg")}, Options{}, faxbridge.EBadContent, unreadable("header.jpg")},
		{"truncated png", []Input{in("cut.png", "png")}, Options{}, faxbridge.EBadContent, unreadable("cut.png")},
		{"tiff page loop", []Input{in("loop.tif", "tiff")}, Options{}, faxbridge.EBadContent, unreadable("loop.tif")},
		{"junk tiff", []Input{in("junk.tif", "tiff")}, Options{}, faxbridge.EBadContent, unreadable("junk.tif")},
		{"group 3 2-D", []Input{in("g32d.tif", "tiff")}, Options{}, faxbridge.EBadContent,
			`attachment "g32d.tif" is a TIFF image in a compression that cannot be converted; send it as a PDF or as a Group 4 fax TIFF`},
		{"not a document", []Input{in("notes.docx", "other")}, Options{}, faxbridge.EBadContent,
			`attachment "notes.docx" is not a PDF, TIFF, JPEG or PNG file; send it as a PDF`},
		{"tiff pages count", []Input{in("one.pdf", "pdf"), in("pages.tif", "tiff")}, Options{MaxPages: 3}, faxbridge.ETooLarge,
			"the documents have 4 pages; the limit is 3 pages per fax"},
		{"pixels", []Input{in("big.jpg", "jpeg")}, Options{MaxImagePixels: 1_000_000}, faxbridge.ETooLarge,
			`attachment "big.jpg" is an image of 1200×1000 pixels; the limit is 1 megapixels; send a smaller image or a PDF`},
		{"bytes sent", []Input{{Name: "a", Kind: "pdf", Path: path("one.pdf"), Size: 3 << 20}, {Name: "b", Kind: "pdf", Path: path("one.pdf"), Size: 2 << 20}},
			Options{MaxBytes: 4 << 20}, faxbridge.ETooLarge, "the documents are 5.0 MB; the limit is 4.0 MB per fax"},
		{"bytes made", []Input{in("fax.tif", "tiff")}, Options{MaxBytes: in("fax.tif", "").Size + 1000},
			faxbridge.ETooLarge, "the fax document is "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			tc.opt.TempDir = out
			res, err := Build(context.Background(), tc.inputs, tc.opt)
			if res != nil || faxbridge.ErrorCode(err) != tc.code || !strings.HasPrefix(faxbridge.ErrorMessage(err), tc.msg) {
				t.Errorf("got %+v, %v\nwant code %s: %s", res, err, tc.code, tc.msg)
			}
			if left, _ := os.ReadDir(out); len(left) != 0 {
				t.Errorf("files left in TempDir: %v", left)
			}
		})
	}
}

// TestBuildImageMagickFax converts fax TIFFs made by ImageMagick, the
// usual producer besides fax software: its convert program from PATH, or
// the one FAXBRIDGE_TEST_CONVERT names.
func TestBuildImageMagickFax(t *testing.T) {
	convert := testenv.Tool(t, "FAXBRIDGE_TEST_CONVERT", "convert")
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(convert, args...).CombinedOutput(); err != nil {
			t.Fatalf("convert %v: %v\n%s", args, err, out)
		}
	}
	page := []string{"-size", "1728x2200", "xc:white", "-fill", "black", "-draw", "rectangle 100,200 1600,400"}
	g4 := filepath.Join(dir, "g4.tif")
	run(append(page, "-density", "200", "-units", "PixelsPerInch", "-monochrome", "-compress", "Group4", g4)...)
	multi := filepath.Join(dir, "multi.tif")
	run(append(append(page, page...), "-density", "200", "-units", "PixelsPerInch", "-monochrome", "-compress", "Group4", multi)...)
	// Group 3 as ImageMagick writes it: one-dimensional, with fill bits,
	// at the fax fine resolution of 204x196 dpi.
	g3 := filepath.Join(dir, "g3.tif")
	run(append(page, "-density", "204x196", "-units", "PixelsPerInch", "-monochrome", "-compress", "Fax", g3)...)
	g3multi := filepath.Join(dir, "g3multi.tif")
	run(append(append(page, page...), "-density", "204x196", "-units", "PixelsPerInch", "-monochrome", "-compress", "Fax", g3multi)...)
	for _, path := range []string{g3, g3multi} {
		for i, img := range decodeFax(t, path) {
			if got, want := darkRows(img), [][2]int{{200, 401}}; !equalRanges(got, want) {
				t.Errorf("%s page %d: dark rows %v, want %v", filepath.Base(path), i+1, got, want)
			}
		}
	}
	for _, tc := range []struct {
		path  string
		pages int
	}{{g4, 1}, {multi, 2}, {g3, 1}, {g3multi, 2}} {
		res, err := Build(context.Background(), []Input{imageInput(t, tc.path, "tiff")}, Options{TempDir: dir})
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(tc.path), err)
			continue
		}
		want := make([]types.Dim, tc.pages)
		for i := range want {
			want[i] = letterP
		}
		if got := pageDims(t, res.Path); !sameDims(got, want) {
			t.Errorf("%s: pages %v, want %v", filepath.Base(tc.path), got, want)
		}
	}
}
