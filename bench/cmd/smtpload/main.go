// Command smtpload sends one message file many times over parallel SMTP
// clients, one connection per message (as Postfix's smtp-source does with
// -s), and reports the rate and the accept latency: the time from the end
// of the data (the final dot) to the server's 250.
//
//	smtpload -addr 127.0.0.1:25 -clients 16 -messages 500 -file msg.eml \
//	    -from a@example.org -to 15551234567@fax.example.com [-accepted times.txt] [-gap 1.5s]
//
// It prints one line: messages, seconds, msgs/s, p50 and p99 latency in ms.
// With -accepted it writes, per message, the Unix time of its 250 in
// milliseconds, so a benchmark can pair it with what the server did next.
// With -gap the clients send one message at a time, that long apart.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	addr := flag.String("addr", "", "server host:port (required)")
	clients := flag.Int("clients", 1, "parallel clients")
	messages := flag.Int("messages", 100, "messages in all")
	file := flag.String("file", "", "message file, LF or CRLF line endings (required)")
	from := flag.String("from", "sender@example.org", "envelope sender")
	to := flag.String("to", "", "recipient (required)")
	accepted := flag.String("accepted", "", "write each 250's Unix time in ms to this file")
	gap := flag.Duration("gap", 0, "send one message at a time, this far apart")
	flag.Parse()
	if *addr == "" || *file == "" || *to == "" || *clients < 1 || *messages < 1 {
		fmt.Fprintln(os.Stderr, "smtpload: -addr, -file and -to are required; -clients and -messages must be positive")
		os.Exit(2)
	}
	raw, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smtpload:", err)
		os.Exit(1)
	}
	// The client's data writer turns LF into CRLF itself.
	body := bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))

	var (
		next  atomic.Int64
		mu    sync.Mutex
		lats  []time.Duration
		times []int64
		fail  atomic.Int64
		wg    sync.WaitGroup
	)
	if *gap > 0 {
		*clients = 1
	}
	start := time.Now()
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*messages) {
				if *gap > 0 && len(times) > 0 {
					time.Sleep(*gap)
				}
				lat, at, err := send(*addr, *from, *to, body)
				if err != nil {
					fmt.Fprintln(os.Stderr, "smtpload:", err)
					fail.Add(1)
					continue
				}
				mu.Lock()
				lats = append(lats, lat)
				times = append(times, at.UnixMilli())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if fail.Load() > 0 {
		fmt.Fprintf(os.Stderr, "smtpload: %d of %d messages failed\n", fail.Load(), *messages)
		os.Exit(1)
	}
	if *accepted != "" {
		var b strings.Builder
		for _, t := range times {
			fmt.Fprintln(&b, t)
		}
		if err := os.WriteFile(*accepted, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "smtpload:", err)
			os.Exit(1)
		}
	}
	slices.Sort(lats)
	ms := func(q float64) float64 {
		return float64(lats[int(q*float64(len(lats)-1)+0.5)]) / float64(time.Millisecond)
	}
	fmt.Printf("%d %.3f %.1f %.2f %.2f\n", len(lats), secs, float64(len(lats))/secs, ms(0.50), ms(0.99))
}

// send delivers one message on a new connection and returns the time from
// its final dot to the 250, and the time of the 250.
func send(addr, from, to string, body []byte) (time.Duration, time.Time, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, time.Time{}, err
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("load.localdomain"); err != nil {
		return 0, time.Time{}, err
	}
	if err := c.Mail(from, nil); err != nil {
		return 0, time.Time{}, err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return 0, time.Time{}, err
	}
	w, err := c.Data()
	if err != nil {
		return 0, time.Time{}, err
	}
	if _, err := w.Write(body); err != nil {
		return 0, time.Time{}, err
	}
	t0 := time.Now()
	if err := w.Close(); err != nil {
		return 0, time.Time{}, err
	}
	at := time.Now()
	if err := c.Quit(); err != nil {
		return 0, time.Time{}, err
	}
	return at.Sub(t0), at, nil
}
