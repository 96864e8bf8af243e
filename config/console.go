package config

import (
	"fmt"
	"net"
	"time"
)

// Console configures the web console: its own listener, for an office
// network or localhost, apart from the HTTP listener that faces the fax
// provider. Listen empty turns it off.
type Console struct {
	Listen string `toml:"listen"`
	// TLS serves HTTPS with the SMTP certificate (smtp.cert_file and
	// smtp.key_file); session cookies are then marked Secure.
	TLS bool `toml:"tls"`
	// IdleTimeout ends a session not used for this long; MaxAge ends any
	// session this long after sign-in.
	IdleTimeout Duration `toml:"idle_timeout"`
	MaxAge      Duration `toml:"max_age"`
}

// Console roles of a [[users]] entry.
const (
	ConsoleAdmin = "admin" // every fax, every action
	ConsoleUser  = "user"  // only the faxes the user sent
)

func consoleDefaults() Console {
	return Console{IdleTimeout: Duration{30 * time.Minute}, MaxAge: Duration{12 * time.Hour}}
}

func (c *Config) checkConsole() Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	cs := &c.Console
	for i, u := range c.Users {
		switch u.Console {
		case "", ConsoleAdmin, ConsoleUser:
		default:
			add("users[%d] (%s): console %q must be \"admin\", \"user\" or left out", i, u.Name, u.Console)
		}
	}
	if cs.Listen == "" {
		return p
	}
	if _, _, err := net.SplitHostPort(cs.Listen); err != nil {
		add("console.listen %q is not host:port", cs.Listen)
	}
	if cs.TLS && (c.SMTP.CertFile == "" || c.SMTP.KeyFile == "") {
		add("console.tls needs smtp.cert_file and smtp.key_file")
	}
	if cs.IdleTimeout.Duration < time.Minute {
		add("console.idle_timeout must be at least 1m")
	}
	if cs.MaxAge.Duration < cs.IdleTimeout.Duration {
		add("console.max_age must be at least console.idle_timeout")
	}
	signIn := false
	for _, u := range c.Users {
		signIn = signIn || u.Console != ""
	}
	if !signIn {
		add("console.listen is set but no [[users]] entry has console = \"admin\" or \"user\": nobody could sign in")
	}
	return p
}
