package bench

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// writePDF writes a one-page Letter PDF showing a square grey image of about
// size bytes of random pixels. Random pixels defeat compression, so the file
// is as large as a scan of that size, and pdfcpu has a real image stream to
// read when it validates the document.
func writePDF(w io.Writer, size int, seed uint64) error {
	side := max(16, int(math.Sqrt(float64(size))))
	bw := bufio.NewWriter(w)
	var off []int
	n := 0
	put := func(format string, args ...any) {
		c, _ := fmt.Fprintf(bw, format, args...)
		n += c
	}
	obj := func(body string) {
		off = append(off, n)
		put("%d 0 obj\n%s\nendobj\n", len(off), body)
	}
	put("%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>")

	off = append(off, n)
	put("4 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d >>\nstream\n", side, side, side*side)
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)}))
	row := make([]byte, side)
	for range side {
		for i := 0; i < side; i += 8 {
			v := rng.Uint64()
			for j := i; j < min(i+8, side); j++ {
				row[j] = byte(v)
				v >>= 8
			}
		}
		c, _ := bw.Write(row)
		n += c
	}
	put("\nendstream\nendobj\n")

	content := "q 468 0 0 468 72 180 cm /Im0 Do Q\n"
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(content), content))

	xref := n
	put("xref\n0 %d\n0000000000 65535 f \n", len(off)+1)
	for _, o := range off {
		put("%010d 00000 n \n", o)
	}
	put("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(off)+1, xref)
	return bw.Flush()
}

// writeMessage writes a fax mail as a scanner or a mail client sends it: a
// short text part and the PDF as a base64 attachment in 76-column lines,
// with CRLF line endings.
func writeMessage(w io.Writer, pdf []byte) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "From: Bench Sender <%s>\r\nTo: %s\r\nSubject: benchmark fax\r\n"+
		"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench-%d@example.org>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=-bench\"\r\n\r\n"+
		"--=-bench\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease fax the attached document.\r\n\r\n"+
		"--=-bench\r\nContent-Type: application/pdf; name=\"doc.pdf\"\r\n"+
		"Content-Disposition: attachment; filename=\"doc.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		sender, faxRcpt, len(pdf))
	line := make([]byte, base64.StdEncoding.EncodedLen(57))
	for len(pdf) > 0 {
		k := min(57, len(pdf)) // 57 bytes encode to one 76-column line
		m := base64.StdEncoding.EncodedLen(k)
		base64.StdEncoding.Encode(line, pdf[:k])
		bw.Write(line[:m])
		bw.WriteString("\r\n")
		pdf = pdf[k:]
	}
	bw.WriteString("--=-bench--\r\n")
	return bw.Flush()
}

// messageFile writes a message carrying a PDF of about pdfSize bytes into
// dir and returns its path and size. The message is read from disk by the
// client, so its bytes are in the page cache, not in the process's heap.
func messageFile(tb testing.TB, dir string, pdfSize int) (string, int64) {
	tb.Helper()
	var pdf bytes.Buffer
	if err := writePDF(&pdf, pdfSize, uint64(pdfSize)); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("msg-%d.eml", pdfSize))
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := writeMessage(f, pdf.Bytes()); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return path, fi.Size()
}

// pdfSizeFor returns the PDF size that makes a message of about msgSize
// bytes: base64 adds a third, and CRLF every 76 columns 2/76 more.
func pdfSizeFor(msgSize int) int {
	return int(float64(msgSize) / (4.0 / 3.0 * 78.0 / 76.0))
}
