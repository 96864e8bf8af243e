package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Missing is how a test says that something it needs (a program, a
// package, a file, a network address) is not available here. Outside the
// full suite it skips the test with that reason; under the full suite
// (FAXBRIDGE_REQUIRE_REAL=1) it fails the test instead, so that a green
// full run means every test really ran. It does not return.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if RequireReal() {
		t.Fatalf("%s; %s=1 requires this test to run", reason, EnvRequireReal)
		return
	}
	t.Skipf("%s", reason)
}

// Tool returns the path of the program a test runs: the one the
// environment variable env names when it is set, otherwise name as found
// on PATH (env "" means PATH only). A program that is nowhere is Missing;
// a path in env that does not exist is always a failure, since someone
// meant the test to run.
func Tool(t testing.TB, env, name string) string {
	t.Helper()
	if env == "" {
		p, err := exec.LookPath(name)
		if err != nil {
			Missing(t, "%s is not installed (scripts/test installs it)", name)
			return ""
		}
		return p
	}
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", env, p, err)
		}
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not installed (put it on PATH or set %s)", name, env)
		return ""
	}
	return p
}
