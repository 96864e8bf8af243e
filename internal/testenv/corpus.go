package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The shared corpus of real mail lives beside the project's checkout, not
// in it (the repository carries only its own test messages); tests read it
// in place.
const (
	// EnvCorpus names the corpus directory when it is somewhere else.
	EnvCorpus = "FAXBRIDGE_CORPUS_DIR"
	// EnvCI is set to "true" by CI runners. CI always has the corpus, so
	// there a missing corpus is a broken run, not a lonely clone.
	EnvCI = "CI"
)

// CorpusDir returns the shared corpus directory: the one FAXBRIDGE_CORPUS_DIR
// names, or shared/corpus/public beside the project's root (the directory
// holding go.mod above the working directory). It fails when that
// directory is not there.
func CorpusDir() (string, error) {
	if dir := os.Getenv(EnvCorpus); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvCorpus, dir, err)
		}
		return dir, nil
	}
	root, err := projectRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(filepath.Dir(root), "shared", "corpus", "public")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("the shared corpus is not beside this checkout (set %s): %w", EnvCorpus, err)
	}
	return dir, nil
}

// projectRoot is the nearest directory at or above the working directory
// (a test runs in its package's directory) that holds go.mod.
func projectRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Corpus returns the shared corpus directory for a test that needs it.
// Without the corpus the test fails under CI, where the corpus is always
// present, and is skipped elsewhere with a reason saying it did not run
// (a clone of the project alone has no corpus beside it).
func Corpus(t testing.TB) string {
	t.Helper()
	dir := CorpusIfPresent(t)
	if dir == "" {
		t.Skipf("the shared corpus is not available: this test did not run")
	}
	return dir
}

// CorpusIfPresent is Corpus for a test that also has messages of its own:
// without the corpus it returns "" (logging that the corpus part did not
// run) instead of skipping, and still fails under CI.
func CorpusIfPresent(t testing.TB) string {
	t.Helper()
	dir, err := CorpusDir()
	if err != nil {
		if os.Getenv(EnvCI) == "true" {
			t.Fatalf("%v; CI always has the shared corpus", err)
			return ""
		}
		t.Logf("%v: the tests of the shared corpus did not run", err)
		return ""
	}
	return dir
}
