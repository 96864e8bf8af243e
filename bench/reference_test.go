package bench

import (
	"io"
	"net"
	"os"
	"testing"

	"github.com/emersion/go-smtp"
)

// startReference starts the least a durable SMTP server can do: write each
// message to its own file and fsync it before the 250, as Postfix's cleanup
// does with its queue file, and nothing else (no parsing, no document, no
// database). Measured in the same run as faxbridge, it is the yardstick that
// machine noise does not move: faxbridge's rate divided by this one is its
// overhead over a bare durable write.
func startReference(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	srv := smtp.NewServer(refBackend{dir: dir})
	srv.Domain = "reference.example"
	srv.MaxMessageBytes = 50 << 20
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

type refBackend struct{ dir string }

func (b refBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return refSession(b), nil }

type refSession struct{ dir string }

func (refSession) Mail(string, *smtp.MailOptions) error { return nil }
func (refSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (refSession) Reset()                               {}
func (refSession) Logout() error                        { return nil }

func (s refSession) Data(r io.Reader) error {
	f, err := os.CreateTemp(s.dir, "msg-*")
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	return f.Sync()
}
