package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/textproto"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MailpitServer is a private Mailpit: an SMTP server that accepts any
// message (and any credentials) and shows what it got through a REST API.
type MailpitServer struct {
	SMTPAddr string // host:port of its SMTP listener
	APIURL   string // http://host:port of its HTTP API, no trailing slash

	t    testing.TB
	proc *process
}

// MailSummary is one message as listed by Mailpit.
type MailSummary struct {
	ID        string // Mailpit's own ID, for Message
	MessageID string // the Message-ID header, without angle brackets
	From      mail.Address
	To        []mail.Address
	Cc        []mail.Address
	Subject   string
	Created   time.Time // when Mailpit received it
}

// MailMessage is one message in full, as Mailpit parsed it.
type MailMessage struct {
	ID          string
	MessageID   string
	From        mail.Address
	To          []mail.Address
	Cc          []mail.Address
	Bcc         []mail.Address
	ReplyTo     []mail.Address
	ReturnPath  string // the envelope sender
	Subject     string
	Date        time.Time
	Text        string // the text/plain body
	HTML        string // the text/html body
	Size        int
	Attachments []MailPart
	Inline      []MailPart
	// Headers holds every header field by canonical name (see Header).
	Headers map[string][]string
}

// MailPart is an attachment or inline part; fetch its bytes with Part.
type MailPart struct {
	PartID      string
	FileName    string
	ContentType string
	ContentID   string
	Size        int
}

// Header returns the first value of the named header field, matched without
// regard to case, or "".
func (m MailMessage) Header(name string) string {
	if v := m.Headers[textproto.CanonicalMIMEHeaderKey(name)]; len(v) > 0 {
		return v[0]
	}
	for k, v := range m.Headers {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// Mailpit starts a Mailpit server for the test and stops it in t.Cleanup. It
// skips the test when FAXBRIDGE_MAILPIT_BIN is unset (fails under RequireReal).
func Mailpit(t testing.TB) *MailpitServer {
	t.Helper()
	bin := lookPath(t, EnvMailpit, "Mailpit")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "mailpit.log")
	logOnFailure(t, "mailpit", logPath)

	return launch(t, "mailpit", func() (*MailpitServer, *process) {
		smtpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
		httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
		m := &MailpitServer{SMTPAddr: smtpAddr, APIURL: "http://" + httpAddr, t: t}
		apiReady := httpOK(m.APIURL + "/livez")
		smtpReady := tcpOpen(smtpAddr)
		m.proc = &process{
			name: "mailpit",
			path: bin,
			args: []string{
				"--smtp", smtpAddr,
				"--listen", httpAddr,
				"--database", filepath.Join(dir, "mailpit.db"),
				// Accept whatever AUTH a client under test offers, over
				// plain TCP: the tests check what is sent, not the relay.
				"--smtp-auth-accept-any",
				"--smtp-auth-allow-insecure",
				"--smtp-disable-rdns",
				"--disable-version-check",
			},
			logPath: logPath,
			// The HTTP and SMTP listeners come up separately; both must answer.
			ready: func(ctx context.Context) error {
				if err := apiReady(ctx); err != nil {
					return err
				}
				return smtpReady(ctx)
			},
		}
		return m, m.proc
	})
}

// Stop shuts the server down (SIGTERM, then waits) to simulate a relay
// outage. Stopping a stopped server does nothing.
func (m *MailpitServer) Stop() {
	m.t.Helper()
	if err := m.proc.stop(); err != nil {
		m.t.Fatalf("stop mailpit: %v", err)
	}
}

// Start starts a stopped server again on the same ports and database (the
// messages received before the outage are still there) and waits for it.
func (m *MailpitServer) Start() {
	m.t.Helper()
	if err := m.proc.start(); err != nil {
		m.t.Fatalf("restart mailpit: %v", err)
	}
}

// apiTimeout bounds one API call; Mailpit answers in milliseconds.
const apiTimeout = 10 * time.Second

// get fetches path from the API; a status other than 200 is an error.
func (m *MailpitServer) get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.APIURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", path, resp.Status, b)
	}
	return b, nil
}

func (m *MailpitServer) getJSON(ctx context.Context, path string, v any) error {
	b, err := m.get(ctx, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return nil
}

// messages lists every stored message, oldest first.
func (m *MailpitServer) messages(ctx context.Context) ([]MailSummary, error) {
	const pageSize = 200
	var all []MailSummary
	for {
		var page struct {
			Total    int           `json:"total"`
			Messages []MailSummary `json:"messages"`
		}
		path := fmt.Sprintf("/api/v1/messages?start=%d&limit=%d", len(all), pageSize)
		if err := m.getJSON(ctx, path, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Messages...)
		if len(page.Messages) == 0 || len(all) >= page.Total {
			break
		}
	}
	// Mailpit lists newest first; tests read more naturally in arrival order.
	slices.Reverse(all)
	return all, nil
}

// Messages returns every message the server has received, oldest first.
func (m *MailpitServer) Messages(t testing.TB) []MailSummary {
	t.Helper()
	msgs, err := m.messages(context.Background())
	if err != nil {
		t.Fatalf("mailpit messages: %v", err)
	}
	return msgs
}

// WaitMessages polls until the server holds at least n messages and returns
// them all (oldest first), failing the test after timeout. Check the count
// yourself if more than n would be wrong.
func (m *MailpitServer) WaitMessages(t testing.TB, n int, timeout time.Duration) []MailSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var (
		msgs []MailSummary
		err  error
	)
	for {
		msgs, err = m.messages(ctx)
		if err == nil && len(msgs) >= n {
			return msgs
		}
		select {
		case <-ctx.Done():
			subjects := make([]string, len(msgs))
			for i, s := range msgs {
				subjects[i] = strconv.Quote(s.Subject)
			}
			t.Fatalf("mailpit: want %d messages within %v, have %d %v (last error: %v)",
				n, timeout, len(msgs), subjects, err)
		case <-tick.C:
		}
	}
}

// Message returns the message with Mailpit ID id, headers included.
func (m *MailpitServer) Message(t testing.TB, id string) MailMessage {
	t.Helper()
	ctx := context.Background()
	var msg MailMessage
	if err := m.getJSON(ctx, "/api/v1/message/"+url.PathEscape(id), &msg); err != nil {
		t.Fatalf("mailpit message %s: %v", id, err)
	}
	if err := m.getJSON(ctx, "/api/v1/message/"+url.PathEscape(id)+"/headers", &msg.Headers); err != nil {
		t.Fatalf("mailpit message %s headers: %v", id, err)
	}
	return msg
}

// Raw returns the message exactly as it was received.
func (m *MailpitServer) Raw(t testing.TB, id string) []byte {
	t.Helper()
	b, err := m.get(context.Background(), "/api/v1/message/"+url.PathEscape(id)+"/raw")
	if err != nil {
		t.Fatalf("mailpit raw message %s: %v", id, err)
	}
	return b
}

// Part returns the decoded bytes of one part (an attachment's PartID).
func (m *MailpitServer) Part(t testing.TB, id, partID string) []byte {
	t.Helper()
	b, err := m.get(context.Background(), "/api/v1/message/"+url.PathEscape(id)+"/part/"+url.PathEscape(partID))
	if err != nil {
		t.Fatalf("mailpit message %s part %s: %v", id, partID, err)
	}
	return b
}
