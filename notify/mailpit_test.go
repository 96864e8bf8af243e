package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/internal/testenv"
)

// TestMailpit sends reports through a real Mailpit and reads them back
// through its API. It needs FAXBRIDGE_TEST_MAILPIT_SMTP (host:port) and
// FAXBRIDGE_TEST_MAILPIT_API (http://host:port); Mailpit should accept any
// login (--smtp-auth-accept-any --smtp-auth-allow-insecure) for the AUTH case.
func TestMailpit(t *testing.T) {
	smtpAddr, api := os.Getenv("FAXBRIDGE_TEST_MAILPIT_SMTP"), os.Getenv("FAXBRIDGE_TEST_MAILPIT_API")
	if smtpAddr == "" || api == "" {
		// No server named: start a real Mailpit (testenv skips, or fails
		// under FAXBRIDGE_REQUIRE_REAL, without its binary).
		m := testenv.Mailpit(t)
		smtpAddr, api = m.SMTPAddr, m.APIURL
	}
	api = strings.TrimRight(api, "/")

	tests := []struct {
		name string
		cfg  RelayConfig
		user string
	}{
		{"plain", RelayConfig{Addr: smtpAddr, TLS: TLSNone}, ""},
		{"auth", RelayConfig{Addr: smtpAddr, TLS: TLSNone, Username: "reports", Password: "relay-pw"}, "reports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRelay(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			rep := reports()["nonascii"]
			j := *rep.Job
			j.ID = faxbridge.NewID() // tells our message apart in a shared Mailpit
			rep.Job = &j
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := r.Notify(ctx, rep); err != nil {
				if tt.user != "" && faxbridge.ErrorCode(err) == faxbridge.EUnauthorized {
					testenv.Missing(t, "Mailpit refused the login (start it with --smtp-auth-accept-any): %v", err)
				}
				t.Fatalf("Notify: %v", err)
			}

			id := findMailpit(ctx, t, api, j.ID+".report@gw.example")
			t.Cleanup(func() { deleteMailpit(t, api, id) })

			var got struct {
				MessageID  string
				Subject    string
				ReturnPath string
				Username   string
				Text       string
				From       struct{ Address string }
				To         []struct{ Name, Address string }
			}
			getJSON(ctx, t, api+"/api/v1/message/"+url.PathEscape(id), &got)
			if got.Subject != Subject(&j) {
				t.Errorf("Subject = %q, want %q", got.Subject, Subject(&j))
			}
			if got.From.Address != "fax@gw.example" || got.ReturnPath != "fax@gw.example" {
				t.Errorf("From %q, Return-Path %q, want fax@gw.example", got.From.Address, got.ReturnPath)
			}
			if len(got.To) != 1 || got.To[0].Address != "jm@praxis.example" || got.To[0].Name != "Jürgen Müller" {
				t.Errorf("To = %+v, want Jürgen Müller <jm@praxis.example>", got.To)
			}
			if got.Username != tt.user {
				t.Errorf("Mailpit saw login %q, want %q", got.Username, tt.user)
			}
			text := strings.ReplaceAll(got.Text, "\r\n", "\n")
			for _, want := range []string{
				"Your fax to Büro Köln (+4922112345678) was delivered.",
				`"Überweisung für Frau Größe – dringend"`,
				"Überweisung_März.pdf, 1 page",
				"SHA-256 " + strings.Repeat("c3", 32),
				fmt.Sprintf("%-*s%s", labelWidth, "Job ID:", j.ID),
			} {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
			}

			var headers map[string][]string
			getJSON(ctx, t, api+"/api/v1/message/"+url.PathEscape(id)+"/headers", &headers)
			for k, want := range map[string]string{
				"Auto-Submitted":  "auto-replied",
				"X-Faxbridge-Job": j.ID,
				"In-Reply-To":     j.MessageID,
				"References":      j.MessageID,
			} {
				if v := headers[k]; len(v) != 1 || v[0] != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
		})
	}
}

// findMailpit waits for the message with msgID and returns its Mailpit ID.
// Mailpit may index a message a moment after accepting it, so this polls.
func findMailpit(ctx context.Context, t *testing.T, api, msgID string) string {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var list struct {
			Messages []struct{ ID, MessageID string }
		}
		getJSON(ctx, t, api+"/api/v1/search?query="+url.QueryEscape("message-id:"+msgID), &list)
		for _, m := range list.Messages {
			if m.MessageID == msgID {
				return m.ID
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Mailpit has no message %s", msgID)
		case <-tick.C:
		}
	}
}

func getJSON(ctx context.Context, t *testing.T, u string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func deleteMailpit(t *testing.T, api, id string) {
	body, _ := json.Marshal(map[string][]string{"IDs": {id}})
	req, err := http.NewRequest(http.MethodDelete, api+"/api/v1/messages", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("delete from Mailpit: %v", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("delete from Mailpit: %s", resp.Status)
	}
}
