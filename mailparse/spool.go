package mailparse

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"os"
	"sync"
)

// sniffLen is how much of a part decides its kind: PDF readers accept up to
// 1024 bytes of junk before "%PDF-".
const sniffLen = 1024 + len("%PDF-")

// sniff classifies by magic bytes only; declared types and names lie.
func sniff(head []byte) Kind {
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return KindPNG
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return KindJPEG
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return KindTIFF
	}
	if i := bytes.Index(head, []byte("%PDF-")); i >= 0 && i <= sniffLen-len("%PDF-") {
		return KindPDF
	}
	return KindOther
}

// spool hashes and counts what is written to it and keeps a copy on disk
// only once the first bytes show a document; memory stays at sniffLen.
// spoolWriters and copyBufs keep the buffers of one spooled part for the
// next: a message otherwise allocates (and the collector clears and
// scans for) about a hundred kilobytes of them.
var (
	spoolWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
	copyBufs     = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
)

type spool struct {
	dir     string
	head    []byte
	decided bool
	kind    Kind
	f       *os.File
	w       *bufio.Writer // over f: decoders hand over one base64 line at a time
	h       hash.Hash
	n       int64
	werr    error
}

func (s *spool) Write(p []byte) (int, error) {
	if s.werr != nil {
		return 0, s.werr
	}
	if s.h == nil {
		s.h = sha256.New()
	}
	s.h.Write(p)
	s.n += int64(len(p))
	rest := p
	if !s.decided {
		take := min(sniffLen-len(s.head), len(rest))
		s.head = append(s.head, rest[:take]...)
		rest = rest[take:]
		if len(s.head) < sniffLen {
			return len(p), nil
		}
		if err := s.decide(); err != nil {
			s.werr = err
			return 0, err
		}
	}
	if s.w != nil && len(rest) > 0 {
		if _, err := s.w.Write(rest); err != nil {
			s.werr = err
			return 0, err
		}
	}
	return len(p), nil
}

// ext names spooled files so that an operator looking at the spool can
// open them.
func ext(k Kind) string {
	switch k {
	case KindPDF:
		return ".pdf"
	case KindTIFF:
		return ".tif"
	case KindJPEG:
		return ".jpg"
	case KindPNG:
		return ".png"
	}
	return ""
}

func (s *spool) decide() error {
	s.decided = true
	s.kind = sniff(s.head)
	if s.kind != KindOther {
		f, err := os.CreateTemp(s.dir, "part-*"+ext(s.kind))
		if err != nil {
			return err
		}
		s.f = f
		s.w = spoolWriters.Get().(*bufio.Writer)
		s.w.Reset(f)
		if _, err := s.w.Write(s.head); err != nil {
			return err
		}
	}
	s.head = nil
	return nil
}

type spooled struct {
	kind Kind
	path string
	size int64
	sum  string
}

func (p spooled) remove() error {
	if p.path == "" {
		return nil
	}
	return os.Remove(p.path)
}

// finish closes the copy. On error nothing is left on disk.
func (s *spool) finish() (spooled, error) {
	if s.h == nil {
		s.h = sha256.New()
	}
	var err error
	if !s.decided && s.werr == nil {
		err = s.decide()
	}
	p := spooled{kind: s.kind, size: s.n, sum: hex.EncodeToString(s.h.Sum(nil))}
	if p.kind == "" {
		p.kind = KindOther
	}
	if s.f != nil {
		p.path = s.f.Name()
		err = errors.Join(err, s.werr, s.w.Flush(), s.f.Close())
		s.w.Reset(nil)
		spoolWriters.Put(s.w)
		s.w = nil
		if err != nil {
			_ = os.Remove(p.path)
			p.path = ""
		}
	}
	return p, err
}
