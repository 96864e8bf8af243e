package document

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"golang.org/x/image/ccitt"
)

// imageResources adds the pages of the image at path to pc's objects, one
// image each. pdfcpu decodes them, except for a TIFF with Group 3 fax
// pages, which pdfcpu cannot read: those are decoded here and handed to
// pdfcpu as PNG pictures, which it stores Flate-compressed.
func imageResources(pc *model.Context, path string, pics []picture) ([]model.ImageResource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	g3 := false
	for _, p := range pics {
		g3 = g3 || p.compression == 3
	}
	if !g3 {
		res, err := model.CreateImageResources(pc.XRefTable, bufio.NewReader(f), false, false)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errUnreadable, err)
		}
		return res, nil
	}
	var out []model.ImageResource
	for i, p := range pics {
		if p.compression != 3 {
			// pdfcpu reads a file's pages all or none; mixing fax coding
			// with other compressions in one file is not worth a TIFF
			// writer of our own.
			return nil, fmt.Errorf("%w: tiff mixes Group 3 pages with compression %d", errUnsupported, p.compression)
		}
		img, err := faxPage(f, p)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", i+1, err)
		}
		var buf bytes.Buffer
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(&buf, img); err != nil {
			return nil, err
		}
		res, err := model.CreateImageResources(pc.XRefTable, &buf, false, false)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errUnreadable, err)
		}
		out = append(out, res...)
	}
	return out, nil
}

// faxPage decodes a TIFF page coded CCITT Group 3, one-dimensionally, into
// grey pixels: white 0xff, black 0.
//
// x/image's decoder expects each end-of-line code right after the codes of
// a row, so it fails on the fill bits T.4 allows before each end-of-line
// (which libtiff and ImageMagick write). The strip is therefore cut into
// rows at the end-of-line codes and each row decoded on its own, where
// zeros after its last code are ignored.
func faxPage(r io.ReaderAt, p picture) (*image.Gray, error) {
	img := image.NewGray(image.Rect(0, 0, p.w, p.h))
	stride := (p.w + 7) / 8
	bits := make([]byte, stride)
	row := 0
	for _, s := range p.strips {
		if row >= p.h {
			break
		}
		want := min(p.rowsPerStrip, p.h-row)
		data := make([]byte, s.n)
		if _, err := r.ReadAt(data, s.off); err != nil {
			return nil, fmt.Errorf("%w: strip at %d: %v", errUnreadable, s.off, err)
		}
		if p.lsb {
			for i, b := range data {
				data[i] = reverse(b)
			}
		}
		lines := faxLines(data)
		if len(lines) < want {
			return nil, fmt.Errorf("%w: fax strip at %d has %d of %d rows", errUnreadable, s.off, len(lines), want)
		}
		for y, l := range lines[:want] {
			z := ccitt.NewReader(bytes.NewReader(withEOL(data, l)), ccitt.MSB, ccitt.Group3, p.w, 1, nil)
			if _, err := io.ReadFull(z, bits); err != nil {
				return nil, fmt.Errorf("%w: fax strip at %d, row %d: %v", errUnreadable, s.off, y+1, err)
			}
			// The decoder gives white runs as 1 bits. TIFF fax pages are
			// normally WhiteIsZero, which shows those runs white;
			// BlackIsZero shows them black.
			line := img.Pix[(row+y)*img.Stride:]
			for x := range p.w {
				white := bits[x/8]&(0x80>>(x%8)) != 0
				if white != p.blackIsZero {
					line[x] = 0xff
				}
			}
		}
		row += want
	}
	if row < p.h {
		return nil, fmt.Errorf("%w: fax page has %d of %d rows", errUnreadable, row, p.h)
	}
	return img, nil
}

// faxLines finds the rows of a Group 3 bit stream: the bit ranges
// [start, end) between end-of-line codes (eleven or more zeros and a one;
// the codes within a row never hold eleven zeros in a row). A range keeps
// the zeros before the next end-of-line but its last eleven, because the
// row's last code may end in zeros; the fill bits that come with them do
// no harm. Ranges without a one bit (between the end-of-lines of the
// closing return-to-control, or fill before the first) hold no row.
func faxLines(data []byte) [][2]int {
	var lines [][2]int
	start, zeros, ones := 0, 0, 0
	for i := range len(data) * 8 {
		if data[i/8]&(0x80>>(i%8)) == 0 {
			zeros++
			continue
		}
		if zeros >= 11 {
			if ones > 0 {
				lines = append(lines, [2]int{start, i - 11})
			}
			start, ones = i+1, 0
		} else {
			ones++
		}
		zeros = 0
	}
	if ones > 0 {
		lines = append(lines, [2]int{start, len(data) * 8})
	}
	return lines
}

// withEOL returns an end-of-line code followed by the bits l of data, a
// one-row stream for x/image's Group 3 decoder.
func withEOL(data []byte, l [2]int) []byte {
	n := 12 + l[1] - l[0]
	out := make([]byte, (n+7)/8)
	out[1] = 0x10 // 0000_0000_0001
	for i := l[0]; i < l[1]; i++ {
		if data[i/8]&(0x80>>(i%8)) != 0 {
			j := 12 + i - l[0]
			out[j/8] |= 0x80 >> (j % 8)
		}
	}
	return out
}

// reverse flips the bit order of a byte, for FillOrder 2 files.
func reverse(b byte) byte {
	b = b>>4 | b<<4
	b = b>>2&0x33 | b<<2&0xcc
	return b>>1&0x55 | b<<1&0xaa
}
