package config

import (
	"fmt"
	"net"
	"time"
)

// checkHardening checks the limits that keep one hostile or broken client
// from taking the gateway's capacity.
func (c *Config) checkHardening() Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	s := &c.SMTP
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
