package daemon

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// SetMemoryLimit gives the Go runtime a soft memory limit below the
// cgroup's hard one (systemd's MemoryMax=), so that the collector works
// harder as the daemon nears it instead of the kernel killing the daemon
// mid-transaction. GOMEMLIMIT, when set, wins: the runtime has read it.
// It changes process-wide state, so only `faxbridge serve` calls it.
func SetMemoryLimit(log *slog.Logger) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return // not Linux, or no cgroups: nothing to follow
	}
	limit, max, ok := memoryLimit(os.Getenv, "/sys/fs/cgroup", self)
	if !ok {
		return
	}
	debug.SetMemoryLimit(limit)
	log.Info("go memory limit set from the cgroup", "memory_max", max, "go_memory_limit", limit)
}

// memoryLimitShare is the part of the cgroup's limit given to the Go
// runtime; the rest is for what the runtime does not count (the kernel's
// page cache charged to the cgroup, SQLite's C allocations when built
// with cgo) and for the collector's lag.
const memoryLimitShare = 0.9

// memoryLimit returns the Go memory limit for a process whose
// /proc/self/cgroup reads selfCgroup under the cgroup file systems mounted
// at root, and the cgroup limit it derives from: the smallest of the
// process's cgroup and its ancestors (cgroup v2's memory.max, or v1's
// memory.limit_in_bytes). ok is false when GOMEMLIMIT is set or no limit
// applies.
func memoryLimit(getenv func(string) string, root string, selfCgroup []byte) (limit, max int64, ok bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, 0, false
	}
	max = -1
	for _, line := range bytes.Split(selfCgroup, []byte("\n")) {
		// hierarchy-ID:controllers:path; v2 has ID 0 and no controllers.
		f := strings.SplitN(string(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		var dir, file string
		switch {
		case f[0] == "0" && f[1] == "":
			dir, file = root, "memory.max"
		case hasController(f[1], "memory"):
			dir, file = filepath.Join(root, "memory"), "memory.limit_in_bytes"
		default:
			continue
		}
		for p := filepath.Clean("/" + f[2]); ; p = filepath.Dir(p) {
			if n, ok := readLimit(filepath.Join(dir, p, file)); ok && (max < 0 || n < max) {
				max = n
			}
			if p == "/" {
				break
			}
		}
	}
	if max <= 0 {
		return 0, 0, false
	}
	return int64(float64(max) * memoryLimitShare), max, true
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads a cgroup memory limit file: a byte count, or "max" (v2)
// or a number near 2^63 (v1) for none.
func readLimit(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return 0, false
	}
	return n, true
}
