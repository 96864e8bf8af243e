package faxbridge

import (
	"math/rand/v2"
	"regexp"
	"testing"
	"time"
)

var jobIDForm = regexp.MustCompile(`^[0-9a-v]{36}$`)

// Job IDs sort as their creation times do, whatever digits the times
// differ in (a change of alphabet would break the order where a digit
// passes from a letter to a number), and two made at once differ.
func TestNewJobIDOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC).UnixMilli()
	for range 20000 {
		ms := start + r.Int64N(1<<40)
		a := NewJobID(time.UnixMilli(ms))
		b := NewJobID(time.UnixMilli(ms + 1 + r.Int64N(1<<uint(r.IntN(40)))))
		if !jobIDForm.MatchString(a) || !jobIDForm.MatchString(b) {
			t.Fatalf("IDs %q, %q: not 36 characters of 0-9a-v", a, b)
		}
		if a >= b {
			t.Fatalf("ID %q made before %q sorts after it", a, b)
		}
	}
	now := time.Now()
	if a, b := NewJobID(now), NewJobID(now); a == b || a[:9] != b[:9] {
		t.Errorf("two IDs of one millisecond: %q, %q (want the same time part, different random parts)", a, b)
	}
}
