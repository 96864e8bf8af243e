package config

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestRetainAndPaceChecked(t *testing.T) {
	d := Defaults()
	if d.Database.Retain.Duration != 90*24*time.Hour || d.SignalWire.CreatesPerSecond != 1 {
		t.Fatalf("defaults: retain %v, creates_per_second %v; want 90 days and 1", d.Database.Retain, d.SignalWire.CreatesPerSecond)
	}
	tests := []struct {
		retain time.Duration
		cps    float64
		bad    string
	}{
		{90 * 24 * time.Hour, 1, ""},
		{time.Hour, 0, ""},
		{time.Hour, 0.5, ""},
		{time.Minute, 1, "database.retain"},
		{0, 1, "database.retain"},
		{time.Hour, -1, "creates_per_second"},
		{time.Hour, 5000, "creates_per_second"},
		{time.Hour, math.NaN(), "creates_per_second"},
	}
	for _, tc := range tests {
		c := valid()
		c.Database.Retain.Duration = tc.retain
		c.SignalWire.CreatesPerSecond = tc.cps
		probs := c.Check()
		all := strings.Join(probs, "\n")
		if tc.bad == "" && len(probs) > 0 || tc.bad != "" && !strings.Contains(all, tc.bad) {
			t.Errorf("retain %v, creates_per_second %v: problems %q, want one about %q", tc.retain, tc.cps, probs, tc.bad)
		}
	}
}
