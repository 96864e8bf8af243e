package document

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// The structural check: a PDF is faxable when its cross-reference data
// leads to its catalog, its page tree, and everything that draws each page
// (content streams, resources, fonts, images, annotation appearances), and
// each of those objects is where the file says and each stream ends where
// its length says. A file cut short fails this: its last cross-reference
// section is gone, or the objects it lists lie beyond the end.
//
// The check reads the file from disk object by object. Stream data is
// skipped (only cross-reference and object streams are decoded, within
// limits.go's bounds), so a 40 MB scan costs kilobytes of memory, where
// pdfcpu, which loads every stream, would hold the whole file. pdfcpu is
// still used where a document must be rewritten (merge, decryption) and
// to judge encrypted files and constructs this reader leaves out.

// pdfInfo is what the check learns.
type pdfInfo struct {
	pages     int
	encrypted bool // the trailer names an /Encrypt dictionary
}

// xrefEntry locates one object.
type xrefEntry struct {
	off  int64 // xrefInFile: byte offset; xrefInStream: the stream's object number
	idx  int32 // xrefInStream: index in the object stream
	gen  uint16
	kind uint8
}

// Kinds of xrefEntry. Sections are read newest first, so an entry already
// set (even as free) wins over older ones.
const (
	xrefUnset uint8 = iota
	xrefInFile
	xrefInStream
	xrefFree
)

// pdfStream is a stream object: its dictionary and where its data starts.
type pdfStream struct {
	dict  pdfDict
	start int64
}

// objStm is a decoded object stream.
type objStm struct {
	data  []byte
	first int64
	nums  []int   // object numbers, in order
	offs  []int64 // their offsets after first
}

type pdfFile struct {
	r       io.ReaderAt
	size    int64
	base    int64 // bytes before %PDF-: some writers count offsets from there
	lex     lexer
	xref    []xrefEntry
	trailer pdfDict
	stms    map[int]*objStm
	cached  int   // bytes of data in stms
	decoded int64 // bytes decoded so far, for maxPDFDecodedTotal
	// values counts the values of the objects read (checkMergeable).
	values int
	// found maps object numbers to the offset of their last "N G obj"
	// header in the file; built by scanObjects, once, for files whose
	// cross-reference offsets are wrong.
	found map[int]int64
}

// checkPDF runs the structural check on the file at path. Its errors wrap
// errDamaged, errTooComplex or errPDFUnsupported, or are I/O errors.
func checkPDF(path string) (pdfInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return pdfInfo{}, err
	}
	defer f.Close()
	p, err := openPDF(f)
	if err != nil {
		return pdfInfo{}, err
	}
	return p.check()
}

// openPDF reads the header and the cross-reference data of f.
func openPDF(f *os.File) (*pdfFile, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	p := &pdfFile{r: f, size: st.Size(), stms: map[int]*objStm{}}
	head := make([]byte, min(p.size, 1024))
	if _, err := p.r.ReadAt(head, 0); err != nil && err != io.EOF {
		return nil, err
	}
	i := bytes.Index(head, []byte("%PDF-"))
	if i < 0 {
		return nil, damagedf("no %%PDF- header")
	}
	p.base = int64(i)
	start, err := p.startxref()
	if err != nil {
		return nil, err
	}
	err = p.readXrefChain(start)
	if errors.Is(err, errDamaged) && p.trailer == nil {
		// The newest section is not where startxref says. Writers that
		// miscount (a byte-order mark, converted line ends) still leave
		// their sections in the file; viewers look for them, and so do
		// we: the first, from the end, whose trailer names a catalog.
		for _, alt := range p.findXrefs(start) {
			p.xref, p.trailer = nil, nil
			if p.readXrefChain(alt) == nil && p.trailer["Root"] != nil {
				return p, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// maxXrefCandidates bounds the sections tried when startxref is wrong.
const maxXrefCandidates = 16

// findXrefs lists where cross-reference sections may start, newest
// first: classic tables from the end of the file, then objects that are
// cross-reference streams.
func (p *pdfFile) findXrefs(wrong int64) []int64 {
	var offs []int64
	end := p.size
	for len(offs) < maxXrefCandidates {
		off, err := p.findLast([]byte("xref"), end, func(at int64) bool {
			var before [6]byte
			if at < 1 {
				return false
			}
			n, _ := p.r.ReadAt(before[:min(at, 6)], max(at-6, 0))
			b := before[:n]
			// "startxref" is not a table; a table starts a line.
			return n > 0 && (b[n-1] == '\n' || b[n-1] == '\r') && !bytes.HasSuffix(b, []byte("start"))
		})
		if err != nil || off < 0 {
			break
		}
		if off != wrong {
			offs = append(offs, off)
		}
		end = off
	}
	if p.scanObjects() != nil {
		return offs
	}
	var streams []int64
	for num, off := range p.found {
		if off == wrong {
			continue
		}
		if _, s, err := p.objectAt(off, num); err == nil && s != nil && s.dict["Type"] == pdfName("XRef") {
			streams = append(streams, off)
		}
	}
	slices.Sort(streams)
	slices.Reverse(streams)
	return append(offs, streams[:min(len(streams), maxXrefCandidates)]...)
}

// findLast returns the offset of the last pat before end for which ok
// holds, or -1.
func (p *pdfFile) findLast(pat []byte, end int64, ok func(at int64) bool) (int64, error) {
	buf := make([]byte, 64<<10)
	for end > 0 {
		start := max(end-int64(len(buf)), 0)
		n, err := p.r.ReadAt(buf[:end-start], start)
		if err != nil && err != io.EOF {
			return -1, err
		}
		chunk := buf[:n]
		for i := len(chunk); ; {
			j := bytes.LastIndex(chunk[:i], pat)
			if j < 0 {
				break
			}
			if ok(start + int64(j)) {
				return start + int64(j), nil
			}
			i = j
		}
		if start == 0 {
			break
		}
		end = start + int64(len(pat)) - 1 // overlap: pat may span two reads
	}
	return -1, nil
}

func (p *pdfFile) check() (pdfInfo, error) {
	var err error
	info := pdfInfo{}
	if _, ok := p.trailer["Encrypt"]; ok {
		// Strings and streams, object streams included, are encrypted:
		// the limits above held for the cross-reference data, and pdfcpu
		// judges the rest (and the password).
		info.encrypted = true
		return info, nil
	}
	info.pages, err = p.walkPages()
	return info, err
}

// startxref finds the offset of the last cross-reference section, which
// the file's last lines give. A file cut short has lost them.
func (p *pdfFile) startxref() (int64, error) {
	n := min(p.size, 4096)
	tail := make([]byte, n)
	if _, err := p.r.ReadAt(tail, p.size-n); err != nil && err != io.EOF {
		return 0, err
	}
	i := bytes.LastIndex(tail, []byte("startxref"))
	if i < 0 {
		return 0, damagedf("no startxref at the end: the file is cut short")
	}
	rest := tail[i+len("startxref"):]
	for _, kw := range []string{"obj", "xref", "trailer"} {
		// An incremental update cut short before its own startxref: the
		// one found is the previous revision's, which is not what was sent.
		if bytes.Contains(rest, []byte(kw)) {
			return 0, damagedf("an update after the last startxref: the file is cut short")
		}
	}
	var l lexer
	l.reset(bytes.NewReader(rest), 0)
	t, err := l.token()
	off, ok := t.(int64)
	if err != nil || !ok || off < 0 || off >= p.size {
		return 0, damagedf("startxref without a valid offset")
	}
	return off, nil
}

// readXrefChain reads the cross-reference sections from the newest, at
// off, through their /Prev links.
func (p *pdfFile) readXrefChain(off int64) error {
	seen := map[int64]bool{}
	for n := 0; ; n++ {
		if n == maxPDFSections {
			return complexf("more than %d cross-reference sections", maxPDFSections)
		}
		if seen[off] {
			return damagedf("cross-reference sections loop at %d", off)
		}
		seen[off] = true
		trailer, err := p.xrefSection(off)
		if err != nil {
			return err
		}
		if p.trailer == nil {
			p.trailer = trailer
		}
		if xs, ok := trailer["XRefStm"].(int64); ok && !seen[xs] {
			// A hybrid file: the stream lists what the table leaves to
			// PDF 1.5 readers (objects in object streams).
			seen[xs] = true
			if _, err := p.xrefSection(xs); err != nil {
				return err
			}
		}
		prev, ok := trailer["Prev"].(int64)
		if !ok {
			return nil
		}
		off = prev
	}
}

// xrefSection reads the table or stream at off and returns its trailer.
func (p *pdfFile) xrefSection(off int64) (pdfDict, error) {
	d, err := p.xrefSectionAt(off)
	if errors.Is(err, errDamaged) && p.base > 0 {
		// Offsets counted from the %PDF- header rather than the file's start.
		if d, err2 := p.xrefSectionAt(off + p.base); err2 == nil {
			return d, nil
		}
	}
	return d, err
}

func (p *pdfFile) xrefSectionAt(off int64) (pdfDict, error) {
	if off < 0 || off >= p.size {
		return nil, damagedf("cross-reference section at %d is beyond the end of the file", off)
	}
	p.lex.reset(io.NewSectionReader(p.r, off, p.size-off), off)
	t, err := p.lex.token()
	if err != nil {
		return nil, damagedf("no cross-reference section at %d", off)
	}
	if t == pdfKeyword("xref") {
		return p.xrefTable()
	}
	o, s, err := p.objectAt(off, -1)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, damagedf("no cross-reference section at %d (found %T)", off, o)
	}
	return s.dict, p.xrefStream(s)
}

// xrefTable reads a classic table, after its "xref" keyword.
func (p *pdfFile) xrefTable() (pdfDict, error) {
	for {
		t, err := p.lex.token()
		if err != nil {
			return nil, damagedf("cross-reference table cut short")
		}
		if t == pdfKeyword("trailer") {
			o, err := p.lex.object(0)
			if err != nil {
				return nil, err
			}
			d, ok := o.(pdfDict)
			if !ok {
				return nil, damagedf("trailer is not a dictionary")
			}
			if size, ok := d["Size"].(int64); ok && size > maxPDFObjects {
				return nil, complexf("%d objects (the limit is %d)", size, maxPDFObjects)
			}
			return d, nil
		}
		first, ok1 := t.(int64)
		t, err = p.lex.token()
		count, ok2 := t.(int64)
		if err != nil || !ok1 || !ok2 || first < 0 || count < 0 {
			return nil, damagedf("cross-reference subsection header")
		}
		if first+count > maxPDFObjects {
			return nil, complexf("object numbers up to %d (the limit is %d)", first+count, maxPDFObjects)
		}
		for num := first; num < first+count; num++ {
			var f [3]any
			for i := range f {
				if f[i], err = p.lex.token(); err != nil {
					return nil, damagedf("cross-reference table cut short")
				}
			}
			off, ok1 := f[0].(int64)
			gen, ok2 := f[1].(int64)
			if !ok1 || !ok2 || off < 0 || gen < 0 {
				return nil, damagedf("cross-reference entry for object %d", num)
			}
			// Writers put 65536 on free entries; the generation is not
			// needed to find an object.
			e := xrefEntry{off: off, gen: uint16(min(gen, 65535)), kind: xrefFree}
			switch f[2] {
			case pdfKeyword("n"):
				e.kind = xrefInFile
			case pdfKeyword("f"):
			default:
				return nil, damagedf("cross-reference entry for object %d", num)
			}
			p.setEntry(int(num), e)
		}
	}
}

func (p *pdfFile) setEntry(num int, e xrefEntry) {
	if num >= len(p.xref) {
		p.xref = append(p.xref, make([]xrefEntry, num+1-len(p.xref))...)
	}
	if p.xref[num].kind == xrefUnset {
		p.xref[num] = e
	}
}

// xrefStream reads the entries of a cross-reference stream (PDF 1.5).
func (p *pdfFile) xrefStream(s *pdfStream) error {
	d := s.dict
	if d["Type"] != pdfName("XRef") {
		return damagedf("cross-reference stream without /Type /XRef")
	}
	size, ok := d["Size"].(int64)
	if !ok || size < 0 {
		return damagedf("cross-reference stream without /Size")
	}
	if size > maxPDFObjects {
		return complexf("%d objects (the limit is %d)", size, maxPDFObjects)
	}
	wa, ok := d["W"].(pdfArray)
	if !ok || len(wa) != 3 {
		return damagedf("cross-reference stream /W")
	}
	var w [3]int
	for i, v := range wa {
		n, ok := v.(int64)
		if !ok || n < 0 || n > 8 {
			return damagedf("cross-reference stream /W")
		}
		w[i] = int(n)
	}
	index := pdfArray{int64(0), size}
	if a, ok := d["Index"].(pdfArray); ok {
		index = a
	}
	if len(index)%2 != 0 {
		return damagedf("cross-reference stream /Index")
	}
	total := int64(0)
	for i := 0; i < len(index); i += 2 {
		first, ok1 := index[i].(int64)
		count, ok2 := index[i+1].(int64)
		if !ok1 || !ok2 || first < 0 || count < 0 {
			return damagedf("cross-reference stream /Index")
		}
		if first+count > maxPDFObjects || total+count > maxPDFObjects {
			return complexf("object numbers up to %d (the limit is %d)", first+count, maxPDFObjects)
		}
		total += count
	}
	data, err := p.decode(s)
	if err != nil {
		return err
	}
	row := w[0] + w[1] + w[2]
	if row == 0 || int64(len(data)) < total*int64(row) {
		return damagedf("cross-reference stream holds %d bytes for %d entries", len(data), total)
	}
	field := func(b []byte) int64 {
		var v int64
		for _, c := range b {
			v = v<<8 | int64(c)
		}
		return v
	}
	pos := 0
	for i := 0; i < len(index); i += 2 {
		first, count := index[i].(int64), index[i+1].(int64)
		for num := first; num < first+count; num++ {
			r := data[pos : pos+row]
			pos += row
			typ := int64(1)
			if w[0] > 0 {
				typ = field(r[:w[0]])
			}
			f2, f3 := field(r[w[0]:w[0]+w[1]]), field(r[w[0]+w[1]:])
			var e xrefEntry
			switch typ {
			case 0:
				e.kind = xrefFree
			case 1:
				if f3 > 65535 {
					return damagedf("cross-reference entry for object %d", num)
				}
				e = xrefEntry{off: f2, gen: uint16(f3), kind: xrefInFile}
			case 2:
				if f2 >= maxPDFObjects || f3 >= maxPDFObjects {
					return damagedf("cross-reference entry for object %d", num)
				}
				e = xrefEntry{off: f2, idx: int32(f3), kind: xrefInStream}
			default:
				continue // reserved types are read as null
			}
			p.setEntry(int(num), e)
		}
	}
	return nil
}

// objectAt reads the object at off; num is the number it must carry, or -1
// for any. A stream object returns its stream, other objects their value.
func (p *pdfFile) objectAt(off int64, num int) (any, *pdfStream, error) {
	if off < 0 || off >= p.size {
		return nil, nil, damagedf("object %d at %d is beyond the end of the file", num, off)
	}
	l := &p.lex
	l.reset(io.NewSectionReader(p.r, off, p.size-off), off)
	t1, err1 := l.token()
	t2, err2 := l.token()
	t3, err3 := l.token()
	n, ok1 := t1.(int64)
	_, ok2 := t2.(int64)
	if err1 != nil || err2 != nil || err3 != nil || !ok1 || !ok2 || t3 != pdfKeyword("obj") || num >= 0 && n != int64(num) {
		return nil, nil, damagedf("object %d is not at offset %d", num, off)
	}
	o, err := l.object(0)
	p.values += l.items
	if err != nil {
		if errors.Is(err, errTooComplex) {
			return nil, nil, err
		}
		return nil, nil, damagedf("object %d: %v", num, err)
	}
	d, isDict := o.(pdfDict)
	if !isDict {
		return o, nil, nil
	}
	t, err := l.token()
	if err != nil || t != pdfKeyword("stream") {
		return o, nil, nil // endobj, or the end of a damaged object after a whole value
	}
	// The data starts after the end of line that follows the keyword.
	b, err := l.readByte()
	if err == nil && b == '\r' {
		if b, err = l.readByte(); err == nil && b != '\n' {
			l.unreadByte()
		}
	} else if err == nil && b != '\n' {
		l.unreadByte()
	}
	return nil, &pdfStream{dict: d, start: l.pos}, nil
}

// object reads object num: nil when the cross-reference data lists it as
// free or not at all (a reference to it reads as null, says the format),
// an error when it is listed but cannot be read.
func (p *pdfFile) object(num int) (any, *pdfStream, error) {
	if num < 0 || num >= len(p.xref) {
		return nil, nil, nil
	}
	e := p.xref[num]
	switch e.kind {
	case xrefInFile:
		o, s, err := p.objectAt(e.off, num)
		if !errors.Is(err, errDamaged) {
			return o, s, err
		}
		if p.base > 0 {
			if o, s, err2 := p.objectAt(e.off+p.base, num); err2 == nil {
				return o, s, nil
			}
		}
		// A wrong offset (a writer's slip, or line ends converted in
		// transit): viewers look for the object by its header, and so do
		// we. An object that is nowhere in the file stays an error.
		if err2 := p.scanObjects(); err2 != nil {
			return nil, nil, err2
		}
		if off, ok := p.found[num]; ok && off != e.off {
			return p.objectAt(off, num)
		}
		return o, s, err
	case xrefInStream:
		o, err := p.streamedObject(num, int(e.off), int(e.idx))
		return o, nil, err
	}
	return nil, nil, nil
}

// resolve follows a reference to its value (nil for a stream: the check
// never needs a stream's dictionary where a value is expected).
func (p *pdfFile) resolve(v any) (any, error) {
	for range 8 { // a chain of objects that are only references
		r, ok := v.(pdfRef)
		if !ok {
			return v, nil
		}
		o, s, err := p.object(r.num)
		if err != nil {
			return nil, err
		}
		if s != nil {
			return s.dict, nil
		}
		v = o
	}
	return nil, damagedf("references that only refer on")
}

// streamLength returns the length of the stream's data, checking that the
// data is in the file and ends with "endstream". A wrong /Length is
// forgiven, as viewers forgive it, when "endstream" is found further on.
func (p *pdfFile) streamLength(s *pdfStream) (int64, error) {
	lv, err := p.resolve(s.dict["Length"])
	if err != nil {
		return 0, err
	}
	if n, ok := lv.(int64); ok && n >= 0 && s.start+n <= p.size {
		var tail [32]byte
		k, _ := p.r.ReadAt(tail[:], s.start+n)
		if bytes.HasPrefix(bytes.TrimLeft(tail[:k], " \r\n\t\f\x00"), []byte("endstream")) {
			return n, nil
		}
	}
	end, err := p.find(s.start, []byte("endstream"))
	if err != nil {
		return 0, err
	}
	if end < 0 {
		return 0, damagedf("stream at %d has no end: the file is cut short", s.start)
	}
	n := end - s.start
	var eol [2]byte // the end of line before the keyword is not data
	if n >= 2 {
		if _, err := p.r.ReadAt(eol[:], end-2); err == nil {
			switch {
			case eol == [2]byte{'\r', '\n'}:
				n -= 2
			case eol[1] == '\n' || eol[1] == '\r':
				n--
			}
		}
	}
	return n, nil
}

// find returns the offset of the first pat at or after off, or -1.
func (p *pdfFile) find(off int64, pat []byte) (int64, error) {
	buf := make([]byte, 64<<10)
	for off < p.size {
		n, err := p.r.ReadAt(buf, off)
		if n == 0 && err != nil {
			if err == io.EOF {
				break
			}
			return 0, err
		}
		if i := bytes.Index(buf[:n], pat); i >= 0 {
			return off + int64(i), nil
		}
		if off+int64(n) >= p.size {
			break
		}
		off += int64(n - len(pat) + 1) // overlap: pat may span two reads
	}
	return -1, nil
}

// decode returns the decoded data of a cross-reference or object stream.
func (p *pdfFile) decode(s *pdfStream) ([]byte, error) {
	n, err := p.streamLength(s)
	if err != nil {
		return nil, err
	}
	raw := io.NewSectionReader(p.r, s.start, n)
	filter, parms := s.dict["Filter"], s.dict["DecodeParms"]
	if a, ok := filter.(pdfArray); ok && len(a) == 1 {
		filter = a[0]
		if pa, ok := parms.(pdfArray); ok && len(pa) == 1 {
			parms = pa[0]
		}
	}
	var data []byte
	switch filter {
	case nil:
		if n > maxPDFDecoded {
			return nil, complexf("a stream of %d bytes", n)
		}
		data = make([]byte, n)
		if _, err := io.ReadFull(raw, data); err != nil {
			return nil, err
		}
	case pdfName("FlateDecode"), pdfName("Fl"):
		zr, err := zlib.NewReader(raw)
		if err != nil {
			return nil, damagedf("compressed stream at %d: %v", s.start, err)
		}
		data, err = io.ReadAll(io.LimitReader(zr, maxPDFDecoded+1))
		if err != nil && !errors.Is(err, zlib.ErrChecksum) {
			return nil, damagedf("compressed stream at %d: %v", s.start, err)
		}
		if len(data) > maxPDFDecoded {
			return nil, complexf("a stream that decodes to more than %d bytes", maxPDFDecoded)
		}
	default:
		return nil, fmt.Errorf("%w: filter %v", errPDFUnsupported, filter)
	}
	if p.decoded += int64(len(data)); p.decoded > maxPDFDecodedTotal {
		return nil, complexf("streams that decode to more than %d bytes", maxPDFDecodedTotal)
	}
	if d, ok := parms.(pdfDict); ok {
		return unpredict(data, d)
	}
	return data, nil
}

// unpredict undoes a PNG predictor, which cross-reference streams use.
func unpredict(data []byte, parms pdfDict) ([]byte, error) {
	pred, _ := parms["Predictor"].(int64)
	if pred <= 1 {
		return data, nil
	}
	if pred < 10 {
		return nil, fmt.Errorf("%w: predictor %d", errPDFUnsupported, pred)
	}
	cols := int64(1)
	if c, ok := parms["Columns"].(int64); ok {
		cols = c
	}
	for _, k := range []pdfName{"Colors", "BitsPerComponent"} {
		if v, ok := parms[k].(int64); ok && v != 1 && !(k == "BitsPerComponent" && v == 8) {
			return nil, fmt.Errorf("%w: predictor with /%s %d", errPDFUnsupported, k, v)
		}
	}
	if cols < 1 || cols > maxPDFDecoded {
		return nil, damagedf("predictor /Columns %d", cols)
	}
	w := int(cols)
	out := make([]byte, 0, len(data)/(w+1)*w)
	prev := make([]byte, w)
	for len(data) >= w+1 {
		typ, row := data[0], data[1:w+1]
		data = data[w+1:]
		cur := make([]byte, w)
		for i := range w {
			var left, upLeft byte
			if i > 0 {
				left, upLeft = cur[i-1], prev[i-1]
			}
			up := prev[i]
			switch typ {
			case 0:
				cur[i] = row[i]
			case 1:
				cur[i] = row[i] + left
			case 2:
				cur[i] = row[i] + up
			case 3:
				cur[i] = row[i] + byte((int(left)+int(up))/2)
			case 4:
				cur[i] = row[i] + paeth(left, up, upLeft)
			default:
				return nil, damagedf("predictor row type %d", typ)
			}
		}
		out = append(out, cur...)
		prev = cur
	}
	return out, nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// streamedObject reads object num, the idx-th of object stream stmNum.
func (p *pdfFile) streamedObject(num, stmNum, idx int) (any, error) {
	stm, err := p.objectStream(stmNum)
	if err != nil {
		return nil, err
	}
	i := idx
	if i < 0 || i >= len(stm.nums) || stm.nums[i] != num {
		i = -1
		for j, n := range stm.nums {
			if n == num {
				i = j
				break
			}
		}
		if i < 0 {
			return nil, damagedf("object %d is not in object stream %d", num, stmNum)
		}
	}
	start := stm.first + stm.offs[i]
	if start < 0 || start >= int64(len(stm.data)) {
		return nil, damagedf("object %d lies beyond object stream %d", num, stmNum)
	}
	var l lexer
	l.reset(bytes.NewReader(stm.data[start:]), 0)
	o, err := l.object(0)
	p.values += l.items
	if err != nil {
		if errors.Is(err, errTooComplex) {
			return nil, err
		}
		return nil, damagedf("object %d in object stream %d: %v", num, stmNum, err)
	}
	return o, nil
}

func (p *pdfFile) objectStream(num int) (*objStm, error) {
	if stm, ok := p.stms[num]; ok {
		return stm, nil
	}
	if num < 0 || num >= len(p.xref) || p.xref[num].kind != xrefInFile {
		return nil, damagedf("object stream %d is missing", num)
	}
	_, s, err := p.object(num)
	if err != nil {
		return nil, err
	}
	if s == nil || s.dict["Type"] != pdfName("ObjStm") {
		return nil, damagedf("object %d is not an object stream", num)
	}
	n, ok1 := s.dict["N"].(int64)
	first, ok2 := s.dict["First"].(int64)
	if !ok1 || !ok2 || n < 0 || first < 0 {
		return nil, damagedf("object stream %d without /N or /First", num)
	}
	if n > maxPDFObjects {
		return nil, complexf("an object stream of %d objects", n)
	}
	data, err := p.decode(s)
	if err != nil {
		return nil, err
	}
	if first > int64(len(data)) {
		return nil, damagedf("object stream %d: /First beyond its data", num)
	}
	stm := &objStm{data: data, first: first, nums: make([]int, 0, n), offs: make([]int64, 0, n)}
	var l lexer
	l.reset(bytes.NewReader(data[:first]), 0)
	for range n {
		t1, err1 := l.token()
		t2, err2 := l.token()
		on, ok1 := t1.(int64)
		off, ok2 := t2.(int64)
		if err1 != nil || err2 != nil || !ok1 || !ok2 || on < 0 || on > maxRefNumber {
			return nil, damagedf("object stream %d: header", num)
		}
		stm.nums = append(stm.nums, int(on))
		stm.offs = append(stm.offs, off)
	}
	if p.cached+len(data) > maxPDFStreamCache {
		clear(p.stms)
		p.cached = 0
	}
	p.stms[num] = stm
	p.cached += len(data)
	return stm, nil
}

// walkPages counts the pages of the page tree and checks that everything
// drawing them can be read.
func (p *pdfFile) walkPages() (int, error) {
	rv, err := p.resolve(p.trailer["Root"])
	if err != nil {
		return 0, err
	}
	root, ok := rv.(pdfDict)
	if !ok {
		return 0, damagedf("no document catalog")
	}
	seen := make([]bool, len(p.xref)) // objects already checked
	type node struct {
		ref       any
		resources any // inherited from the parent
		depth     int
	}
	stack := []node{{ref: root["Pages"]}}
	pages := 0
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if r, ok := n.ref.(pdfRef); ok {
			if r.num < len(seen) && seen[r.num] {
				return 0, damagedf("page tree loops at object %d", r.num)
			}
			if r.num < len(seen) {
				seen[r.num] = true
			}
		}
		v, err := p.resolve(n.ref)
		if err != nil {
			return 0, err
		}
		d, ok := v.(pdfDict)
		if !ok {
			return 0, damagedf("page tree node %v is missing", n.ref)
		}
		res := n.resources
		if r, ok := d["Resources"]; ok {
			res = r
		}
		if kids, ok := d["Kids"]; ok || d["Type"] == pdfName("Pages") {
			kv, err := p.resolve(kids)
			if err != nil {
				return 0, err
			}
			ka, _ := kv.(pdfArray)
			if n.depth >= maxPDFNesting {
				return 0, complexf("a page tree deeper than %d", maxPDFNesting)
			}
			for i := len(ka) - 1; i >= 0; i-- { // in page order
				stack = append(stack, node{ref: ka[i], resources: res, depth: n.depth + 1})
			}
			continue
		}
		pages++
		if pages > maxPDFObjects {
			return 0, complexf("more than %d pages", maxPDFObjects)
		}
		if err := p.checkPage(pages, d, res, seen); err != nil {
			return 0, err
		}
	}
	if pages == 0 {
		return 0, damagedf("no pages")
	}
	return pages, nil
}

// checkPage reads everything that draws a page: its content streams, and
// every object reachable from its resources and from its annotations'
// appearances.
func (p *pdfFile) checkPage(page int, d pdfDict, res any, seen []bool) error {
	var draw []any
	cv, err := p.resolve(d["Contents"])
	if err != nil {
		return fmt.Errorf("page %d: %w", page, err)
	}
	switch c := cv.(type) {
	case nil: // a blank page, or a single stream (resolve gives its dictionary)
		if _, ok := d["Contents"].(pdfRef); ok {
			draw = append(draw, d["Contents"])
		}
	case pdfDict:
		draw = append(draw, d["Contents"])
	case pdfArray:
		draw = append(draw, c...)
	}
	// A reference to a content stream must lead to one: null here would be
	// a page drawn without its text.
	for _, v := range draw {
		r, ok := v.(pdfRef)
		if !ok {
			continue
		}
		_, s, err := p.object(r.num)
		if err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		if s == nil {
			return damagedf("page %d: content object %d is missing", page, r.num)
		}
	}
	draw = append(draw, res)
	if av, err := p.resolve(d["Annots"]); err == nil {
		if annots, ok := av.(pdfArray); ok {
			for _, a := range annots {
				if ad, err := p.resolve(a); err == nil {
					if ad, ok := ad.(pdfDict); ok {
						draw = append(draw, ad["AP"])
					}
				}
			}
		}
	}
	return p.reach(draw, seen)
}

// reach reads every object reachable from vs, once per file: each must be
// readable, each stream complete. Back links (/Parent, /P) are not
// followed: they lead to the page tree or the structure tree, not to what
// the page draws.
func (p *pdfFile) reach(vs []any, seen []bool) error {
	stack := vs
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch v := v.(type) {
		case pdfRef:
			if v.num >= len(seen) || seen[v.num] {
				continue
			}
			seen[v.num] = true
			o, s, err := p.object(v.num)
			if err != nil {
				return err
			}
			if s != nil {
				if _, err := p.streamLength(s); err != nil {
					return err
				}
				o = s.dict
			}
			stack = append(stack, o)
		case pdfDict:
			for k, x := range v {
				switch k {
				case "Parent", "P", "StructParent", "StructParents":
					continue
				}
				stack = append(stack, x)
			}
		case pdfArray:
			stack = append(stack, v...)
		}
	}
	return nil
}

// scanObjects reads the whole file once for "N G obj" headers, recording
// the last offset of each object number (a later revision wins).
func (p *pdfFile) scanObjects() error {
	if p.found != nil {
		return nil
	}
	p.found = map[int]int64{}
	const overlap = 64 // longer than any header, so none is split unseen
	buf := make([]byte, 64<<10)
	for off := int64(0); off < p.size; {
		n, err := p.r.ReadAt(buf, off)
		if n == 0 && err != nil {
			if err == io.EOF {
				break
			}
			return err
		}
		chunk := buf[:n]
		last := off+int64(n) >= p.size
		for i := 0; ; {
			j := bytes.Index(chunk[i:], []byte("obj"))
			if j < 0 {
				break
			}
			at := i + j
			i = at + 3
			if !last && at > n-overlap {
				break // seen again in the next read, with what follows
			}
			if at+3 < n && !isSpace(chunk[at+3]) && !isDelim(chunk[at+3]) {
				continue // "objects", "endobj" is caught below
			}
			if num, start, ok := objHeader(chunk[:at]); ok {
				if len(p.found) >= maxPDFObjects {
					return complexf("more than %d objects", maxPDFObjects)
				}
				p.found[num] = off + int64(start)
			}
		}
		if last {
			break
		}
		off += int64(n - overlap)
	}
	return nil
}

// objHeader reads "num gen " backwards from the end of b, which precedes
// an "obj" keyword, and returns num and where it starts.
func objHeader(b []byte) (num, start int, ok bool) {
	i := len(b)
	digits := func() (int, bool) {
		end := i
		for i > 0 && b[i-1] >= '0' && b[i-1] <= '9' && end-i < 10 {
			i--
		}
		if i == end {
			return 0, false
		}
		v := 0
		for _, c := range b[i:end] {
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	spaces := func() bool {
		end := i
		for i > 0 && isSpace(b[i-1]) {
			i--
		}
		return i < end
	}
	if !spaces() {
		return 0, 0, false
	}
	if _, ok := digits(); !ok || !spaces() {
		return 0, 0, false
	}
	num, ok = digits()
	if !ok || num > maxRefNumber || i > 0 && !isSpace(b[i-1]) && !isDelim(b[i-1]) {
		return 0, 0, false
	}
	return num, i, true
}

// checkMergeable reads every object of a PDF that passed checkPDF and is
// about to be merged: pdfcpu, which merges, holds every object of every
// input in memory at about 60 bytes a value, where the file spends two
// (a 36 MB file of number arrays took it 1.2 GB). So the values of all
// objects, reachable or not, are counted against maxPDFMergeValues.
// Objects that cannot be read are left to pdfcpu to judge, as are the
// object streams of encrypted files.
func checkMergeable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := openPDF(f)
	if err != nil {
		return err
	}
	_, encrypted := p.trailer["Encrypt"]
	p.lex.shortArrays = true // object streams' own lexers keep theirs whole
	for num, e := range p.xref {
		if e.kind != xrefInFile && (e.kind != xrefInStream || encrypted) {
			continue
		}
		if _, _, err := p.object(num); errors.Is(err, errTooComplex) {
			return err
		}
		if p.values > maxPDFMergeValues {
			return complexf("more than %d values in all, to merge", maxPDFMergeValues)
		}
	}
	return nil
}
