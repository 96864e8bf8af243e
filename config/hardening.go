package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// checkHardening checks the limits that keep one hostile or broken client
// from taking the gateway's capacity.
func (c *Config) checkHardening() Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	s := &c.SMTP
	// Left out (0), the shares follow max_sessions: a tenth for one
	// client, a fifth kept for trusted networks.
	if s.MaxSessionsPerClient == 0 {
		s.MaxSessionsPerClient = max(1, s.MaxSessions/10)
	}
	if s.TrustedSessions == 0 {
		s.TrustedSessions = s.MaxSessions / 5
	}
	if s.MaxSessionsPerClient < 1 || (s.MaxSessions >= 1 && s.MaxSessionsPerClient > s.MaxSessions) {
		add("smtp.max_sessions_per_client must be 1 to smtp.max_sessions (%d)", s.MaxSessions)
	}
	if s.TrustedSessions < 0 || (s.MaxSessions >= 1 && s.TrustedSessions >= s.MaxSessions) {
		add("smtp.trusted_sessions must be 0 or more and less than smtp.max_sessions (%d)", s.MaxSessions)
	}
	if s.StartTimeout.Duration < time.Second {
		add("smtp.start_timeout must be at least 1s")
	}
	if s.AuthUserMaxFailures < s.AuthMaxFailures {
		add("smtp.auth_user_max_failures must be at least smtp.auth_max_failures (%d)", s.AuthMaxFailures)
	}
	if s.DataTimeout.Duration < time.Second {
		add("smtp.data_timeout must be at least 1s")
	}
	p = append(p, c.checkMXLimits()...)
	return append(p, c.checkHTTPLimits()...)
}

// Metrics says where Prometheus metrics are served. The HTTP listener faces
// the internet (the fax provider must reach it), so metrics are served there
// only to a request bearing Token; Listen gives them a listener of their own
// (on localhost or a management network), where Token is asked for too when
// set. With neither, metrics are not served.
type Metrics struct {
	Listen    string `toml:"listen"`
	Token     string `toml:"token"`
	TokenFile string `toml:"token_file"`
}

func (c *Config) checkHTTPLimits() Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	h := &c.HTTP
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"read_timeout", h.ReadTimeout.Duration}, {"write_timeout", h.WriteTimeout.Duration}, {"idle_timeout", h.IdleTimeout.Duration}} {
		if d.v < time.Second {
			add("http.%s must be at least 1s", d.key)
		}
	}
	if h.MaxConnections < 1 {
		add("http.max_connections must be at least 1")
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			add("metrics.listen %q is not host:port", c.Metrics.Listen)
		}
	}
	return p
}

// Warnings lists what works but exposes something: `check-config` prints
// them and `serve` logs them at start. path is the configuration file.
func (c *Config) Warnings(path string) []string {
	var w []string
	if len(c.inlineSecrets) > 0 {
		if m, ok := readableByOthers(path); ok {
			w = append(w, fmt.Sprintf("%s holds secrets (%s) and is readable by other users (mode %v); chmod 600 it, or move them to *_file keys",
				path, strings.Join(c.inlineSecrets, ", "), m))
		}
	}
	// TLS private keys are secrets too, though read by path, not by a
	// *_file key.
	files := append([]string{}, c.secretFiles...)
	for _, k := range []string{c.SMTP.KeyFile, c.HTTP.KeyFile} {
		if k != "" {
			files = append(files, k)
		}
	}
	for _, f := range files {
		if m, ok := readableByOthers(f); ok {
			w = append(w, fmt.Sprintf("secret file %s is readable by other users (mode %v); chmod 600 it", f, m))
		}
	}
	if insecureURL(c.HTTP.PublicURL) && c.HTTP.CertFile == "" {
		w = append(w, fmt.Sprintf("http.public_url %q is plain http: the provider's callbacks and the signed document URLs cross the internet unencrypted; put TLS in front (https)", c.HTTP.PublicURL))
	}
	if insecureURL(c.SignalWire.BaseURL) {
		w = append(w, fmt.Sprintf("signalwire.base_url %q is plain http: the API token and every document URL would cross the network unencrypted", c.SignalWire.BaseURL))
	}
	return w
}

// readableByOthers reports whether group or other users may read the file.
func readableByOthers(path string) (os.FileMode, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return fi.Mode().Perm(), fi.Mode().Perm()&0o044 != 0
}

// insecureURL reports a plain-http URL to anything but this host.
func insecureURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback()
}

// MXLimits bound what a sender proven on an mx listener may fax: quotas per
// sender address, like a user's, and a replay window: a message whose signed
// Message-ID was faxed within it is refused. Zero quotas mean no limit.
type MXLimits struct {
	ReplayWindow Duration `toml:"replay_window"`
	MaxPages     int      `toml:"max_pages"`
	FaxesPerHour int      `toml:"faxes_per_hour"`
	FaxesPerDay  int      `toml:"faxes_per_day"`
	PagesPerHour int      `toml:"pages_per_hour"`
	PagesPerDay  int      `toml:"pages_per_day"`
}

func (c *Config) checkMXLimits() Problems {
	var p Problems
	m := c.MX.MXLimits
	if m.ReplayWindow.Duration < time.Hour {
		p = append(p, "mx.replay_window must be at least 1h (a replayed message must not be faxed again)")
	}
	for _, n := range []int{m.MaxPages, m.FaxesPerHour, m.FaxesPerDay, m.PagesPerHour, m.PagesPerDay} {
		if n < 0 {
			p = append(p, "mx: limits must not be negative")
			break
		}
	}
	return p
}
