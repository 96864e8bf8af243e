package mailparse

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // non-UTF-8 text bodies and words
	"github.com/emersion/go-message/mail"
	faxbridge "github.com/faxbridge/faxbridge"
)

const readBufSize = 16 << 10

type walker struct {
	opt      Options
	src      *sourceReader
	msg      *Message
	entities int
	leaves   int
	textDone bool
}

// scope is what an entity inherits from its ancestors.
type scope struct {
	depth       int
	inRelated   bool
	inForward   bool   // inside a message/rfc822: not the sender's own text
	defaultType string // "" means text/plain; multipart/digest defaults to message/rfc822
}

func (w *walker) top(br *bufio.Reader) error {
	h, n, body, err := readHeader(br)
	if err != nil {
		return w.failure(err)
	}
	if n == 0 {
		if w.src.err != nil {
			return w.src.err
		}
		return badContent("no header was found")
	}
	w.envelope(h)
	return w.entity(h, body, scope{})
}

// failure turns an error met while walking into what Parse returns: the
// caller's own read error unchanged, a sender-safe error otherwise.
func (w *walker) failure(err error) error {
	if w.src.err != nil {
		return w.src.err
	}
	var fe *faxbridge.Error
	if errors.As(err, &fe) {
		return err
	}
	if errors.Is(err, errHeaderTooLarge) {
		return badContent("a header is too large")
	}
	return err
}

func (w *walker) envelope(h message.Header) {
	mh := mail.Header{Header: h}
	m := w.msg
	if addrs, err := mh.AddressList("From"); err == nil && len(addrs) > 0 {
		m.From, m.FromName = addrs[0].Address, addrs[0].Name
	} else {
		m.From, m.FromName = looseAddress(h.Get("From"))
	}
	if s, err := mh.Subject(); err == nil {
		m.Subject = toUTF8([]byte(s), "")
	} else {
		m.Subject = decodeWords(h.Get("Subject"))
	}
	if d, err := mh.Date(); err == nil {
		m.Date = d
	}
	m.MessageID = messageID(h.Get("Message-Id"))
	m.AutoSubmitted = strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted")))
	m.Precedence = strings.ToLower(strings.TrimSpace(h.Get("Precedence")))
}

// looseAddress finds an address in a From value that does not parse, such
// as one with an unquoted comma or raw 8-bit in the display name.
func looseAddress(v string) (addr, name string) {
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			a := strings.TrimSpace(v[i+1 : i+j])
			if strings.Contains(a, "@") {
				n := strings.Trim(strings.TrimSpace(v[:i]), `"`)
				return a, decodeWords(n)
			}
		}
	}
	for _, f := range strings.Fields(v) {
		f = strings.Trim(f, `<>"',;()`)
		if strings.Count(f, "@") == 1 && !strings.HasPrefix(f, "@") && !strings.HasSuffix(f, "@") {
			return f, ""
		}
	}
	return "", ""
}

func messageID(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i : i+j+1]
		}
	}
	return v
}

func (w *walker) entity(h message.Header, body io.Reader, sc scope) error {
	w.entities++
	if w.entities > w.opt.MaxParts {
		return faxbridge.Errorf(faxbridge.ETooLarge,
			"the message has more than %d parts; send fewer attachments", w.opt.MaxParts)
	}
	declared, params := parseValue(h.Get("Content-Type"))
	mt := declared
	if !strings.Contains(mt, "/") {
		mt = "text/plain"
		if sc.defaultType != "" {
			mt = sc.defaultType
		}
		if declared == "" {
			declared = mt
		}
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if sc.depth >= w.opt.MaxDepth {
			return nil // too deep to be a real message; the parent skips the bytes
		}
		if mt == "multipart/report" && !sc.inForward {
			w.msg.IsReport = true
		}
		if params["boundary"] == "" {
			// Readers show such a body as text; so do we.
			return w.leaf(h, "text/plain", declared, params, body, sc)
		}
		return w.multipart(mt, params, body, sc)
	case mt == "message/rfc822" || mt == "message/global":
		if sc.depth >= w.opt.MaxDepth {
			return nil
		}
		br := bufio.NewReaderSize(transferDecode(h.Get("Content-Transfer-Encoding"), body), readBufSize)
		ih, _, ibody, err := readHeader(br)
		if err != nil {
			return w.failure(err)
		}
		return w.entity(ih, ibody, scope{depth: sc.depth + 1, inRelated: sc.inRelated, inForward: true})
	}
	switch mt {
	case "message/delivery-status", "message/disposition-notification",
		"message/global-delivery-status", "message/global-disposition-notification":
		if !sc.inForward {
			w.msg.IsReport = true
		}
	}
	return w.leaf(h, mt, declared, params, body, sc)
}

func (w *walker) multipart(mt string, params map[string]string, body io.Reader, sc scope) error {
	mp := newMultipart(bufio.NewReaderSize(body, readBufSize), params["boundary"])
	related := mt == "multipart/related"
	start := strings.Trim(params["start"], "<> ")
	child := scope{depth: sc.depth + 1, inRelated: sc.inRelated, inForward: sc.inForward}
	if mt == "multipart/digest" {
		child.defaultType = "message/rfc822"
	}
	n := 0
	for ; ; n++ {
		rp, err := mp.next()
		if err != nil {
			return w.failure(err)
		}
		if rp == nil {
			break
		}
		ph, _, pbody, err := readHeader(bufio.NewReaderSize(rp, readBufSize))
		if err != nil {
			return w.failure(err)
		}
		c := child
		if related {
			root := n == 0
			if start != "" {
				root = strings.Trim(ph.Get("Content-Id"), "<> ") == start
			}
			c.inRelated = sc.inRelated || !root
		}
		if err := w.entity(ph, pbody, c); err != nil {
			return err
		}
	}
	if n == 0 && !w.textDone && !sc.inForward && len(mp.preamble) > 0 {
		// The boundary never appears: what a reader shows is this text.
		w.textDone = true
		w.msg.Text = capText(toUTF8(mp.preamble, ""))
	}
	return nil
}

func (w *walker) leaf(h message.Header, mt, declared string, ctParams map[string]string, body io.Reader, sc scope) error {
	index := w.leaves
	w.leaves++
	disp, dparams := parseValue(h.Get("Content-Disposition"))
	name := dparams["filename"]
	if name == "" {
		name = ctParams["name"]
	}
	name = strings.TrimSpace(name)
	switch disp {
	case "":
	case "inline":
	default:
		// RFC 2183: an unknown disposition is treated as attachment.
		disp = "attachment"
	}
	decoded := transferDecode(h.Get("Content-Transfer-Encoding"), body)
	if (mt == "text/plain" || mt == "text/html") && disp != "attachment" && name == "" {
		if mt == "text/plain" && !w.textDone && !sc.inForward {
			w.textDone = true
			return w.text(h, decoded)
		}
		return nil // the parent skips the bytes
	}
	sp := &spool{dir: w.opt.SpoolDir}
	buf := copyBufs.Get().(*[]byte)
	_, cerr := io.CopyBuffer(sp, decoded, *buf)
	copyBufs.Put(buf)
	p, err := sp.finish()
	if err == nil && sp.werr != nil {
		err = sp.werr
	}
	if err != nil {
		_ = p.remove()
		return fmt.Errorf("spool part %d: %w", index, err)
	}
	if w.src.err != nil {
		_ = p.remove()
		return w.src.err
	}
	// Any other copy error is damage in the part's encoding: keep the bytes
	// that decoded, as a mail reader would show them.
	_ = cerr
	w.msg.Parts = append(w.msg.Parts, Part{
		Index:        index,
		Name:         name,
		DeclaredType: declared,
		Disposition:  disp,
		InRelated:    sc.inRelated,
		ContentID:    strings.Trim(strings.TrimSpace(h.Get("Content-Id")), "<>"),
		Kind:         p.kind,
		Path:         p.path,
		Size:         p.size,
		SHA256:       p.sum,
		Depth:        sc.depth,
	})
	return nil
}

// text reads the first text/plain body, converted to UTF-8 by go-message; an
// unknown charset keeps the raw bytes.
func (w *walker) text(h message.Header, decoded io.Reader) error {
	var th message.Header
	if ct := h.Get("Content-Type"); ct != "" {
		_, params := parseValue(ct)
		if cs := params["charset"]; cs != "" {
			th.Set("Content-Type", "text/plain; charset="+quoteParam(cs))
		}
	}
	e, err := message.New(th, decoded)
	r := decoded
	if e != nil && (err == nil || message.IsUnknownCharset(err)) {
		r = e.Body
	}
	b, _ := io.ReadAll(io.LimitReader(r, TextLimit+utf8.UTFMax))
	if w.src.err != nil {
		return w.src.err
	}
	w.msg.Text = capText(toUTF8(b, ""))
	return nil
}

func quoteParam(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// capText cuts s to TextLimit bytes on a rune boundary.
func capText(s string) string {
	if len(s) <= TextLimit {
		return s
	}
	s = s[:TextLimit]
	for len(s) > 0 && !utf8.ValidString(s[len(s)-utf8.UTFMax:]) {
		s = s[:len(s)-1]
	}
	return strings.ToValidUTF8(s, "")
}

// transferDecode undoes the Content-Transfer-Encoding. Base64 goes through a
// filter because mailers insert stray characters and go-message's decoder
// stops at the first; an unknown encoding leaves the bytes as they are.
func transferDecode(enc string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &b64filter{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// b64alphabet marks the bytes b64filter keeps: the base64 alphabet and '='.
// A table lookup per byte is the cheapest test on this hot path.
var b64alphabet = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") {
		t[c] = true
	}
	return t
}()

// b64filter passes only base64 alphabet bytes, and pads a body cut short so
// its last bytes decode too (as mail readers show them).
type b64filter struct {
	r   io.Reader
	n   int // alphabet bytes passed, mod 4
	pad int // padding still to emit after EOF
	eof bool
}

func (f *b64filter) Read(p []byte) (int, error) {
	for {
		if f.eof {
			if f.pad == 0 || len(p) == 0 {
				return 0, io.EOF
			}
			k := min(f.pad, len(p))
			for i := range k {
				p[i] = '='
			}
			f.pad -= k
			return k, nil
		}
		n, err := f.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if b64alphabet[c] {
				p[k] = c
				k++
			}
		}
		f.n = (f.n + k) % 4
		if err == io.EOF {
			f.eof = true
			if f.n >= 2 {
				f.pad = 4 - f.n
			}
			err = nil
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}
