package main

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image/png"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge/config"
)

// blankPages is a message of n blank w×h pages, one PNG attachment each.
// The pages differ only in a text chunk naming the page, so that no two are
// the same document (a repeated one is faxed once). They are one bit a
// pixel and written directly, the pixels compressed once (image/png takes
// tens of seconds for nine 25-megapixel pages under the race detector): a
// 25-megapixel page is a few KB of mail.
func blankPages(t *testing.T, n, w, h int) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	row := bytes.Repeat([]byte{0xff}, 1+(w+7)/8) // white
	row[0] = 0                                   // filter type: none
	zw.Write(bytes.Repeat(row, h))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 1, 0, 0, 0, 0) // 1-bit greyscale, no interlace

	atts := make([]attachment, n)
	for i := range atts {
		var b bytes.Buffer
		b.WriteString("\x89PNG\r\n\x1a\n")
		chunk := func(typ string, data []byte) {
			binary.Write(&b, binary.BigEndian, uint32(len(data)))
			crc := crc32.NewIEEE()
			crc.Write([]byte(typ))
			crc.Write(data)
			b.WriteString(typ)
			b.Write(data)
			binary.Write(&b, binary.BigEndian, crc.Sum32())
		}
		chunk("IHDR", ihdr)
		chunk("tEXt", fmt.Appendf(nil, "Comment\x00page %d", i+1))
		chunk("IDAT", z.Bytes())
		chunk("IEND", nil)
		if _, err := png.DecodeConfig(bytes.NewReader(b.Bytes())); err != nil {
			t.Fatal(err)
		}
		atts[i] = attachment{fmt.Sprintf("page%d.png", i+1), "image/png", "", b.Bytes()}
	}
	return message("a@example.com", "scan", atts...)
}

// wantTooLarge wants the reply 552 5.3.4 with every phrase in its text.
func wantTooLarge(t *testing.T, err error, phrases ...string) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 552 || se.EnhancedCode != (smtp.EnhancedCode{5, 3, 4}) {
		t.Fatalf("got %v, want 552 5.3.4", err)
	}
	for _, p := range phrases {
		if !strings.Contains(se.Message, p) {
			t.Errorf("reply %q does not say %q", se.Message, p)
		}
	}
}

// TestMessagePixelLimitAtData: fax.max_message_pixels (200 megapixels by
// default) bounds the images of one message together, each of them within
// the per-image limit. Over SMTP, nine blank 25-megapixel pages (a few KB
// of mail, seconds of CPU to convert) are refused at DATA with 552 5.3.4
// and a reply that says how much there was, what the limit is and what to
// do; nothing is faxed. A message just under a configured limit is faxed,
// and one just over it is refused with a total that reads larger than the
// limit.
func TestMessagePixelLimitAtData(t *testing.T) {
	rcpt := []string{"15551234567@fax.example.com"}
	t.Run("default", func(t *testing.T) {
		h := newHarness(t, nil)
		if px := h.cfg.Fax.MaxMessagePixels; px != 0 && px != 200_000_000 {
			t.Fatalf("fax.max_message_pixels = %d in the test configuration; this test is of the default", px)
		}
		err := h.send("a@example.com", rcpt, blankPages(t, 9, 5000, 5000))
		wantTooLarge(t, err, "225 megapixels in all", "the limit is 200 megapixels per fax",
			"send fewer pages, scan at a lower resolution, or send a PDF")
		if n := len(h.sim.Creates()); n != 0 {
			t.Errorf("%d faxes sent over the pixel limit", n)
		}
	})
	t.Run("configured", func(t *testing.T) {
		h := newHarness(t, func(c *config.Config) { c.Fax.MaxMessagePixels = 4_000_000 })
		// 2 × 1000×2001 = 4,002,000 pixels: refused, and the reply does not
		// say "4 megapixels; the limit is 4 megapixels".
		err := h.send("a@example.com", rcpt, blankPages(t, 2, 1000, 2001))
		wantTooLarge(t, err, "4.1 megapixels in all", "the limit is 4 megapixels per fax")
		// 2 × 1000×1999 = 3,998,000 pixels: faxed, both pages.
		if err := h.send("a@example.com", rcpt, blankPages(t, 2, 1000, 1999)); err != nil {
			t.Fatalf("just under the limit: %v", err)
		}
		if j := h.waitReport().Job; j.Outcome != "delivered" || j.Pages != 2 {
			t.Errorf("just under the limit: outcome %q, %d pages; want delivered, 2", j.Outcome, j.Pages)
		}
		if n := len(h.sim.Creates()); n != 1 {
			t.Errorf("%d faxes sent, want the one under the limit", n)
		}
	})
}

// TestHTTPConnectionCap: the public HTTP listener serves at most
// http.max_connections (256 by default) connections at once. With 256
// keep-alive connections open, each of which was served, one more is
// connected (the kernel queues it) but its request is not answered; when
// one of the 256 closes, it is. Afterwards the daemon serves as before: a
// fax goes out, its document fetched and its callback taken over HTTP.
//
// The one wait without a condition is the check that the extra request is
// not answered: it can only miss a broken cap on a very slow machine,
// never fail a working one.
func TestHTTPConnectionCap(t *testing.T) {
	h := newHarness(t, nil)
	limit := h.cfg.HTTP.MaxConnections
	if limit != 256 {
		t.Fatalf("http.max_connections = %d; this test is of the default, 256", limit)
	}
	addr := strings.TrimPrefix(h.public, "http://")
	request := "GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	// get reads one response, all of it, so that the connection is idle
	// and kept alive.
	get := func(br *bufio.Reader) error {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 || string(body) != "ok\n" {
			return fmt.Errorf("status %d, body %q", resp.StatusCode, body)
		}
		return nil
	}
	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(time.Minute)) // against a hang, not a measure
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		return c, bufio.NewReader(c)
	}

	held := make([]net.Conn, limit)
	for i := range held {
		c, br := dial()
		if err := get(br); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, limit, err)
		}
		held[i] = c
	}

	extra, br := dial()
	extra.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := br.Peek(1); err == nil {
		t.Fatalf("connection %d was served while %d were open", limit+1, limit)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("connection %d: %v; want it to wait", limit+1, err)
	}

	held[0].Close()
	extra.SetReadDeadline(time.Now().Add(time.Minute))
	if err := get(br); err != nil {
		t.Fatalf("connection %d after one closed: %v", limit+1, err)
	}

	for _, c := range held[1:] {
		c.Close()
	}
	extra.Close()
	msg := message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	if j := h.waitReport().Job; j.Outcome != "delivered" || j.Polls != 0 {
		t.Errorf("after the flood: outcome %q after %d polls; want delivered by callback", j.Outcome, j.Polls)
	}
}

// TestDocumentBytesLimitAtData: fax.max_document_bytes bounds the
// documents of one message together (document.Build's one size check),
// answered at DATA with 552 5.3.4 naming both sizes.
func TestDocumentBytesLimitAtData(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Fax.MaxDocBytes = 64 << 10 })
	scan := scanPDF(200)                             // 40,000 bytes of image, one page
	other := append(bytes.Clone(scan), "\n% b\n"...) // a second document, not a repeat
	msg := message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", scan},
		attachment{"b.pdf", "application/pdf", "", other})
	err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, msg)
	wantTooLarge(t, err, fmt.Sprintf("the documents are %d KB; the limit is 64 KB per fax", (len(scan)+len(other))>>10))
	if n := len(h.sim.Creates()); n != 0 {
		t.Errorf("%d faxes sent over the size limit", n)
	}
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", scan})); err != nil {
		t.Fatalf("one document under the limit: %v", err)
	}
}
