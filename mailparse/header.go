package mailparse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
)

// readHeader reads one header block leniently. Real mail carries folding
// without indentation, mbox "From " lines, spaces before colons and blank
// lines made of whitespace; a strict reader drops the part for any of them.
// It returns the header, the number of fields read and the body that
// follows, which starts with any line that turned out not to be a header.
func readHeader(br *bufio.Reader) (message.Header, int, io.Reader, error) {
	var (
		h      message.Header
		n      int
		key    string
		val    []byte
		total  int
		first  = true
		line   []byte
		pushed []byte
	)
	flush := func() {
		if key != "" {
			h.Add(key, strings.TrimSpace(string(val)))
			n++
		}
		key, val = "", val[:0]
	}
	for {
		var err error
		line, err = readLine(br, line[:0], maxHeaderBytes-total)
		total += len(line)
		if err != nil && !errors.Is(err, io.EOF) {
			return h, n, nil, err
		}
		content := bytes.TrimRight(line, "\r\n")
		switch {
		case len(bytes.TrimSpace(content)) == 0:
			// End of the header (a whitespace-only line counts: a body glued
			// to the header is worse than a lost folded blank).
			flush()
			return h, n, br, nil
		case content[0] == ' ' || content[0] == '\t':
			if key != "" {
				val = append(val, ' ')
				val = append(val, bytes.TrimSpace(content)...)
			}
		default:
			k, v, ok := splitField(content)
			switch {
			case ok:
				flush()
				key = k
				val = append(val[:0], v...)
			case first && bytes.HasPrefix(content, []byte("From ")):
				// An mbox separator line, not part of the header.
			case key != "" && endsContinued(val):
				// Folding without the indentation: the previous value
				// promised more ("...; name=" on the next line).
				val = append(val, ' ')
				val = append(val, content...)
			default:
				// Not a header line: the header ended without a blank line
				// and this is the first line of the body.
				flush()
				pushed = append([]byte(nil), line...)
				return h, n, io.MultiReader(bytes.NewReader(pushed), br), nil
			}
		}
		first = false
		if err != nil { // EOF inside the header: no body
			flush()
			return h, n, br, nil
		}
	}
}

// readLine appends one line (with its ending) to buf, reading at most limit
// bytes. It returns errHeaderTooLarge past the limit.
func readLine(br *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > limit {
			return buf, errHeaderTooLarge
		}
		buf = append(buf, chunk...)
		if err != bufio.ErrBufferFull {
			return buf, err
		}
	}
}

var errHeaderTooLarge = errors.New("header too large")

// splitField splits "Key: value" when Key is a valid field name.
func splitField(line []byte) (string, []byte, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", nil, false
	}
	k := bytes.TrimRight(line[:i], " \t")
	if len(k) == 0 {
		return "", nil, false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f {
			return "", nil, false
		}
	}
	return string(k), line[i+1:], true
}

func endsContinued(v []byte) bool {
	v = bytes.TrimRight(v, " \t")
	return len(v) > 0 && (v[len(v)-1] == ';' || v[len(v)-1] == ',' || v[len(v)-1] == '=')
}

// parseValue splits a Content-Type or Content-Disposition value into its
// lower-case value and parameters. It accepts what mime.ParseMediaType
// refuses: a missing ";" before the first parameter, unquoted tspecials,
// unterminated quotes, RFC 2231 in any charset and RFC 2047 inside quotes.
func parseValue(s string) (string, map[string]string) {
	s = strings.TrimSpace(s)
	v, rest, _ := strings.Cut(s, ";")
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		rest = v[i:] + ";" + rest
		v = v[:i]
	}
	raw := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t;")
		eq := strings.IndexByte(rest, '=')
		semi := strings.IndexByte(rest, ';')
		if eq < 0 || (semi >= 0 && semi < eq) {
			if semi < 0 {
				break
			}
			rest = rest[semi+1:]
			continue
		}
		k := strings.ToLower(strings.TrimSpace(rest[:eq]))
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			val, rest = unquote(rest[1:])
			if i := strings.IndexByte(rest, ';'); i >= 0 {
				rest = rest[i+1:]
			} else {
				rest = ""
			}
		} else {
			val, rest, _ = strings.Cut(rest, ";")
			val = strings.TrimSpace(val)
		}
		if k != "" {
			if _, dup := raw[k]; !dup {
				raw[k] = val
			}
		}
	}
	return strings.ToLower(v), joinParams(raw)
}

// unquote reads a quoted string whose opening quote is already consumed.
func unquote(s string) (string, string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:]
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

type section struct {
	n   int
	ext bool
	v   string
}

// joinParams merges RFC 2231 sections (name*0*, name*1, name*) into one
// decoded value and decodes RFC 2047 words and raw 8-bit text in the rest.
// An RFC 2231 value wins over a plain one of the same name: clients send
// both, and the plain one is the fallback for old readers.
func joinParams(raw map[string]string) map[string]string {
	out := map[string]string{}
	sections := map[string][]section{}
	for k, v := range raw {
		base, sec, ok := splitSection(k)
		if !ok {
			out[k] = decodeWords(v)
			continue
		}
		sec.v = v
		sections[base] = append(sections[base], sec)
	}
	for base, secs := range sections {
		sort.Slice(secs, func(i, j int) bool { return secs[i].n < secs[j].n })
		cs := ""
		var buf []byte
		for i, s := range secs {
			v := s.v
			if s.ext {
				if i == 0 {
					parts := strings.SplitN(v, "'", 3)
					if len(parts) == 3 {
						cs, v = parts[0], parts[2]
					}
				}
				if u, err := url.PathUnescape(v); err == nil {
					v = u
				}
			}
			buf = append(buf, v...)
		}
		out[base] = toUTF8(buf, cs)
	}
	return out
}

// splitSection recognises "name*", "name*3" and "name*3*".
func splitSection(k string) (string, section, bool) {
	i := strings.IndexByte(k, '*')
	if i <= 0 {
		return "", section{}, false
	}
	base, rest := k[:i], k[i+1:]
	if rest == "" {
		return base, section{ext: true}, true
	}
	ext := strings.HasSuffix(rest, "*")
	n, err := strconv.Atoi(strings.TrimSuffix(rest, "*"))
	if err != nil || n < 0 {
		return "", section{}, false
	}
	return base, section{n: n, ext: ext}, true
}

// decodeWords decodes RFC 2047 words (also where they do not belong, inside
// quoted parameters, as many clients send them) and raw 8-bit bytes.
func decodeWords(s string) string {
	if strings.Contains(s, "=?") {
		d := mime.WordDecoder{CharsetReader: charset.Reader}
		if out, err := d.DecodeHeader(s); err == nil {
			s = out
		}
	}
	return toUTF8([]byte(s), "")
}

// toUTF8 converts b from the named charset. Bytes that are not valid in it,
// or raw 8-bit text with no charset, are read as Windows-1252, the usual
// charset of such mail, rather than dropped.
func toUTF8(b []byte, cs string) string {
	cs = strings.ToLower(strings.TrimSpace(cs))
	if cs != "" && cs != "utf-8" && cs != "us-ascii" {
		if r, err := charset.Reader(cs, bytes.NewReader(b)); err == nil {
			if out, err := io.ReadAll(r); err == nil {
				b = out
			}
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	if r, err := charset.Reader("windows-1252", bytes.NewReader(b)); err == nil {
		if out, err := io.ReadAll(r); err == nil && utf8.Valid(out) {
			return string(out)
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
