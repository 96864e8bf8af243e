// Package pdftest writes hostile PDF files for tests: small files that
// declare or decode to far more than a fax needs. Each is otherwise a
// valid one-page PDF, so that only the limits can refuse it.
package pdftest

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"fmt"
	"strings"
)

// writer tracks object offsets for the cross-reference data.
type writer struct {
	b    bytes.Buffer
	offs []int // offs[i] is object i+1's
}

func (w *writer) obj(body string) int {
	w.offs = append(w.offs, w.b.Len())
	fmt.Fprintf(&w.b, "%d 0 obj\n%s\nendobj\n", len(w.offs), body)
	return len(w.offs)
}

func (w *writer) stream(dict string, data []byte) int {
	w.offs = append(w.offs, w.b.Len())
	fmt.Fprintf(&w.b, "%d 0 obj\n<< %s /Length %d >>\nstream\n", len(w.offs), dict, len(data))
	w.b.Write(data)
	w.b.WriteString("\nendstream\nendobj\n")
	return len(w.offs)
}

func deflate(data []byte) []byte {
	var b bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&b, zlib.BestCompression)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// page writes the catalog (object 1), the page tree (2), a page (3) with
// resources res, and its content (4).
func (w *writer) page(res string) {
	w.b.WriteString("%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
	w.obj("<< /Type /Catalog /Pages 2 0 R >>")
	w.obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	w.obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources " + res + " /Contents 4 0 R >>")
	w.stream("", []byte("BT /F1 24 Tf 72 720 Td (Bomb) Tj ET"))
}

// classicEnd writes a classic cross-reference table and trailer.
func (w *writer) classicEnd() []byte {
	xref := w.b.Len()
	fmt.Fprintf(&w.b, "xref\n0 %d\n0000000000 65535 f \n", len(w.offs)+1)
	for _, o := range w.offs {
		fmt.Fprintf(&w.b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&w.b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(w.offs)+1, xref)
	return w.b.Bytes()
}

// XRefBomb is a one-page PDF whose compressed cross-reference stream
// declares entries objects (all but the page's free). With 4,000,000 it
// is about 27 KB, like the file that took a daemon to 1.1 GB.
func XRefBomb(entries int) []byte {
	var w writer
	w.page("<< >>")
	xrefObj := len(w.offs) + 1
	xrefOff := w.b.Len()
	const width = 1 + 4 + 1 // type, offset, generation
	data := make([]byte, entries*width)
	for i, o := range append(append([]int(nil), w.offs...), xrefOff) {
		e := data[(i+1)*width:]
		e[0] = 1
		e[1], e[2], e[3], e[4] = byte(o>>24), byte(o>>16), byte(o>>8), byte(o)
	}
	z := deflate(data)
	w.offs = append(w.offs, xrefOff)
	fmt.Fprintf(&w.b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 1] /Root 1 0 R /Filter /FlateDecode /Length %d >>\nstream\n", xrefObj, entries, len(z))
	w.b.Write(z)
	fmt.Fprintf(&w.b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", xrefOff)
	return w.b.Bytes()
}

// Nested is a one-page PDF whose resources hold arrays depth deep.
func Nested(depth int) []byte {
	var w writer
	w.page("<< /X " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + " >>")
	return w.classicEnd()
}

// ObjectStreamBomb is a one-page PDF whose resources refer to an object
// in an object stream that decodes to decoded bytes (of spaces, compressed
// to a few KB per MB).
func ObjectStreamBomb(decoded int) []byte {
	return objectStreamPDF(decoded, "/FlateDecode", deflate)
}

// HexObjectStream is a valid one-page PDF whose resources are in an
// object stream coded with ASCIIHexDecode, a filter rarely used there.
func HexObjectStream() []byte {
	return objectStreamPDF(64, "/ASCIIHexDecode", func(b []byte) []byte {
		return []byte(hex.EncodeToString(b) + ">")
	})
}

func objectStreamPDF(decoded int, filter string, encode func([]byte) []byte) []byte {
	var w writer
	w.page("5 0 R")
	// Object 5 lives in object stream 6; its value comes after the padding.
	header := "5 0 "
	first := len(header)
	body := make([]byte, 0, decoded)
	body = append(body, header...)
	body = append(body, bytes.Repeat([]byte(" "), max(decoded-first-5, 0))...)
	body = append(body, "<< >>"...)
	w.offs = append(w.offs, 0) // object 5: in the stream, not at an offset
	stm := w.stream(fmt.Sprintf("/Type /ObjStm /N 1 /First %d /Filter %s", first, filter), encode(body))
	// A cross-reference stream, since only those can list streamed objects.
	xrefOff := w.b.Len()
	w.offs = append(w.offs, xrefOff)
	n := len(w.offs) + 1
	var data []byte
	data = append(data, 0, 0, 0, 0, 0, 0)
	for i, o := range w.offs {
		switch i + 1 {
		case 5:
			data = append(data, 2, 0, 0, 0, byte(stm), 0)
		default:
			data = append(data, 1, byte(o>>24), byte(o>>16), byte(o>>8), byte(o), 0)
		}
	}
	fmt.Fprintf(&w.b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 1] /Root 1 0 R /Length %d >>\nstream\n", n-1, n, len(data))
	w.b.Write(data)
	fmt.Fprintf(&w.b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", xrefOff)
	return w.b.Bytes()
}

// ManyValues is a one-page PDF with that many unreachable objects, each an
// array of perObject zeros: two bytes a value in the file, tens of bytes
// in a library that loads every object.
func ManyValues(objects, perObject int) []byte {
	var w writer
	w.page("<< >>")
	arr := "[" + strings.Repeat("0 ", perObject) + "]"
	for range objects {
		w.obj(arr)
	}
	return w.classicEnd()
}
