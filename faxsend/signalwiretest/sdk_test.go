package signalwiretest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/faxbridge/faxbridge/internal/testenv"
)

// validateScript checks signatures with SignalWire's own Node SDK: it reads
// [{url, params, signature}] on stdin and prints one boolean for each.
const validateScript = `
const { RestClient } = require('@signalwire/compatibility-api');
let input = '';
process.stdin.on('data', d => input += d);
process.stdin.on('end', () => {
  const key = process.argv[1];
  const out = JSON.parse(input).map(c => RestClient.validateRequest(key, c.signature, c.url, c.params));
  console.log(JSON.stringify(out));
});
`

// TestCallbacksValidateWithSignalWireSDK needs SIGNALWIRE_SDK_DIR: a
// directory where `npm install @signalwire/compatibility-api@3.2.0` ran
// (scripts/test makes one).
func TestCallbacksValidateWithSignalWireSDK(t *testing.T) {
	dir := os.Getenv("SIGNALWIRE_SDK_DIR")
	if dir == "" {
		testenv.Missing(t, "SIGNALWIRE_SDK_DIR is not set: no SignalWire SDK to check signatures with")
	}
	node := testenv.Tool(t, "FAXBRIDGE_NODE_BIN", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@signalwire", "compatibility-api")); err != nil {
		t.Fatalf("SIGNALWIRE_SDK_DIR=%s holds no SDK: %v", dir, err)
	}
	media := newMedia(t)
	hk := newHook(t, nil)
	s := start(t, Config{})
	for _, method := range []string{"POST", "GET"} {
		create(t, s, form(media.URL+"/doc.pdf", "StatusCallback", hk.URL+"/fax/status?job=42&x=a%20b",
			"StatusCallbackMethod", method, "StatusCallbackEvent", "initiated", "StatusCallbackEvent", "completed"))
	}
	idle(t, s)
	got := hk.received()
	if len(got) != 4 {
		t.Fatalf("%d callbacks, want 4", len(got))
	}
	type check struct {
		URL       string            `json:"url"`
		Params    map[string]string `json:"params"`
		Signature string            `json:"signature"`
	}
	var checks []check
	for _, r := range got {
		p := map[string]string{}
		for k, vs := range r.signed {
			p[k] = vs[0]
		}
		checks = append(checks, check{URL: r.url, Params: p, Signature: r.sig})
	}
	// A tampered copy must fail, or the check proves nothing.
	bad := checks[0]
	bad.Params = map[string]string{"FaxStatus": "delivered"}
	checks = append(checks, bad)
	in, err := json.Marshal(checks)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "-e", validateScript, key)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var valid []bool
	if err := json.Unmarshal(out, &valid); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	want := []bool{true, true, true, true, false}
	for i := range want {
		if i >= len(valid) || valid[i] != want[i] {
			t.Errorf("SDK verdicts %v, want %v (callbacks %+v)", valid, want, got)
			break
		}
	}
}
