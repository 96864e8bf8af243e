// Command sink is the least an SMTP server can do, as a yardstick for the
// benchmark: go-smtp receives each message and writes it to its own file,
// with -fsync flushed to disk before the 250 (a durable accept, like
// Postfix's and faxbridge's), without it left to the page cache. No parsing,
// no database.
//
//	sink -addr 127.0.0.1:2525 -dir /tmp/sink [-fsync]
//
// It prints its address once it listens and serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/emersion/go-smtp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	dir := flag.String("dir", "", "directory for the messages (required)")
	sync := flag.Bool("fsync", false, "fsync each message before the 250")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "sink: -dir is required")
		os.Exit(2)
	}
	srv := smtp.NewServer(backend{dir: *dir, sync: *sync})
	srv.Domain = "sink.localdomain"
	srv.MaxMessageBytes = 64 << 20
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		os.Exit(1)
	}
}

type backend struct {
	dir  string
	sync bool
}

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return session(b), nil }

type session backend

func (session) Mail(string, *smtp.MailOptions) error { return nil }
func (session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (session) Reset()                               {}
func (session) Logout() error                        { return nil }

func (s session) Data(r io.Reader) error {
	f, err := os.CreateTemp(s.dir, "msg-*")
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if s.sync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	// Like a queue that delivers at once: the file goes, its cost stays.
	return os.Remove(f.Name())
}
