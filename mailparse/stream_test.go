package mailparse

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
)

// blockReader produces a base64 body of n 57-byte blocks (76 characters per
// line) without holding it, so the test itself stays small.
type blockReader struct {
	n, i int
	buf  []byte
	line []byte
	blk  [57]byte
}

func (b *blockReader) block(i int) []byte {
	for j := 0; j < len(b.blk); j += 3 {
		b.blk[j], b.blk[j+1], b.blk[j+2] = byte(i), byte(i>>8), byte(i>>16)
	}
	if i == 0 {
		copy(b.blk[:], "%PDF-1.4\n")
	}
	return b.blk[:]
}

func (b *blockReader) Read(p []byte) (int, error) {
	if len(b.line) == 0 {
		if b.i == b.n {
			return 0, io.EOF
		}
		b.buf = append(base64.StdEncoding.AppendEncode(b.buf[:0], b.block(b.i)), '\r', '\n')
		b.line = b.buf
		b.i++
	}
	n := copy(p, b.line)
	b.line = b.line[n:]
	return n, nil
}

func TestParseStreamsLargePart(t *testing.T) {
	if testing.Short() {
		t.Skip("large part")
	}
	const blocks = 4 << 20 / 57 // about 4 MiB decoded per part
	want := sha256.New()
	var gen blockReader
	for i := range blocks {
		want.Write(gen.block(i))
	}
	msg := io.MultiReader(
		strings.NewReader("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
		&blockReader{n: blocks},
		strings.NewReader("--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
		&blockReader{n: blocks}, // starts with %PDF too: a second spooled copy
		strings.NewReader("--b--\r\n"),
	)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := Parse(msg, Options{SpoolDir: t.TempDir()})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Remove()
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB while parsing 2 x %d MiB", alloc>>10, blocks*57>>20)
	if alloc > 1<<20 {
		t.Errorf("allocated %d bytes: the walk buffers part bodies", alloc)
	}
	if len(m.Parts) != 2 {
		t.Fatalf("parts: %+v", m.Parts)
	}
	for _, p := range m.Parts {
		if p.Size != blocks*57 || p.SHA256 != hex.EncodeToString(want.Sum(nil)) || p.Kind != KindPDF {
			t.Errorf("part %+v", p)
		}
		if fi, err := os.Stat(p.Path); err != nil || fi.Size() != p.Size {
			t.Errorf("spooled file: %v %v", fi, err)
		}
	}
}
