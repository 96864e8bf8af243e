package testenv

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// verdictTB records whether a helper skipped or failed the test, instead
// of ending it.
type verdictTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (v *verdictTB) Helper() {}
func (v *verdictTB) Skipf(format string, args ...any) {
	v.skipped = true
	v.msg = fmt.Sprintf(format, args...)
}
func (v *verdictTB) Logf(string, ...any) {}
func (v *verdictTB) Fatalf(format string, args ...any) {
	v.failed = true
	v.msg = format
}

func TestMissingSkipsOrFails(t *testing.T) {
	for _, require := range []string{"", "1"} {
		t.Setenv(EnvRequireReal, require)
		v := &verdictTB{TB: t}
		Missing(v, "the %s program is not installed", "frob")
		if require == "1" {
			if !v.failed || v.skipped {
				t.Errorf("%s=1: failed %v, skipped %v; want a failure", EnvRequireReal, v.failed, v.skipped)
			}
			continue
		}
		if !v.skipped || v.failed || !strings.Contains(v.msg, "frob program is not installed") {
			t.Errorf("without %s: skipped %v (%q), failed %v; want a skip with the reason", EnvRequireReal, v.skipped, v.msg, v.failed)
		}
	}
}

func TestToolFindsOrMisses(t *testing.T) {
	t.Setenv(EnvRequireReal, "1")
	t.Setenv("FAXBRIDGE_TEST_NOSUCH_BIN", "")
	v := &verdictTB{TB: t}
	if p := Tool(v, "FAXBRIDGE_TEST_NOSUCH_BIN", "faxbridge-no-such-program"); p != "" || !v.failed {
		t.Errorf("absent program: path %q, failed %v; want a failure", p, v.failed)
	}
	// sh is on every machine that runs these tests.
	v = &verdictTB{TB: t}
	if p := Tool(v, "FAXBRIDGE_TEST_NOSUCH_BIN", "sh"); p == "" || v.failed || v.skipped {
		t.Errorf("sh: path %q, failed %v, skipped %v", p, v.failed, v.skipped)
	}
	// No variable: PATH only.
	v = &verdictTB{TB: t}
	if p := Tool(v, "", "faxbridge-no-such-program"); p != "" || !v.failed {
		t.Errorf("absent program, no variable: path %q, failed %v; want a failure", p, v.failed)
	}
	// A path named in the variable that does not exist always fails.
	t.Setenv(EnvRequireReal, "")
	t.Setenv("FAXBRIDGE_TEST_NOSUCH_BIN", filepath.Join(t.TempDir(), "gone"))
	v = &verdictTB{TB: t}
	Tool(v, "FAXBRIDGE_TEST_NOSUCH_BIN", "sh")
	if !v.failed {
		t.Error("a wrong path in the variable did not fail the test")
	}
}

func TestCorpusAbsentFailsOnlyUnderCI(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvCorpus, dir)
	if got, err := CorpusDir(); err != nil || got != dir {
		t.Errorf("CorpusDir with %s=%s: %q, %v", EnvCorpus, dir, got, err)
	}
	t.Setenv(EnvCorpus, filepath.Join(dir, "gone"))
	for _, ci := range []string{"", "true"} {
		t.Setenv(EnvCI, ci)
		v := &verdictTB{TB: t}
		if got := CorpusIfPresent(v); got != "" || v.failed != (ci == "true") || v.skipped {
			t.Errorf("CI=%q, no corpus: dir %q, failed %v, skipped %v; want a failure only under CI", ci, got, v.failed, v.skipped)
		}
	}
	t.Setenv(EnvCI, "")
	v := &verdictTB{TB: t}
	Corpus(v)
	if !v.skipped || !strings.Contains(v.msg, "did not run") {
		t.Errorf("Corpus without the corpus outside CI: skipped %v (%q); want a skip that says so", v.skipped, v.msg)
	}
}
