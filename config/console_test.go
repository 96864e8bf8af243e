package config

import (
	"strings"
	"testing"
	"time"
)

func TestConsoleProblems(t *testing.T) {
	admin := User{Name: "office", PasswordHash: testHash, Console: ConsoleAdmin}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"bad role", func(c *Config) { c.Users = []User{{Name: "u", PasswordHash: testHash, Console: "root"}} }, `console "root"`},
		{"bad listen", func(c *Config) { c.Users = []User{admin}; c.Console.Listen = "8081" }, "console.listen"},
		{"nobody may sign in", func(c *Config) { c.Console.Listen = "127.0.0.1:8081" }, "nobody could sign in"},
		{"tls without certificate", func(c *Config) {
			c.Users = []User{admin}
			c.Console.Listen, c.Console.TLS = "127.0.0.1:8081", true
		}, "console.tls needs"},
		{"short idle", func(c *Config) {
			c.Users = []User{admin}
			c.Console.Listen, c.Console.IdleTimeout = "127.0.0.1:8081", Duration{time.Second}
		}, "idle_timeout"},
		{"max age below idle", func(c *Config) {
			c.Users = []User{admin}
			c.Console.Listen, c.Console.MaxAge = "127.0.0.1:8081", Duration{time.Minute}
		}, "max_age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(c)
			if all := strings.Join(c.Check(), "\n"); !strings.Contains(all, tt.want) {
				t.Errorf("want a problem mentioning %q, got:\n%s", tt.want, all)
			}
		})
	}
	c := valid()
	c.Users = []User{admin}
	c.Console.Listen = "127.0.0.1:8081"
	if p := c.Check(); len(p) != 0 {
		t.Errorf("a valid console config has problems: %v", p)
	}
}
