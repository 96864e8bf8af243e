package document

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// A small PDF object reader for the structural check (pdfcheck.go). It
// keeps what the check needs (numbers, names, references, dictionaries and
// arrays) and skips the contents of strings, so that reading an object
// costs memory for its structure only, never for its text or stream data.

type (
	pdfName  string
	pdfRef   struct{ num, gen int }
	pdfDict  map[pdfName]any
	pdfArray []any
	// pdfString stands for a string whose bytes the check never needs.
	pdfString struct{}
	// pdfKeyword is a bare word that is not a value: obj, stream, R, xref…
	pdfKeyword string
)

// errDamaged marks what a complete file cannot contain: the sender must
// send the document again. errTooComplex marks a file beyond the limits a
// fax needs (limits.go).
var (
	errDamaged    = errors.New("pdf damaged")
	errTooComplex = errors.New("pdf too complex")
	// errPDFUnsupported marks a valid construct the check does not read (a
	// rare filter or predictor); pdfcpu then judges the file.
	errPDFUnsupported = errors.New("pdf construct not read by the structural check")
)

func damagedf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errDamaged, fmt.Sprintf(format, a...))
}

func complexf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errTooComplex, fmt.Sprintf(format, a...))
}

// lexer reads tokens from r, counting the bytes it consumed so that the
// start of stream data can be located.
type lexer struct {
	r    *bufio.Reader
	pos  int64 // offset of the next unread byte
	back []any // tokens pushed back, last on top
	// items counts the values read since reset, to bound the memory one
	// object can take (a 40 MB array of numbers would take 640 MB).
	items int
	// shortArrays keeps only the first elements of each array (enough
	// for a /Filter list): checkMergeable counts values without keeping
	// them.
	shortArrays bool
}

func (l *lexer) reset(r io.Reader, pos int64) {
	if l.r == nil {
		l.r = bufio.NewReaderSize(r, 4096)
	} else {
		l.r.Reset(r)
	}
	l.pos = pos
	l.back = l.back[:0]
	l.items = 0
}

func (l *lexer) readByte() (byte, error) {
	b, err := l.r.ReadByte()
	if err == nil {
		l.pos++
	}
	return b, err
}

func (l *lexer) unreadByte() {
	if l.r.UnreadByte() == nil {
		l.pos--
	}
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\n' || b == '\r' || b == '\t' || b == '\f' || b == 0
}

func isDelim(b byte) bool {
	switch b {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// skipSpace skips white space and comments.
func (l *lexer) skipSpace() error {
	for {
		b, err := l.readByte()
		if err != nil {
			return err
		}
		if b == '%' {
			for b != '\n' && b != '\r' {
				if b, err = l.readByte(); err != nil {
					return err
				}
			}
			continue
		}
		if !isSpace(b) {
			l.unreadByte()
			return nil
		}
	}
}

// Delimiter tokens.
const (
	tokDictStart  pdfKeyword = "<<"
	tokDictEnd    pdfKeyword = ">>"
	tokArrayStart pdfKeyword = "["
	tokArrayEnd   pdfKeyword = "]"
)

// maxTokenBytes bounds one name, number or keyword.
const maxTokenBytes = 256

// token returns the next token: int64, float64, pdfName, pdfString,
// bool, nil for null, or a pdfKeyword.
func (l *lexer) token() (any, error) {
	if n := len(l.back); n > 0 {
		t := l.back[n-1]
		l.back = l.back[:n-1]
		return t, nil
	}
	if err := l.skipSpace(); err != nil {
		return nil, err
	}
	b, err := l.readByte()
	if err != nil {
		return nil, err
	}
	switch b {
	case '[':
		return tokArrayStart, nil
	case ']':
		return tokArrayEnd, nil
	case '(':
		return pdfString{}, l.skipLiteral()
	case '<':
		c, err := l.readByte()
		if err != nil {
			return nil, err
		}
		if c == '<' {
			return tokDictStart, nil
		}
		l.unreadByte()
		return pdfString{}, l.skipHex()
	case '>':
		c, err := l.readByte()
		if err != nil {
			return nil, err
		}
		if c == '>' {
			return tokDictEnd, nil
		}
		return nil, damagedf("stray '>' at %d", l.pos-1)
	case ')', '{', '}':
		return nil, damagedf("stray %q at %d", b, l.pos-1)
	case '/':
		w, err := l.word(nil)
		return pdfName(w), err
	}
	w, err := l.word([]byte{b})
	if err != nil {
		return nil, err
	}
	switch w {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if c := w[0]; c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' {
		if n, err := strconv.ParseInt(w, 10, 64); err == nil {
			return n, nil
		}
		if f, err := strconv.ParseFloat(w, 64); err == nil {
			return f, nil
		}
		// Writers emit oddities such as "--5"; viewers read them as 0.
		return float64(0), nil
	}
	return pdfKeyword(w), nil
}

// word reads a regular token that starts with start.
func (l *lexer) word(start []byte) (string, error) {
	buf := start
	for {
		b, err := l.readByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		if isSpace(b) || isDelim(b) {
			l.unreadByte()
			break
		}
		if len(buf) == maxTokenBytes {
			return "", damagedf("token longer than %d bytes at %d", maxTokenBytes, l.pos)
		}
		buf = append(buf, b)
	}
	return string(buf), nil
}

// skipLiteral skips a (string), which may hold balanced parentheses and
// backslash escapes.
func (l *lexer) skipLiteral() error {
	depth := 1
	for {
		b, err := l.readByte()
		if err != nil {
			return damagedf("unterminated string")
		}
		switch b {
		case '\\':
			if _, err := l.readByte(); err != nil {
				return damagedf("unterminated string")
			}
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return nil
			}
		}
	}
}

func (l *lexer) skipHex() error {
	for {
		b, err := l.readByte()
		if err != nil {
			return damagedf("unterminated hex string")
		}
		if b == '>' {
			return nil
		}
	}
}

// object reads one value. Past maxPDFNesting arrays and dictionaries
// inside each other the file is refused as too complex.
func (l *lexer) object(depth int) (any, error) {
	t, err := l.token()
	if err != nil {
		return nil, err
	}
	return l.value(t, depth)
}

func (l *lexer) value(t any, depth int) (any, error) {
	if l.items++; l.items > maxPDFObjectItems {
		return nil, complexf("an object of more than %d values", maxPDFObjectItems)
	}
	switch t := t.(type) {
	case pdfKeyword:
		switch t {
		case tokDictStart:
			return l.dict(depth + 1)
		case tokArrayStart:
			return l.array(depth + 1)
		}
		return t, nil
	case int64:
		// Maybe the first of "num gen R".
		if t < 0 {
			return t, nil
		}
		t2, err := l.token()
		if err != nil {
			return t, nil // a number at the end of the data
		}
		if gen, ok := t2.(int64); ok {
			t3, err := l.token()
			if err == nil && t3 == pdfKeyword("R") {
				if t > maxRefNumber || gen < 0 || gen > 65535 {
					return nil, damagedf("reference %d %d R out of range", t, gen)
				}
				return pdfRef{int(t), int(gen)}, nil
			}
			if err == nil {
				l.back = append(l.back, t3)
			}
		}
		l.back = append(l.back, t2)
		return t, nil
	}
	return t, nil
}

// maxRefNumber is beyond any object number a file within the limits has;
// it only keeps the conversion to int safe.
const maxRefNumber = 1 << 30

func (l *lexer) dict(depth int) (pdfDict, error) {
	if depth > maxPDFNesting {
		return nil, complexf("more than %d nested arrays and dictionaries", maxPDFNesting)
	}
	d := pdfDict{}
	for {
		t, err := l.token()
		if err != nil {
			return nil, damagedf("unterminated dictionary: %v", err)
		}
		if t == tokDictEnd {
			return d, nil
		}
		k, ok := t.(pdfName)
		if !ok {
			return nil, damagedf("dictionary key %v is not a name", t)
		}
		v, err := l.object(depth)
		if err != nil {
			return nil, err
		}
		if v == tokDictEnd { // a key without value: viewers read null
			return d, nil
		}
		if _, kw := v.(pdfKeyword); kw {
			return nil, damagedf("dictionary value %v", v)
		}
		d[k] = v
	}
}

func (l *lexer) array(depth int) (pdfArray, error) {
	if depth > maxPDFNesting {
		return nil, complexf("more than %d nested arrays and dictionaries", maxPDFNesting)
	}
	var a pdfArray
	for {
		t, err := l.token()
		if err != nil {
			return nil, damagedf("unterminated array: %v", err)
		}
		if t == tokArrayEnd {
			return a, nil
		}
		v, err := l.value(t, depth)
		if err != nil {
			return nil, err
		}
		if _, kw := v.(pdfKeyword); kw {
			return nil, damagedf("array element %v", v)
		}
		if !l.shortArrays || len(a) < 16 {
			a = append(a, v)
		}
	}
}
