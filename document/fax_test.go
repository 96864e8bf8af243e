package document

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"image"
	"os"
	"path/filepath"
	"testing"

	faxbridge "github.com/faxbridge/faxbridge"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Group 3 rows of 1728 pixels with fill bits, each ending in an
// end-of-line that ends on a byte boundary, as libtiff writes them.
var (
	g3Start = []byte{0x00, 0x01} // fill and the end-of-line before the first row
	// White 1728.
	g3Blank = mustHex("4d9a8001")
	// White 64, black 1600, white 64 (as ImageMagick codes it).
	g3Bar = mustHex("d9a816c37d9a8001")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// g3Fax is one page for writeG3.
type g3Fax struct {
	h, rowsPerStrip  int
	bar              [2]int // rows [from, to) drawn as the bar
	lsb, blackIsZero bool
}

// writeG3 writes a big-endian TIFF of 1728-pixel Group 3 pages at
// 204x196 dpi, coded with fill bits.
func writeG3(t testing.TB, path string, pages []g3Fax) {
	t.Helper()
	be := binary.BigEndian
	b := []byte("MM\x00*\x00\x00\x00\x00")
	prevNext := 4
	for _, p := range pages {
		var offs, counts []uint32
		for from := 0; from < p.h; from += p.rowsPerStrip {
			s := append([]byte{}, g3Start...)
			for y := from; y < min(from+p.rowsPerStrip, p.h); y++ {
				if y >= p.bar[0] && y < p.bar[1] {
					s = append(s, g3Bar...)
				} else {
					s = append(s, g3Blank...)
				}
			}
			if p.lsb {
				for i := range s {
					s[i] = reverse(s[i])
				}
			}
			offs, counts = append(offs, uint32(len(b))), append(counts, uint32(len(s)))
			b = append(b, s...)
		}
		if len(b)%2 == 1 {
			b = append(b, 0)
		}
		// The strip arrays, then the resolution rationals.
		offsAt := len(b)
		for _, o := range offs {
			b = be.AppendUint32(b, o)
		}
		countsAt := len(b)
		for _, c := range counts {
			b = be.AppendUint32(b, c)
		}
		resAt := len(b)
		b = be.AppendUint32(be.AppendUint32(b, 204), 1)
		b = be.AppendUint32(be.AppendUint32(b, 196), 1)
		fill, photo := uint32(1), uint32(0)
		if p.lsb {
			fill = 2
		}
		if p.blackIsZero {
			photo = 1
		}
		type entry struct {
			tag, typ uint16
			count    uint32
			val      uint32
		}
		n := uint32(len(offs))
		es := []entry{
			{256, typeShort, 1, 1728}, {257, typeLong, 1, uint32(p.h)}, {258, typeShort, 1, 1},
			{259, typeShort, 1, 3}, {262, typeShort, 1, photo}, {266, typeShort, 1, fill},
			{273, typeLong, n, uint32(offsAt)}, {277, typeShort, 1, 1}, {278, typeLong, 1, uint32(p.rowsPerStrip)},
			{279, typeLong, n, uint32(countsAt)}, {282, typeRational, 1, uint32(resAt)},
			{283, typeRational, 1, uint32(resAt + 8)}, {292, typeLong, 1, 4}, {296, typeShort, 1, 2},
		}
		if n == 1 { // a single value is in the entry itself
			es[6].val, es[9].val = offs[0], counts[0]
		}
		be.PutUint32(b[prevNext:], uint32(len(b)))
		b = be.AppendUint16(b, uint16(len(es)))
		for _, e := range es {
			b = be.AppendUint16(b, e.tag)
			b = be.AppendUint16(b, e.typ)
			b = be.AppendUint32(b, e.count)
			if e.typ == typeShort {
				b = be.AppendUint16(b, uint16(e.val))
				b = append(b, 0, 0)
			} else {
				b = be.AppendUint32(b, e.val)
			}
		}
		prevNext = len(b)
		b = append(b, 0, 0, 0, 0)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// darkRows returns the rows of img with any black pixel, as [from, to)
// ranges.
func darkRows(img *image.Gray) [][2]int {
	var out [][2]int
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		dark := bytes.IndexByte(img.Pix[y*img.Stride:y*img.Stride+r.Dx()], 0) >= 0
		switch {
		case dark && len(out) > 0 && out[len(out)-1][1] == y:
			out[len(out)-1][1] = y + 1
		case dark:
			out = append(out, [2]int{y, y + 1})
		}
	}
	return out
}

// decodeFax decodes every page of a Group 3 TIFF as Build does.
func decodeFax(t testing.TB, path string) []*image.Gray {
	t.Helper()
	pics, err := probe(path, "tiff")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*image.Gray
	for _, p := range pics {
		img, err := faxPage(f, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, img)
	}
	return out
}

func TestBuildGroup3(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name  string
		pages []g3Fax
		dark  [][][2]int // per page
	}{
		{"one page", []g3Fax{{h: 2200, rowsPerStrip: 2200, bar: [2]int{100, 400}}}, [][][2]int{{{100, 400}}}},
		{"pages and strips", []g3Fax{
			{h: 2200, rowsPerStrip: 1000, bar: [2]int{900, 1100}},
			{h: 1100, rowsPerStrip: 7, bar: [2]int{0, 3}},
		}, [][][2]int{{{900, 1100}}, {{0, 3}}}},
		{"lsb first", []g3Fax{{h: 2200, rowsPerStrip: 2200, bar: [2]int{5, 6}, lsb: true}}, [][][2]int{{{5, 6}}}},
		// BlackIsZero shows the coded white runs black.
		{"black is zero", []g3Fax{{h: 2200, rowsPerStrip: 2200, bar: [2]int{0, 2200}, blackIsZero: true}}, [][][2]int{{{0, 2200}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tc.name+".tif")
			writeG3(t, path, tc.pages)
			imgs := decodeFax(t, path)
			if len(imgs) != len(tc.dark) {
				t.Fatalf("%d pages, want %d", len(imgs), len(tc.dark))
			}
			for i, img := range imgs {
				if got := darkRows(img); !equalRanges(got, tc.dark[i]) {
					t.Errorf("page %d: dark rows %v, want %v", i+1, got, tc.dark[i])
				}
				// The bar leaves 64 white pixels each side; BlackIsZero
				// turns the row over.
				margin, bar := byte(0xff), byte(0)
				if tc.pages[i].blackIsZero {
					margin, bar = bar, margin
				}
				y := tc.dark[i][0][0]
				row := img.Pix[y*img.Stride:]
				if row[63] != margin || row[64] != bar || row[1663] != bar || row[1664] != margin {
					t.Errorf("page %d: bar row %d has the wrong edges", i+1, y)
				}
			}
			out := t.TempDir()
			res, err := Build(context.Background(), []Input{imageInput(t, path, "tiff")}, Options{TempDir: out})
			if err != nil {
				t.Fatal(err)
			}
			// 1728x2200 at 204x196 dpi is 8.47x11.22 in: one Letter page
			// each; the half-height page keeps its 2:1 physical shape,
			// landscape.
			want := []types.Dim{letterP}
			if len(tc.pages) == 2 {
				want = []types.Dim{letterP, letterL}
			}
			if got := pageDims(t, res.Path); !sameDims(got, want) || res.Pages != len(want) {
				t.Errorf("pages %v (%d), want %v", got, res.Pages, want)
			}
		})
	}
}

func equalRanges(a, b [][2]int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBuildGroup3Damaged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "cut.tif")
	writeG3(t, path, []g3Fax{{h: 2200, rowsPerStrip: 2200, bar: [2]int{10, 20}}})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Blank out the second half of the rows: the page then has too few.
	for i := 8 + len(g3Start) + 1100*len(g3Blank); i < 8+len(g3Start)+2200*len(g3Blank); i++ {
		b[i] = 0
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), []Input{imageInput(t, path, "tiff")}, Options{TempDir: dir})
	if want := `attachment "cut.tif" is not a readable image; export it again or send it as a PDF`; faxbridge.ErrorMessage(err) != want {
		t.Errorf("got %v", err)
	}
}

func TestFaxLines(t *testing.T) {
	cases := []struct {
		name string
		in   string // hex
		want [][2]int
	}{
		{"nothing", "", nil},
		{"only end-of-lines", "00100100", nil},
		{"row between end-of-lines", "0001" + "4d9a8001", [][2]int{{16, 36}}},
		// A row whose last code ends in zeros keeps them: white 63 is
		// 00110100, and here the end-of-line follows without fill.
		{"code ending in zeros", "0013400100", [][2]int{{12, 20}}},
		{"no end-of-line at the start", "4d9a8001", [][2]int{{0, 20}}},
	}
	for _, tc := range cases {
		if got := faxLines(mustHex(tc.in)); !equalRanges(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
