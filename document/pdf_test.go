package document

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// countWriter tracks offsets for the xref table.
type countWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countWriter) printf(format string, a ...any) {
	n, _ := fmt.Fprintf(c.w, format, a...)
	c.n += int64(n)
}

// writePDF writes a PDF 1.4 with the given pages, each showing its number.
// With imgSide > 0 the first page also shows an uncompressed imgSide x
// imgSide grey image, which is how a scanned page makes a large file.
func writePDF(t testing.TB, path string, pages, imgSide int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := &countWriter{w: bufio.NewWriter(f)}
	var offsets []int64
	obj := func(body string) {
		offsets = append(offsets, w.n)
		w.printf("%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	imgObj := 4 + 2*pages
	w.printf("%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	kids := make([]string, pages)
	for i := range kids {
		kids[i] = fmt.Sprintf("%d 0 R", 4+2*i)
	}
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), pages))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	for i := range pages {
		res := "<< /Font << /F1 3 0 R >> >>"
		content := fmt.Sprintf("BT /F1 24 Tf 72 720 Td (Page %d) Tj ET", i+1)
		if i == 0 && imgSide > 0 {
			res = fmt.Sprintf("<< /Font << /F1 3 0 R >> /XObject << /Im0 %d 0 R >> >>", imgObj)
			content += " q 500 0 0 500 50 100 cm /Im0 Do Q"
		}
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources %s /Contents %d 0 R >>", res, 5+2*i))
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	}
	if imgSide > 0 {
		offsets = append(offsets, w.n)
		size := imgSide * imgSide
		w.printf("%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d >>\nstream\n", len(offsets), imgSide, imgSide, size)
		row := make([]byte, imgSide)
		x := uint32(1)
		for range imgSide {
			for i := range row {
				x = x*1664525 + 1013904223
				row[i] = byte(x >> 24)
			}
			n, _ := w.w.Write(row)
			w.n += int64(n)
		}
		w.printf("\nendstream\nendobj\n")
	}
	xref := w.n
	w.printf("xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		w.printf("%010d 00000 n \n", o)
	}
	w.printf("trailer\n<< /Size %d /Root 1 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	if err := w.w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// encryptPDF writes an AES-256 encrypted copy of src.
func encryptPDF(t testing.TB, src, dst, userPW, ownerPW string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	conf := config(model.ENCRYPT)
	conf.UserPW, conf.OwnerPW = userPW, ownerPW
	if err := api.Encrypt(in, out, conf); err != nil {
		t.Fatalf("encrypt: %v", err)
	}
}

// input describes a file on disk as mailparse would.
func input(t testing.TB, path string) Input {
	t.Helper()
	n, sum, err := hashFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Input{Name: filepath.Base(path), Kind: "pdf", Path: path, Size: n, SHA256: sum}
}

func truncate(t testing.TB, src, dst string, keep func(n int) int) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b[:keep(len(b))], 0o600); err != nil {
		t.Fatal(err)
	}
}
