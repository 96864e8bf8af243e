package senderauth

import (
	"context"
	"crypto"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// bodyGen produces n bytes of a base64-looking body without holding them.
type bodyGen struct{ n, off int64 }

const genLine = "JVBERi0xLjcKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29k\r\n"

func (g *bodyGen) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	if rest := g.n - g.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	for i := range p {
		p[i] = genLine[(g.off+int64(i))%int64(len(genLine))]
	}
	g.off += int64(len(p))
	return len(p), nil
}

// signedStream returns a function that opens the same signed message of
// size body bytes as often as needed, signing it once by streaming.
func signedStream(tb testing.TB, key crypto.Signer, size int64) func() io.Reader {
	tb.Helper()
	header := "From: alice@example.com\r\nTo: 15551234567@fax.example.com\r\nSubject: big scan\r\n\r\n"
	s, err := dkim.NewSigner(&dkim.SignOptions{Domain: "example.com", Selector: "ed", Signer: key})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(s, io.MultiReader(strings.NewReader(header), &bodyGen{n: size})); err != nil {
		tb.Fatal(err)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	sig := s.Signature()
	return func() io.Reader {
		return io.MultiReader(strings.NewReader(sig+header), &bodyGen{n: size})
	}
}

// peakHeap samples the live heap as the message is read.
type peakHeap struct {
	r     io.Reader
	since int
	peak  uint64
}

func (p *peakHeap) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.since += n
	if p.since >= 1<<20 || err != nil {
		p.since = 0
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		p.peak = max(p.peak, ms.HeapAlloc)
	}
	return n, err
}

func TestLargeMessageIsStreamed(t *testing.T) {
	const size = 20 << 20
	f := newFixture(t)
	open := signedStream(t, f.edKey, size)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ph := &peakHeap{r: open()}
	res, err := Verify(context.Background(), Input{RemoteIP: net.ParseIP("203.0.113.5")}, ph, f.dns)
	if err != nil {
		t.Fatal(err)
	}
	if !res.DKIMAligned || res.DMARC != DMARCPass {
		t.Fatalf("20 MB signed message: %s", res)
	}
	// Holding the body would put at least its 20 MB on the heap at once;
	// streaming keeps it to buffers and garbage awaiting collection.
	if grew := int64(ph.peak) - int64(ms.HeapAlloc); grew > 10<<20 {
		t.Errorf("heap grew by %d MB while verifying a %d MB message", grew>>20, size>>20)
	}
}

func BenchmarkVerify(b *testing.B) {
	const size = 4 << 20
	f := newFixture(b)
	open := signedStream(b, f.edKey, size)
	in := Input{RemoteIP: net.ParseIP("192.0.2.10"), MailFrom: "alice@example.com"}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		res, err := Verify(context.Background(), in, open(), f.dns)
		if err != nil || res.DMARC != DMARCPass {
			b.Fatalf("%v %v", res, err)
		}
	}
}
