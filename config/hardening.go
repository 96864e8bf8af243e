package config

import (
	"fmt"
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
	if s.DataTimeout.Duration < time.Second {
		add("smtp.data_timeout must be at least 1s")
	}
	return p
}
