package document

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
)

// picture is what the header of one image page says, before any pixel is
// decoded.
type picture struct {
	w, h       int     // stored pixels
	xdpi, ydpi float64 // 0 when the file does not say
	orient     int     // EXIF/TIFF orientation, 1 (upright) to 8

	compression, t4 uint32 // TIFF only: Compression and T4Options

	// TIFF Group 3 pages only, which are decoded here rather than by
	// pdfcpu (see fax.go): the bit order, whether white is one, and
	// where the coded rows are.
	lsb, blackIsZero bool
	rowsPerStrip     int
	strips           []strip
}

// strip is one independently coded run of rows of a TIFF page.
type strip struct{ off, n int64 }

// Probe failures, told apart so that Build can say what the sender can do.
var (
	errUnreadable  = errors.New("not a readable image")
	errUnsupported = errors.New("unsupported image encoding")
)

// maxTIFFPages bounds the walk of a TIFF's page chain: far more pages than
// any fax, few enough that a hostile file cannot keep us counting.
const maxTIFFPages = 10000

// sniff names the kind of a file from its first bytes: "pdf", "tiff",
// "jpeg", "png", or "" for anything else. A PDF may have junk before its
// header (viewers allow 1024 bytes of it).
func sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "tiff"
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.Contains(head[:min(len(head), 1024)], []byte("%PDF-")):
		return "pdf"
	}
	return ""
}

// sniffFile reads the head of path for sniff.
func sniffFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 1024)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	return sniff(head[:n]), nil
}

// probe reads the headers of the image at path: one picture per page. It
// decodes no pixels, so it is cheap enough to count pages and check limits
// before any conversion, and to judge logos.
func probe(path, kind string) ([]picture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch kind {
	case "tiff":
		return tiffPages(f, st.Size())
	case "jpeg":
		return jpegHeader(f)
	case "png":
		return pngHeader(f)
	}
	return nil, fmt.Errorf("%w: kind %q", errUnsupported, kind)
}

func jpegHeader(f *os.File) ([]picture, error) {
	c, err := jpeg.DecodeConfig(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnreadable, err)
	}
	p := picture{w: c.Width, h: c.Height, orient: 1}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	// The metadata segments come before the frame header; a damaged one
	// only costs the resolution or orientation, never the image.
	_ = jpegMeta(bufio.NewReader(f), &p)
	return []picture{p}, nil
}

// jpegMeta reads the JFIF density and the EXIF orientation and resolution
// from the segments before the first frame.
func jpegMeta(r *bufio.Reader, p *picture) error {
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil {
		return err
	}
	jfif := false
	var exifRes picture
	for {
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		if b != 0xff {
			return errors.New("jpeg: marker expected")
		}
		m, err := r.ReadByte()
		for err == nil && m == 0xff { // fill bytes
			m, err = r.ReadByte()
		}
		if err != nil {
			return err
		}
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc || m == 0xda || m == 0xd9 {
			break // frame, scan or end: no more metadata
		}
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(l[:])) - 2
		if n < 0 {
			return errors.New("jpeg: bad segment length")
		}
		switch m {
		case 0xe0, 0xe1:
			seg := make([]byte, n)
			if _, err := io.ReadFull(r, seg); err != nil {
				return err
			}
			if m == 0xe0 && len(seg) >= 12 && string(seg[:5]) == "JFIF\x00" {
				x, y := float64(binary.BigEndian.Uint16(seg[8:])), float64(binary.BigEndian.Uint16(seg[10:]))
				switch seg[7] {
				case 1:
					p.xdpi, p.ydpi, jfif = x, y, true
				case 2:
					p.xdpi, p.ydpi, jfif = x*2.54, y*2.54, true
				}
			}
			if m == 0xe1 && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00" {
				t := bytes.NewReader(seg[6:])
				if ps, err := tiffWalk(t, int64(t.Len()), 1); err == nil && len(ps) == 1 {
					exifRes = ps[0]
					p.orient = ps[0].orient
				}
			}
		default:
			if _, err := r.Discard(n); err != nil {
				return err
			}
		}
	}
	if !jfif {
		p.xdpi, p.ydpi = exifRes.xdpi, exifRes.ydpi
	}
	return nil
}

func pngHeader(f *os.File) ([]picture, error) {
	c, err := png.DecodeConfig(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnreadable, err)
	}
	p := picture{w: c.Width, h: c.Height, orient: 1}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	_ = pngMeta(bufio.NewReader(f), &p)
	return []picture{p}, nil
}

// pngMeta reads the pHYs chunk, which PNG allows only before the image data.
func pngMeta(r *bufio.Reader, p *picture) error {
	if _, err := r.Discard(8); err != nil {
		return err
	}
	for {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(h[:4]))
		typ := string(h[4:])
		if typ == "IDAT" || typ == "IEND" || n < 0 {
			return nil
		}
		if typ == "pHYs" && n == 9 {
			var d [9]byte
			if _, err := io.ReadFull(r, d[:]); err != nil {
				return err
			}
			if d[8] == 1 { // per metre
				p.xdpi = float64(binary.BigEndian.Uint32(d[0:])) * 0.0254
				p.ydpi = float64(binary.BigEndian.Uint32(d[4:])) * 0.0254
			}
			return nil
		}
		if _, err := r.Discard(n + 4); err != nil { // data and CRC
			return err
		}
	}
}

// tiffPages walks the page chain of a TIFF file.
func tiffPages(r io.ReaderAt, size int64) ([]picture, error) {
	ps, err := tiffWalk(r, size, maxTIFFPages)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: no pages", errUnreadable)
	}
	for _, p := range ps {
		switch p.compression {
		case 1, 2, 4, 5, 6, 7, 8, 32773, 32946: // what pdfcpu's TIFF decoder reads
		case 3:
			// Decoded by faxPage, not pdfcpu, whose decoder trips over the
			// fill bits that libtiff and ImageMagick write. The CCITT
			// decoder underneath (golang.org/x/image/ccitt) reads
			// one-dimensional coding only.
			if p.t4&1 != 0 {
				return nil, fmt.Errorf("%w: CCITT Group 3 2-D", errUnsupported)
			}
			if len(p.strips) == 0 {
				return nil, fmt.Errorf("%w: tiff page without strips", errUnreadable)
			}
		default:
			return nil, fmt.Errorf("%w: tiff compression %d", errUnsupported, p.compression)
		}
		if p.w <= 0 || p.h <= 0 {
			return nil, fmt.Errorf("%w: tiff page of %dx%d pixels", errUnreadable, p.w, p.h)
		}
	}
	return ps, nil
}

// TIFF tags and field types used here.
const (
	tagWidth        = 256
	tagHeight       = 257
	tagCompression  = 259
	tagPhotometric  = 262
	tagFillOrder    = 266
	tagStripOffs    = 273
	tagOrientation  = 274
	tagRowsPerStrip = 278
	tagStripCounts  = 279
	tagXRes         = 282
	tagYRes         = 283
	tagT4Options    = 292
	tagResUnit      = 296

	typeShort    = 3
	typeLong     = 4
	typeRational = 5
)

// tiffWalk reads up to limit image directories (pages) of a TIFF structure,
// the format of TIFF files and of EXIF blocks. pdfcpu follows the same
// chain without guarding against loops, so a loop is refused here, before
// pdfcpu sees the file.
func tiffWalk(r io.ReaderAt, size int64, limit int) ([]picture, error) {
	var hdr [8]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("%w: tiff header: %v", errUnreadable, err)
	}
	var bo binary.ByteOrder
	switch string(hdr[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: tiff header", errUnreadable)
	}
	off := int64(bo.Uint32(hdr[4:]))
	seen := map[int64]bool{}
	var ps []picture
	for off != 0 && off < size {
		if seen[off] {
			return nil, fmt.Errorf("%w: tiff page chain loops", errUnreadable)
		}
		if len(ps) == limit {
			if limit == maxTIFFPages {
				return nil, fmt.Errorf("%w: more than %d tiff pages", errUnreadable, limit)
			}
			break
		}
		seen[off] = true
		p, next, err := tiffDir(r, size, bo, off)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
		off = next
	}
	return ps, nil
}

// tiffDir reads one image directory at off.
func tiffDir(r io.ReaderAt, size int64, bo binary.ByteOrder, off int64) (picture, int64, error) {
	bad := func(what string) error { return fmt.Errorf("%w: tiff directory at %d: %s", errUnreadable, off, what) }
	var cnt [2]byte
	if _, err := r.ReadAt(cnt[:], off); err != nil {
		return picture{}, 0, bad("truncated")
	}
	n := int64(bo.Uint16(cnt[:]))
	if off+2+n*12+4 > size {
		return picture{}, 0, bad("truncated")
	}
	buf := make([]byte, n*12+4)
	if _, err := r.ReadAt(buf, off+2); err != nil {
		return picture{}, 0, bad("truncated")
	}
	p := picture{orient: 1}
	unit := uint32(2)       // inches, the TIFF default
	p.compression = 1       // absent means uncompressed, as decoders read it
	var offs, counts []byte // the StripOffsets and StripByteCounts entries
	for i := range n {
		e := buf[i*12 : i*12+12]
		tag, typ, count := bo.Uint16(e), bo.Uint16(e[2:]), bo.Uint32(e[4:])
		val := func() uint32 { // first value of a SHORT or LONG field
			if typ == typeShort {
				return uint32(bo.Uint16(e[8:]))
			}
			return bo.Uint32(e[8:])
		}
		rational := func() float64 {
			if typ != typeRational || count < 1 {
				return 0
			}
			var v [8]byte
			if _, err := r.ReadAt(v[:], int64(bo.Uint32(e[8:]))); err != nil {
				return 0
			}
			num, den := bo.Uint32(v[:]), bo.Uint32(v[4:])
			if den == 0 {
				return 0
			}
			return float64(num) / float64(den)
		}
		if typ != typeShort && typ != typeLong && typ != typeRational {
			continue
		}
		switch tag {
		case tagWidth:
			p.w = int(val())
		case tagHeight:
			p.h = int(val())
		case tagCompression:
			p.compression = val()
		case tagOrientation:
			p.orient = int(val())
		case tagXRes:
			p.xdpi = rational()
		case tagYRes:
			p.ydpi = rational()
		case tagResUnit:
			unit = val()
		case tagT4Options:
			p.t4 = val()
		case tagPhotometric:
			p.blackIsZero = val() == 1
		case tagFillOrder:
			p.lsb = val() == 2
		case tagRowsPerStrip:
			p.rowsPerStrip = int(val())
		case tagStripOffs:
			offs = e
		case tagStripCounts:
			counts = e
		}
	}
	if p.compression == 3 && offs != nil && counts != nil {
		// Only the pages decoded here need their strips; other pages may
		// have many thousands.
		o, err1 := tiffValues(r, size, bo, offs)
		n, err2 := tiffValues(r, size, bo, counts)
		if err1 != nil || err2 != nil || len(o) != len(n) {
			return picture{}, 0, bad("strips")
		}
		for i := range o {
			s := strip{int64(o[i]), int64(n[i])}
			if s.off+s.n > size {
				return picture{}, 0, bad("strip beyond the end of the file")
			}
			p.strips = append(p.strips, s)
		}
	}
	if p.rowsPerStrip <= 0 || p.rowsPerStrip > p.h {
		p.rowsPerStrip = p.h // absent means one strip for the page
	}
	switch unit {
	case 3: // centimetres
		p.xdpi, p.ydpi = p.xdpi*2.54, p.ydpi*2.54
	case 2:
	default:
		// No absolute unit: the values give the pixel aspect ratio only.
		if p.xdpi > 0 && p.ydpi > 0 {
			p.xdpi, p.ydpi = 72, 72*p.ydpi/p.xdpi
		}
	}
	if p.orient < 1 || p.orient > 8 {
		p.orient = 1
	}
	return p, int64(bo.Uint32(buf[n*12:])), nil
}

// tiffValues reads the SHORT or LONG values of the directory entry e,
// which are in the entry itself when they fit in four bytes.
func tiffValues(r io.ReaderAt, size int64, bo binary.ByteOrder, e []byte) ([]uint32, error) {
	typ, count := bo.Uint16(e[2:]), int64(bo.Uint32(e[4:]))
	width := int64(4)
	if typ == typeShort {
		width = 2
	} else if typ != typeLong {
		return nil, errors.New("tiff: strip field type")
	}
	raw := e[8:12]
	if count*width > 4 {
		off := int64(bo.Uint32(e[8:]))
		if count > size || off+count*width > size { // bounds the allocation too
			return nil, errors.New("tiff: field beyond the end of the file")
		}
		raw = make([]byte, count*width)
		if _, err := r.ReadAt(raw, off); err != nil {
			return nil, err
		}
	}
	v := make([]uint32, count)
	for i := range v {
		if width == 2 {
			v[i] = uint32(bo.Uint16(raw[i*2:]))
		} else {
			v[i] = bo.Uint32(raw[i*4:])
		}
	}
	return v, nil
}

// dpi returns the picture's resolution if it is plausible for a scan or a
// print, and whether it is known.
func (p picture) dpi() (x, y float64, ok bool) {
	plausible := func(v float64) bool { return v >= 20 && v <= 4800 && !math.IsNaN(v) }
	if plausible(p.xdpi) && plausible(p.ydpi) {
		return p.xdpi, p.ydpi, true
	}
	return 72, 72, false
}
