package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemoryLimitFromCgroup(t *testing.T) {
	write := func(t *testing.T, root, rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	noEnv := func(string) string { return "" }
	const service = "0::/system.slice/faxbridge.service\n"
	cases := []struct {
		name     string
		files    map[string]string
		self     string
		getenv   func(string) string
		max      int64
		wantNone bool
	}{
		{"v2 MemoryMax", map[string]string{
			"system.slice/faxbridge.service/memory.max": "536870912\n",
			"system.slice/memory.max":                   "max\n",
		}, service, noEnv, 512 << 20, false},
		{"v2 smaller limit on a parent", map[string]string{
			"system.slice/faxbridge.service/memory.max": "536870912\n",
			"system.slice/memory.max":                   "268435456\n",
		}, service, noEnv, 256 << 20, false},
		{"v2 no limit", map[string]string{
			"system.slice/faxbridge.service/memory.max": "max\n",
		}, service, noEnv, 0, true},
		{"v2 container at its root", map[string]string{"memory.max": "1073741824\n"}, "0::/\n", noEnv, 1 << 30, false},
		{"GOMEMLIMIT set", map[string]string{
			"system.slice/faxbridge.service/memory.max": "536870912\n",
		}, service, func(k string) string {
			if k == "GOMEMLIMIT" {
				return "300MiB"
			}
			return ""
		}, 0, true},
		{"v1 memory controller", map[string]string{
			"memory/process_api/abc/memory.limit_in_bytes": "402653184\n",
			"memory/memory.limit_in_bytes":                 "9223372036854771712\n", // v1's "unlimited"
		}, "4:memory:/process_api/abc\n1:cpu:/\n0::/\n", noEnv, 384 << 20, false},
		{"no cgroup files", nil, service, noEnv, 0, true},
		{"garbage", map[string]string{"system.slice/faxbridge.service/memory.max": "lots\n"}, service, noEnv, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for rel, content := range tc.files {
				write(t, root, rel, content)
			}
			limit, max, ok := memoryLimit(tc.getenv, root, []byte(tc.self))
			if tc.wantNone {
				if ok {
					t.Errorf("limit %d from max %d, want none", limit, max)
				}
				return
			}
			if !ok || max != tc.max || limit != int64(float64(tc.max)*memoryLimitShare) {
				t.Errorf("limit %d, max %d, ok %v; want max %d", limit, max, ok, tc.max)
			}
		})
	}
}
