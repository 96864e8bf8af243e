package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// sessions is the number of SMTP clients sending at once in BenchmarkAccept,
// the same as scripts/bench gives Postfix's smtp-source (-s 4).
const sessions = 4

// BenchmarkAccept sends a typical fax mail (a one-page PDF of about 100 KB,
// a 140 KB message) over 4 concurrent SMTP sessions and reports accepted
// messages per second. Each 250 comes only after the document is fsynced in
// local storage and the job committed to SQLite, as in production.
//
//   - accept-only: no worker runs; this is the cost of taking mail.
//   - with-worker: the worker submits each fax to an in-process SignalWire
//     simulator, serves the media and applies callbacks while mail keeps
//     arriving, as a busy daemon does. The simulator's own CPU and
//     allocations are in the numbers; faxes still in flight when the clock
//     stops are finished before the next round, outside the measurement.
//   - reference: a bare SMTP server that fsyncs each message to a file and
//     does nothing else (see startReference). Compare the others with it,
//     within one run: the machine's load moves all three alike.
//
// B/op and allocs/op are per message, for the whole process (client
// included).
func BenchmarkAccept(b *testing.B) {
	path, size := messageFile(b, b.TempDir(), 100_000)
	b.Run("reference", func(b *testing.B) {
		addr := startReference(b)
		b.SetBytes(size)
		b.ReportAllocs()
		send(b, addr, path, sessions)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	for _, bc := range []struct {
		name string
		opt  daemonOptions
	}{
		{"accept-only", daemonOptions{}},
		{"with-worker", daemonOptions{worker: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := startDaemon(b, bc.opt)
			b.SetBytes(size)
			b.ReportAllocs()
			send(b, d.smtpAddr, path, sessions)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if bc.opt.worker {
				d.waitIdle(b, 5*time.Minute)
			}
		})
	}
}

// BenchmarkAcceptSizes sends one message at a time carrying PDFs of growing
// size, and reports MB/s of message, B/op, and how far the process's peak
// resident memory rose above where it started (rss-growth-MiB, from VmHWM
// after resetting it). The SMTP stream, MIME decoding, spooling, hashing and
// storage are streamed; what still grows with the document is pdfcpu's
// validation, which reads the whole PDF into memory.
func BenchmarkAcceptSizes(b *testing.B) {
	dir := b.TempDir()
	for _, mb := range []struct {
		name string
		size int
	}{
		{"100KB", 100_000},
		{"5MB", 5_000_000},
		{"30MB", 30_000_000},
	} {
		path, size := messageFile(b, dir, pdfSizeFor(mb.size))
		b.Run(mb.name, func(b *testing.B) {
			d := startDaemon(b, daemonOptions{})
			b.SetBytes(size)
			b.ReportAllocs()
			// Give back what earlier rounds left in the heap, so the
			// peak below is this message's.
			debug.FreeOSMemory()
			base, ok := rssKiB("VmRSS")
			ok = ok && resetPeakRSS()
			send(b, d.smtpAddr, path, 1)
			if peak, ok2 := rssKiB("VmHWM"); ok && ok2 {
				b.ReportMetric(float64(peak-base)/1024, "rss-growth-MiB")
			}
		})
	}
}

// send delivers b.N copies of the message at path over n concurrent SMTP
// sessions; the timer runs from the first MAIL FROM to the last 250.
func send(b *testing.B, addr, path string, n int) {
	b.Helper()
	clients := make([]*client, 0, n)
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	for range n {
		c, err := dial(addr, path)
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
	}
	var next atomic.Int64
	errs := make(chan error, n)
	var wg sync.WaitGroup
	b.ResetTimer()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := c.send(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// client is one SMTP session that sends the same message again and again.
type client struct {
	c *smtp.Client
	f *os.File
}

func dial(addr, path string) (*client, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := c.Hello("bench.client"); err != nil {
		c.Close()
		f.Close()
		return nil, err
	}
	return &client{c: c, f: f}, nil
}

func (c *client) send() error {
	if _, err := c.f.Seek(0, 0); err != nil {
		return err
	}
	if err := c.c.SendMail(sender, []string{faxRcpt}, c.f); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

func (c *client) close() {
	c.c.Quit()
	c.f.Close()
}

// resetPeakRSS resets the kernel's VmHWM of this process to its current
// resident size (Linux; false elsewhere).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// rssKiB reads a "Vm..." line of /proc/self/status, in KiB.
func rssKiB(field string) (int64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(k) != field {
			continue
		}
		v = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}
