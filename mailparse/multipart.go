package mailparse

import (
	"bufio"
	"bytes"
	"io"
)

// multipart splits a multipart body into its raw parts (header and body
// bytes between delimiter lines). It is lenient where go-message's reader is
// strict: a missing closing delimiter ends the last part at EOF, text between
// parts is ignored, a boundary that is a prefix of a longer one ("--b" and
// "--b-1") is not mistaken for it, and line length is unbounded.
type multipart struct {
	src      *bufio.Reader
	delim    []byte // "--" + boundary
	cur      *rawPart
	started  bool
	finished bool
	closed   bool   // the closing delimiter was seen
	preamble []byte // kept (capped) for a multipart whose delimiter never comes
	lineEnd  bool   // the next read starts a line
}

func newMultipart(src *bufio.Reader, boundary string) *multipart {
	return &multipart{src: src, delim: []byte("--" + boundary), lineEnd: true}
}

// delimKind tells whether line is a delimiter (1), the closing delimiter (2)
// or neither (0).
func (m *multipart) delimKind(line []byte) int {
	if !bytes.HasPrefix(line, m.delim) {
		return 0
	}
	rest := line[len(m.delim):]
	if bytes.HasPrefix(rest, []byte("--")) {
		return 2
	}
	if len(bytes.Trim(rest, " \t\r\n")) == 0 {
		return 1
	}
	return 0
}

// next returns the next raw part, or nil when there are no more.
func (m *multipart) next() (*rawPart, error) {
	if m.cur != nil {
		if _, err := io.Copy(io.Discard, m.cur); err != nil {
			return nil, err
		}
		m.cur = nil
	}
	if m.finished {
		return nil, nil
	}
	if !m.started {
		m.started = true
		if err := m.skipPreamble(); err != nil || m.finished {
			return nil, err
		}
	}
	m.cur = &rawPart{m: m, lineStart: true}
	return m.cur, nil
}

func (m *multipart) skipPreamble() error {
	lineStart := true
	for {
		chunk, err := m.src.ReadSlice('\n')
		if lineStart {
			switch m.delimKind(chunk) {
			case 1:
				return nil
			case 2:
				m.finished, m.closed = true, true
				return nil
			}
		}
		if len(m.preamble) < TextLimit {
			m.preamble = append(m.preamble, chunk[:min(len(chunk), TextLimit-len(m.preamble))]...)
		}
		switch err {
		case nil:
			lineStart = true
		case bufio.ErrBufferFull:
			lineStart = false
		case io.EOF:
			m.finished = true
			return nil
		default:
			m.finished = true
			return err
		}
	}
}

// rawPart reads one part's bytes up to (not including) the line ending that
// precedes the next delimiter.
type rawPart struct {
	m         *multipart
	lineStart bool
	held      [2]byte // a line ending withheld until we know no delimiter follows
	nheld     int
	out       []byte
	buf       []byte
	done      bool
	err       error
}

func (p *rawPart) Read(b []byte) (int, error) {
	for len(p.out) == 0 {
		if p.done {
			if p.err != nil {
				return 0, p.err
			}
			return 0, io.EOF
		}
		p.fill()
	}
	n := copy(b, p.out)
	p.out = p.out[n:]
	return n, nil
}

func (p *rawPart) fill() {
	m := p.m
	chunk, err := m.src.ReadSlice('\n')
	if p.lineStart && len(chunk) > 0 {
		switch m.delimKind(chunk) {
		case 1:
			p.done = true
			return
		case 2:
			p.done = true
			m.finished, m.closed = true, true
			return
		}
	}
	p.buf = append(p.buf[:0], p.held[:p.nheld]...)
	p.nheld = 0
	switch err {
	case nil:
		body := chunk
		end := 1
		if len(body) >= 2 && body[len(body)-2] == '\r' {
			end = 2
		}
		p.buf = append(p.buf, body[:len(body)-end]...)
		p.nheld = copy(p.held[:], body[len(body)-end:])
		p.lineStart = true
	case bufio.ErrBufferFull:
		p.buf = append(p.buf, chunk...)
		p.lineStart = false
	default:
		// EOF without a closing delimiter (or a read error): the part ends
		// here with everything it had.
		p.buf = append(p.buf, chunk...)
		p.done = true
		m.finished = true
		if err != io.EOF {
			p.err = err
		}
	}
	p.out = p.buf
}
