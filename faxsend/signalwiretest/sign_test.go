package signalwiretest

import (
	"net/url"
	"testing"
)

func TestSignVectors(t *testing.T) {
	status := url.Values{
		"AccountSid": {"ce4806cb-ccb0-41e9-8bf1-16e8c3c7a6a4"},
		"ApiVersion": {"v1"},
		"FaxSid":     {"831455c6-574e-4d8b-b6ee-2418140bf4cd"},
		"FaxStatus":  {"delivered"},
		"From":       {"+15556677888"},
		"NumPages":   {"2"},
		"To":         {"+15556677999"},
	}
	more := cloneValues(status)
	more.Set("RemoteStationId", "+15556677999")
	more.Set("OriginalMediaUrl", "https://bridge.example.net/media/abc.pdf")
	tests := []struct {
		name, key, url string
		params         url.Values
		want           string
	}{
		{"sdk example", "12345", "https://mycompany.com/myapp.php?foo=1&bar=2", url.Values{
			"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
			"From": {"+14158675309"}, "To": {"+18005551212"},
		}, "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"fax status with token", "PT0123456789abcdef0123456789abcdef0123456789abcdef",
			"https://bridge.example.net/fax/status?job=42", status, "2QeMlVpW73jxWeWE7MIdaki6c94="},
		{"fax status with signing key", "PSK_0123456789abcdef0123456789abcdef",
			"https://bridge.example.net/fax/status?job=42", more, "BpTv1I7wxyQcDGwSQ6+xJJc9Z1Q="},
		{"repeated key keeps value order", "PT0123456789abcdef0123456789abcdef0123456789abcdef",
			"https://x/y", url.Values{"A": {"1", "0"}, "B": {"2"}}, "Ez+4GynwG9kduefX8zR41qlh7G8="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sign(tt.key, tt.url, tt.params); got != tt.want {
				t.Errorf("Sign = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSignGETUsesURLOnly(t *testing.T) {
	u := "https://bridge.example.net/fax/status?FaxSid=1&job=42"
	if Sign(key, u, nil) == Sign(key, u, url.Values{"FaxSid": {"1"}}) {
		t.Error("params changed nothing: the signature ignores them")
	}
	if Sign(key, u, nil) == Sign(key, u+"&x=1", nil) {
		t.Error("the query string is not signed")
	}
}

func TestCountPages(t *testing.T) {
	tests := []struct {
		name string
		pdf  string
		want int
	}{
		{"two pages and a tree", string(twoPages), 2},
		{"no page objects seen", "%PDF-1.7\n1 0 obj <</Type /ObjStm>> endobj", 1},
		{"pages node only", "%PDF-1.4 << /Type /Pages /Count 3 >>", 1},
		{"three pages", "%PDF-1.4 /Type /Page /Type/Page\n/Type  /Page>>", 3},
	}
	for _, tt := range tests {
		if got := CountPages([]byte(tt.pdf)); got != tt.want {
			t.Errorf("%s: CountPages = %d, want %d", tt.name, got, tt.want)
		}
	}
}
