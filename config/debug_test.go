package config

import (
	"strings"
	"testing"
)

func TestDebugListenLoopbackOnly(t *testing.T) {
	for listen, ok := range map[string]bool{
		"":               true,
		"127.0.0.1:6060": true,
		"[::1]:6060":     true,
		"0.0.0.0:6060":   false,
		"192.0.2.1:6060": false,
		"localhost:6060": false, // a name could resolve anywhere
		"127.0.0.1":      false,
	} {
		c := valid()
		c.Debug.Listen = listen
		probs := c.Check()
		if got := !strings.Contains(strings.Join(probs, "\n"), "debug.listen"); got != ok {
			t.Errorf("debug.listen %q: problems %q, want accepted %v", listen, probs, ok)
		}
	}
}
