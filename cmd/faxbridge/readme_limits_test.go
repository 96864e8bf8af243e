package main

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/faxbridge/faxbridge/config"
)

// The README's security section lists every limit a hostile or broken
// client meets, with its default (issue 9). Each key below must be named
// there, and each `section.key = value` written there must be the default
// that a configuration leaving the key out gets.
func TestReadmeListsLimitsWithDefaults(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "### Limits against hostile and broken clients")
	end := strings.Index(text, "### Recommended setup")
	if start < 0 || end < start {
		t.Fatal("the README has no section \"Limits against hostile and broken clients\" before \"Recommended setup\"")
	}
	sec := text[start:end]
	for _, key := range []string{
		"smtp.max_message_bytes", "smtp.max_recipients", "smtp.max_line_length",
		"smtp.max_sessions", "smtp.max_sessions_per_client", "smtp.trusted_sessions",
		"smtp.start_timeout", "smtp.data_timeout", "smtp.read_timeout", "smtp.write_timeout",
		"smtp.auth_max_failures", "smtp.auth_lockout", "smtp.auth_user_max_failures",
		"faxes_per_hour", "faxes_per_day", "pages_per_hour", "pages_per_day", "mx.replay_window",
		"http.read_timeout", "http.write_timeout", "http.idle_timeout", "http.max_connections",
		"inbound.max_document_bytes", "inbound.download_timeout",
		"fax.max_message_pixels", "fax.max_document_bytes", "fax.max_pages", "fax.parallel_builds",
	} {
		if !strings.Contains(sec, "`"+key) {
			t.Errorf("the README's limits do not name %s", key)
		}
	}

	defaults := config.Defaults()
	defaults.Check() // derives the shares of max_sessions
	pairs := regexp.MustCompile("`([a-z_]+)\\.([a-z_]+) = ([^`]+)`").FindAllStringSubmatch(sec, -1)
	if len(pairs) < 15 {
		t.Fatalf("found %d `key = default` pairs in the README's limits", len(pairs))
	}
	for _, p := range pairs {
		c := config.Defaults()
		if _, err := toml.Decode("["+p[1]+"]\n"+p[2]+" = "+p[3]+"\n", &c); err != nil {
			t.Errorf("%s: %v", p[0], err)
			continue
		}
		c.Check()
		if !reflect.DeepEqual(c, defaults) {
			t.Errorf("the README says %s, which is not the default", p[0])
		}
	}
}
