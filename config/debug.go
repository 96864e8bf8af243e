package config

import (
	"fmt"
	"net"
)

// Debug is the profiling listener: Go's pprof handlers (CPU, heap,
// allocation and goroutine profiles), for benchmarks and for finding where
// a running gateway spends its time. Off unless listen is set, and only on
// a loopback address: a profile shows internals, and taking one costs CPU.
type Debug struct {
	Listen string `toml:"listen"`
}

func (c *Config) checkDebug() Problems {
	if c.Debug.Listen == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(c.Debug.Listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return Problems{fmt.Sprintf("debug.listen %q: use a loopback host:port such as \"127.0.0.1:6060\"", c.Debug.Listen)}
	}
	return nil
}
