// Package mailparse walks a MIME message as a stream and reports the parts a
// fax gateway may want: every leaf that is not a text or HTML body, sniffed by
// its magic bytes, with documents spooled to disk. It never holds a whole part
// or message in memory and it tolerates the malformed mail real clients send.
package mailparse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	faxbridge "github.com/faxbridge/faxbridge"
)

// Kind is what a part's bytes are, judged by their magic bytes only.
type Kind string

// Kinds of part content.
const (
	KindPDF   Kind = "pdf"
	KindTIFF  Kind = "tiff"
	KindJPEG  Kind = "jpeg"
	KindPNG   Kind = "png"
	KindOther Kind = "other"
)

// Part is one leaf of the message that is not a text or HTML body.
type Part struct {
	Index        int    // position among all leaves of the message, depth-first, bodies included
	Name         string // decoded file name, "" if none
	DeclaredType string // Content-Type as declared, lower-case, without parameters
	Disposition  string // "attachment", "inline" or ""
	InRelated    bool   // inside a multipart/related, and not its root part
	ContentID    string // without the angle brackets, so it matches a cid: URL
	Kind         Kind   // by magic bytes only
	Path         string // spooled copy on disk, set only when Kind != KindOther
	Size         int64  // decoded bytes
	SHA256       string // hex, of the decoded bytes
	Depth        int    // 0 for the message itself, +1 per multipart or message/rfc822 level
}

// Message is what the walk learnt about a message.
type Message struct {
	From          string // address from the From header, "" if none or unparseable
	FromName      string
	Subject       string // decoded
	MessageID     string // with angle brackets as in the header, "" when missing
	Date          time.Time
	AutoSubmitted string // Auto-Submitted header value, lower-case
	Precedence    string // Precedence header value, lower-case (bulk, junk, list)
	IsReport      bool   // multipart/report or a DSN/MDN: never fax, never answer
	Text          string // the first text/plain body, UTF-8, at most TextLimit bytes
	Parts         []Part // every leaf except the text/plain and text/html bodies
}

// Options bound the walk.
type Options struct {
	SpoolDir string // where documents are spooled; "" for the system temp dir
	MaxParts int    // entities (leaves and containers) allowed; default 100
	MaxDepth int    // nesting allowed; deeper entities are skipped; default 10
}

// TextLimit caps Message.Text: the text only feeds a cover page.
const TextLimit = 64 << 10

// maxHeaderBytes caps one header block so a header without an end cannot
// make the walk buffer the message.
const maxHeaderBytes = 1 << 20

// errPanic marks an error made from a recovered panic, so tests can tell a
// parser bug from a refused message.
var errPanic = errors.New("mailparse: recovered panic")

// Parse reads a message from r and walks it. Documents found are spooled to
// files in opt.SpoolDir which the caller removes with Message.Remove. A read
// error from r itself is returned as is (the SMTP layer needs to recognise
// its own errors); a message of which nothing can be read is an
// faxbridge.Error with code EBadContent.
func Parse(r io.Reader, opt Options) (msg *Message, err error) {
	if opt.MaxParts <= 0 {
		opt.MaxParts = 100
	}
	if opt.MaxDepth <= 0 {
		opt.MaxDepth = 10
	}
	src := &sourceReader{r: r}
	w := &walker{opt: opt, src: src, msg: &Message{}}
	defer func() {
		if p := recover(); p != nil {
			err = &faxbridge.Error{
				Code:    faxbridge.EBadContent,
				Message: "the message could not be read as MIME: its structure is too damaged",
				Err:     fmt.Errorf("%w: %v", errPanic, p),
			}
		}
		if err != nil {
			_ = w.msg.Remove()
			msg = nil
		}
	}()
	if err := w.top(bufio.NewReaderSize(src, readBufSize)); err != nil {
		return nil, err
	}
	// Drain what the walk did not need (an epilogue, a skipped subtree) so
	// the caller's stream ends where the message ends and its errors (such as
	// a size limit) surface here.
	if _, err := io.Copy(io.Discard, src); err != nil && src.err == nil {
		return nil, fmt.Errorf("drain message: %w", err)
	}
	if src.err != nil {
		return nil, src.err
	}
	return w.msg, nil
}

// Remove deletes the spooled files. Removing twice is not an error.
func (m *Message) Remove() error {
	var errs []error
	for _, p := range m.Parts {
		if p.Path == "" {
			continue
		}
		if err := os.Remove(p.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sourceReader remembers the first error of the caller's reader, so the walk
// can tell it from the damage it tolerates inside the message.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

func badContent(reason string) error {
	return &faxbridge.Error{
		Code:    faxbridge.EBadContent,
		Message: "the message could not be read as MIME: " + reason,
	}
}
