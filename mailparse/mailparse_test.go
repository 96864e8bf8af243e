package mailparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	faxbridge "github.com/faxbridge/faxbridge"
)

// pdfBytes is enough of a PDF for sniffing; document validates real ones.
var pdfBytes = []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n")

func b64(b []byte, lineLen int) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > lineLen {
		out.WriteString(s[:lineLen] + "\r\n")
		s = s[lineLen:]
	}
	out.WriteString(s + "\r\n")
	return out.String()
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func parse(t *testing.T, msg string, opt Options) *Message {
	t.Helper()
	if opt.SpoolDir == "" {
		opt.SpoolDir = t.TempDir()
	}
	m, err := Parse(strings.NewReader(msg), opt)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	t.Cleanup(func() { _ = m.Remove() })
	return m
}

// want is the part of a Part a table case checks; Path and SHA256 are
// checked against the bytes in data.
type want struct {
	Kind         Kind
	Name         string
	DeclaredType string
	Disposition  string
	InRelated    bool
	Depth        int
	data         []byte
}

func TestParseParts(t *testing.T) {
	tiff := append([]byte("II*\x00"), bytes.Repeat([]byte{1}, 100)...)
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{2}, 100)...)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{3}, 100)...)
	junkPDF := append(bytes.Repeat([]byte{' '}, 1024), pdfBytes...)
	tooLate := append(bytes.Repeat([]byte{' '}, 1025), pdfBytes...)
	cases := []struct {
		name string
		msg  string
		text string
		want []want
	}{{
		name: "inline pdf",
		msg: crlf("From: a@example.com\nSubject: s\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello\n--b\nContent-Type: application/pdf\nContent-Disposition: inline\nContent-Transfer-Encoding: base64\n\n") +
			b64(pdfBytes, 76) + "--b--\r\n",
		text: "hello",
		want: []want{{Kind: KindPDF, DeclaredType: "application/pdf", Disposition: "inline", Depth: 1, data: pdfBytes}},
	}, {
		name: "octet-stream pdf found by magic",
		msg: crlf("Content-Type: multipart/mixed; boundary=\"xx\"\n\n--xx\nContent-Type: application/octet-stream; name=\"scan.bin\"\nContent-Disposition: attachment; filename=scan.bin\nContent-Transfer-Encoding: base64\n\n") +
			b64(pdfBytes, 76) + "--xx--\r\n",
		want: []want{{Kind: KindPDF, Name: "scan.bin", DeclaredType: "application/octet-stream", Disposition: "attachment", Depth: 1, data: pdfBytes}},
	}, {
		name: "rfc 2231 continuations in utf-8 and latin-1",
		msg:  crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pdf\nContent-Disposition: attachment;\n filename*0*=utf-8''%E6%97%A5%E6%9C%AC;\n filename*1*=%E8%AA%9E;\n filename*2=\".pdf\"\n\n%PDF-1.4 x\n--b\nContent-Type: application/pdf; name*=iso-8859-1'fr'r%E9sum%E9.pdf\n\n%PDF-1.4 y\n--b--\n"),
		want: []want{
			{Kind: KindPDF, Name: "日本語.pdf", DeclaredType: "application/pdf", Disposition: "attachment", Depth: 1, data: []byte("%PDF-1.4 x")},
			{Kind: KindPDF, Name: "résumé.pdf", DeclaredType: "application/pdf", Depth: 1, data: []byte("%PDF-1.4 y")},
		},
	}, {
		name: "rfc 2047 words inside a quoted parameter, folded",
		msg:  crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pdf;\n name=\"=?iso-8859-1?Q?ATT_N=B0_1?=\n =?iso-8859-1?Q?.pdf?=\"\n\n%PDF-1.4\n--b--\n"),
		want: []want{{Kind: KindPDF, Name: "ATT N° 1.pdf", DeclaredType: "application/pdf", Depth: 1, data: []byte("%PDF-1.4")}},
	}, {
		name: "raw 8-bit name in latin-1",
		msg:  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: image/png; name=\"caf\xe9.png\"\r\n\r\n" + string(png) + "\r\n--b--\r\n",
		want: []want{{Kind: KindPNG, Name: "café.png", DeclaredType: "image/png", Depth: 1, data: png}},
	}, {
		name: "nested multipart with related images",
		msg: crlf("Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/alternative; boundary=alt\n\n--alt\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9\n--alt\nContent-Type: multipart/related; boundary=rel\n\n--rel\nContent-Type: text/html\n\n<img src=cid:logo>\n--rel\nContent-Type: image/jpeg\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\n") +
			b64(jpeg, 76) + crlf("--rel--\n--alt--\n--outer\nContent-Type: image/tiff; name=fax.tif\nContent-Transfer-Encoding: base64\n\n") + b64(tiff, 76) + "--outer--\r\n",
		text: "café",
		want: []want{
			{Kind: KindJPEG, DeclaredType: "image/jpeg", InRelated: true, Depth: 3, data: jpeg},
			{Kind: KindTIFF, Name: "fax.tif", DeclaredType: "image/tiff", Depth: 1, data: tiff},
		},
	}, {
		name: "forwarded message/rfc822",
		msg:  crlf("From: Fwd <fwd@example.com>\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee below\n--b\nContent-Type: message/rfc822\n\nFrom: inner@example.com\nSubject: inner\nContent-Type: multipart/mixed; boundary=i\n\n--i\nContent-Type: text/plain\n\ninner text\n--i\nContent-Type: application/pdf; name=inner.pdf\n\n%PDF-1.7 inner\n--i--\n--b--\n"),
		text: "see below",
		want: []want{{Kind: KindPDF, Name: "inner.pdf", DeclaredType: "application/pdf", Depth: 3, data: []byte("%PDF-1.7 inner")}},
	}, {
		name: "base64 with odd line lengths and stray characters",
		msg: crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\n") +
			strings.ReplaceAll(b64(png, 13), "\r\n", "\r\n \t") + "*!\r\n--b--\r\n",
		want: []want{{Kind: KindPNG, DeclaredType: "image/png", Depth: 1, data: png}},
	}, {
		name: "bare LF line endings",
		msg:  "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nline\n--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n" + strings.ReplaceAll(b64(pdfBytes, 60), "\r\n", "\n") + "--b--\n",
		text: "line",
		want: []want{{Kind: KindPDF, DeclaredType: "application/pdf", Depth: 1, data: pdfBytes}},
	}, {
		name: "missing final boundary",
		msg:  "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: image/jpeg\nContent-Transfer-Encoding: base64\n\n" + b64(jpeg, 76),
		want: []want{{Kind: KindJPEG, DeclaredType: "image/jpeg", Depth: 1, data: jpeg}},
	}, {
		name: "boundary that prefixes the inner one",
		msg:  crlf("Content-Type: multipart/mixed; boundary=\"--b\"\n\n----b\nContent-Type: multipart/alternative; boundary=\"--b-1\"\n\n----b-1\nContent-Type: text/plain\n\nt\n----b-1--\n\n----b\nContent-Type: application/pdf\n\n%PDF-1.4 z\n----b--\n"),
		text: "t",
		want: []want{{Kind: KindPDF, DeclaredType: "application/pdf", Depth: 1, data: []byte("%PDF-1.4 z")}},
	}, {
		name: "header folding without indentation and missing semicolon",
		msg:  "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pdf;\nname=\"x.pdf\"\n\n%PDF-1.4\n--b\nContent-Type: application/pdf name=\"y.pdf\"\n\n%PDF-1.5\n--b--\n",
		want: []want{
			{Kind: KindPDF, Name: "x.pdf", DeclaredType: "application/pdf", Depth: 1, data: []byte("%PDF-1.4")},
			{Kind: KindPDF, Name: "y.pdf", DeclaredType: "application/pdf", Depth: 1, data: []byte("%PDF-1.5")},
		},
	}, {
		name: "magic decides, not labels; leading junk up to 1024 bytes",
		msg: "Content-Type: multipart/mixed; boundary=b\n\n" +
			"--b\nContent-Type: image/jpeg; name=a.jpg\nContent-Transfer-Encoding: base64\n\n" + b64(png, 76) +
			"--b\nContent-Type: application/pdf; name=fake.pdf\n\nnot a pdf at all\n" +
			"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + b64(junkPDF, 76) +
			"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + b64(tooLate, 76) +
			"--b--\n",
		want: []want{
			{Kind: KindPNG, Name: "a.jpg", DeclaredType: "image/jpeg", Depth: 1, data: png},
			{Kind: KindOther, Name: "fake.pdf", DeclaredType: "application/pdf", Depth: 1, data: []byte("not a pdf at all")},
			{Kind: KindPDF, DeclaredType: "application/octet-stream", Depth: 1, data: junkPDF},
			{Kind: KindOther, DeclaredType: "application/octet-stream", Depth: 1, data: tooLate},
		},
	}, {
		name: "single-part message whose root is the attachment",
		msg:  crlf("From: x@example.com\nContent-Type: image/tiff\nContent-Disposition: attachment; filename=\"f.tif\"\nContent-Transfer-Encoding: base64\n\n") + b64(tiff, 76),
		want: []want{{Kind: KindTIFF, Name: "f.tif", DeclaredType: "image/tiff", Disposition: "attachment", data: tiff}},
	}, {
		name: "text attachment is a part, inline text is a body",
		msg:  crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nfirst\n--b\nContent-Type: text/plain; name=readme.txt\n\nreadme\n--b\nContent-Type: text/plain\n\nsecond\n--b\nContent-Type: text/html\nContent-Disposition: attachment\n\n<p>\n--b--\n"),
		text: "first",
		want: []want{
			{Kind: KindOther, Name: "readme.txt", DeclaredType: "text/plain", Depth: 1, data: []byte("readme")},
			{Kind: KindOther, DeclaredType: "text/html", Disposition: "attachment", Depth: 1, data: []byte("<p>")},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := parse(t, tc.msg, Options{})
			if got := strings.TrimRight(m.Text, "\r\n"); got != tc.text {
				t.Errorf("Text = %q, want %q", got, tc.text)
			}
			if len(m.Parts) != len(tc.want) {
				t.Fatalf("got %d parts %+v, want %d", len(m.Parts), m.Parts, len(tc.want))
			}
			for i, w := range tc.want {
				p := m.Parts[i]
				got := want{p.Kind, p.Name, p.DeclaredType, p.Disposition, p.InRelated, p.Depth, w.data}
				if !equalWant(got, w) {
					t.Errorf("part %d = %+v, want %+v", i, got, w)
				}
				if p.Size != int64(len(w.data)) || p.SHA256 != sum(w.data) {
					t.Errorf("part %d: size %d sha %s, want %d %s", i, p.Size, p.SHA256, len(w.data), sum(w.data))
				}
				checkSpool(t, p, w.data)
			}
		})
	}
}

func equalWant(a, b want) bool {
	return a.Kind == b.Kind && a.Name == b.Name && a.DeclaredType == b.DeclaredType &&
		a.Disposition == b.Disposition && a.InRelated == b.InRelated && a.Depth == b.Depth
}

func checkSpool(t *testing.T, p Part, data []byte) {
	t.Helper()
	if p.Kind == KindOther {
		if p.Path != "" {
			t.Errorf("part %d: Kind other but spooled at %s", p.Index, p.Path)
		}
		return
	}
	b, err := os.ReadFile(p.Path)
	if err != nil {
		t.Fatalf("part %d: %v", p.Index, err)
	}
	if !bytes.Equal(b, data) {
		t.Errorf("part %d: spooled bytes differ (%d vs %d)", p.Index, len(b), len(data))
	}
}

func TestParseEnvelope(t *testing.T) {
	msg := crlf("Received: x\nFrom: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.com>\nSubject: =?iso-8859-1?q?R=E9sum=E9?=\nMessage-ID:   <abc@example.com>  \nDate: Tue, 1 Jul 2025 10:00:00 +0200\nAuto-Submitted: Auto-Replied\nPrecedence: Bulk\n\nbody\n")
	m := parse(t, msg, Options{})
	wantDate := time.Date(2025, 7, 1, 8, 0, 0, 0, time.UTC)
	if m.From != "jurgen@example.com" || m.FromName != "Jürgen" || m.Subject != "Résumé" ||
		m.MessageID != "<abc@example.com>" || !m.Date.Equal(wantDate) ||
		m.AutoSubmitted != "auto-replied" || m.Precedence != "bulk" || m.Text != "body\r\n" || m.IsReport {
		t.Errorf("got %+v", m)
	}
}

func TestParseLooseFrom(t *testing.T) {
	for _, tc := range []struct{ from, addr, name string }{
		{"Smith, John <john@example.com>", "john@example.com", "Smith, John"},
		{"john@example.com (John)", "john@example.com", "John"},
		{"%FROM_ADDRESS%", "", ""},
		{"Caf\xe9 <c@example.com>", "c@example.com", "Café"},
	} {
		m := parse(t, "From: "+tc.from+"\r\n\r\nx", Options{})
		if m.From != tc.addr || m.FromName != tc.name {
			t.Errorf("From %q: got %q %q, want %q %q", tc.from, m.From, m.FromName, tc.addr, tc.name)
		}
	}
}

func TestParseText(t *testing.T) {
	cases := []struct{ name, msg, want string }{
		{"latin-1", "Content-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9", "café"},
		{"unknown charset keeps bytes", "Content-Type: text/plain; charset=x-no-such\n\nplain", "plain"},
		{"no boundary: body shown as text", "Content-Type: multipart/mixed\n\nI am text", "I am text"},
		{"boundary never appears", "Content-Type: multipart/mixed; boundary=zz\n\npreamble only\n", "preamble only\n"},
		{"long line", "Subject: x\n\n" + strings.Repeat("a", 200000), strings.Repeat("a", TextLimit)},
		{"forwarded text is not the sender's", "Content-Type: message/rfc822\n\nSubject: in\n\ninner", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := parse(t, tc.msg, Options{})
			if m.Text != tc.want {
				t.Errorf("Text = %.80q (%d bytes), want %.80q", m.Text, len(m.Text), tc.want)
			}
		})
	}
	// A cut inside a multi-byte rune leaves valid UTF-8.
	m := parse(t, "Content-Type: text/plain; charset=utf-8\n\n"+strings.Repeat("é", TextLimit), Options{})
	if len(m.Text) != TextLimit || !strings.HasSuffix(m.Text, "é") {
		t.Errorf("capped text: %d bytes, ends %q", len(m.Text), m.Text[len(m.Text)-2:])
	}
}

func TestParseReport(t *testing.T) {
	dsn := crlf("From: MAILER-DAEMON@example.com\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\nfailed\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n--b--\n")
	if m := parse(t, dsn, Options{}); !m.IsReport {
		t.Error("DSN: IsReport = false")
	}
	mdn := crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/disposition-notification\n\nFinal-Recipient: rfc822; x@example.com\n--b--\n")
	if m := parse(t, mdn, Options{}); !m.IsReport {
		t.Error("MDN: IsReport = false")
	}
	fwd := crlf("Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n\n") + dsn + "\r\n--o--\r\n"
	if m := parse(t, fwd, Options{}); m.IsReport {
		t.Error("a bounce forwarded as an attachment is not itself a report")
	}
}

func TestParseLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
	for range 5 {
		b.WriteString("--b\nContent-Type: application/pdf\n\n%PDF-1.4\n")
	}
	b.WriteString("--b--\n")
	_, err := Parse(strings.NewReader(b.String()), Options{SpoolDir: t.TempDir(), MaxParts: 4})
	if faxbridge.ErrorCode(err) != faxbridge.ETooLarge {
		t.Errorf("MaxParts: err = %v, want code %s", err, faxbridge.ETooLarge)
	}

	// Each level nests one multipart; the PDF at depth 4 is skipped when
	// MaxDepth is 3, and found when it is 4.
	deep := "Content-Type: multipart/mixed; boundary=b0\n\n--b0\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: multipart/mixed; boundary=b2\n\n--b2\nContent-Type: multipart/mixed; boundary=b3\n\n--b3\nContent-Type: application/pdf\n\n%PDF-1.4\n--b3--\n--b2--\n--b1--\n--b0\nContent-Type: image/png\n\n\x89PNG\r\n\x1a\nxx\n--b0--\n"
	if m := parse(t, deep, Options{MaxDepth: 3}); len(m.Parts) != 1 || m.Parts[0].Kind != KindPNG {
		t.Errorf("MaxDepth 3: parts %+v, want only the PNG", m.Parts)
	}
	if m := parse(t, deep, Options{MaxDepth: 4}); len(m.Parts) != 2 {
		t.Errorf("MaxDepth 4: parts %+v, want the PDF and the PNG", m.Parts)
	}
}

func TestParseUnreadable(t *testing.T) {
	for _, msg := range []string{"", "\r\n\r\nbody without header", "\x00\x01\x02 binary junk"} {
		m, err := Parse(strings.NewReader(msg), Options{SpoolDir: t.TempDir()})
		if faxbridge.ErrorCode(err) != faxbridge.EBadContent || m != nil {
			t.Errorf("%q: got %v, %v; want EBadContent", msg, m, err)
		}
		if !strings.HasPrefix(faxbridge.ErrorMessage(err), "the message could not be read as MIME: ") {
			t.Errorf("%q: message %q", msg, faxbridge.ErrorMessage(err))
		}
	}
}

// failingReader returns its data and then err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestParseSourceErrorUnchanged(t *testing.T) {
	sentinel := errors.New("552 message too big")
	dir := t.TempDir()
	msg := "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pdf\n\n%PDF-1.4 and then the connection"
	for _, cut := range []int{0, 20, len(msg)} {
		m, err := Parse(&failingReader{strings.NewReader(msg[:cut]), sentinel}, Options{SpoolDir: dir})
		if err != sentinel || m != nil {
			t.Errorf("cut %d: got %v, %v; want the reader's own error", cut, m, err)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("spool files left behind: %v", left)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	msg := "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pdf\n\n%PDF-1.4\n--b\nContent-Type: image/png\n\n\x89PNG\r\n\x1a\n\n--b--\n"
	m, err := Parse(strings.NewReader(msg), Options{SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 2 {
		t.Fatalf("want 2 spooled files, have %d", len(left))
	}
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left: %v", left)
	}
}
