package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInboundRoutesChecked(t *testing.T) {
	route := func(number string, to ...string) InboundRoute { return InboundRoute{Number: number, MailTo: to} }
	tests := []struct {
		name     string
		routes   []InboundRoute
		unrouted []string
		want     []string // fragments of the expected problems; none when valid
	}{
		{"valid", []InboundRoute{route("+15551230000", "Desk <desk@example.com>", "b@example.com"), route("*", "all@example.com")}, []string{"ops@example.com"}, nil},
		{"not E.164", []InboundRoute{route("5551230000", "a@example.com")}, nil, []string{`inbound.routes[0].number "5551230000"`}},
		{"twice", []InboundRoute{route("*", "a@example.com"), route("*", "b@example.com")}, nil, []string{`inbound.routes[1].number "*" has a route already`}},
		{"no address", []InboundRoute{route("+15551230000")}, nil, []string{"inbound.routes[0].mail_to is empty"}},
		{"bad address", []InboundRoute{route("+15551230000", "desk at example")}, []string{"nobody"}, []string{
			`inbound.routes[0].mail_to: "desk at example"`, `inbound.unrouted_mail_to: "nobody"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			c.Inbound.Routes, c.Inbound.UnroutedMailTo = tt.routes, tt.unrouted
			probs := c.Check()
			if len(probs) != len(tt.want) {
				t.Fatalf("problems %q, want %d", probs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(probs[i], w) {
					t.Errorf("problem %q lacks %q", probs[i], w)
				}
			}
		})
	}
}

func TestInboundLimitsChecked(t *testing.T) {
	c := valid()
	c.Inbound.PollEvery = Duration{time.Second}
	c.Inbound.LinkTTL = Duration{30 * 24 * time.Hour}
	c.Inbound.MaxAttachmentBytes = 10
	c.Inbound.PageSize = "tabloid"
	got := strings.Join(c.Check(), "\n")
	for _, w := range []string{"inbound.poll_every", "inbound.link_ttl", "inbound.max_attachment_bytes", "inbound.page_size"} {
		if !strings.Contains(got, w) {
			t.Errorf("no problem names %s:\n%s", w, got)
		}
	}
}

// The defaults the issue names, and a file with a route loads with them.
func TestInboundDefaultsAndLoad(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `api_token = ""`, `api_token = "tok"`, 1)
	s = strings.Replace(s, `signing_key = ""`, `signing_key = "PSK_x"`, 1)
	s += "\n[[inbound.routes]]\nnumber = \"+15551230000\"\nmail_to = [\"desk@example.com\"]\n"
	cfg, err := Load(write(t, t.TempDir(), "f.toml", s))
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Inbound
	if !in.Enabled() || in.PollEvery.Duration != 5*time.Minute || in.MaxAttachmentBytes != 20<<20 || !in.FailureNotices || in.Routes[0].MailTo[0] != "desk@example.com" {
		t.Errorf("inbound: %+v", in)
	}
	if d := Defaults(); d.Inbound.Enabled() {
		t.Error("receiving must be off until a route is configured")
	}
}
