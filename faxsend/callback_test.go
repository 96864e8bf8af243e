package faxsend

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/faxbridge/faxbridge"
)

const (
	token  = "PT0123456789abcdef0123456789abcdef0123456789abcdef"
	psk    = "PSK_0123456789abcdef0123456789abcdef"
	cbURL  = "https://bridge.example.net/fax/status?job=42"
	cbBase = "https://bridge.example.net"
	cbPath = "/fax/status?job=42"
)

// faxParams is the second test vector's callback.
func faxParams() url.Values {
	return url.Values{
		"AccountSid": {"ce4806cb-ccb0-41e9-8bf1-16e8c3c7a6a4"},
		"ApiVersion": {"v1"},
		"FaxSid":     {"831455c6-574e-4d8b-b6ee-2418140bf4cd"},
		"FaxStatus":  {"delivered"},
		"From":       {"+15556677888"},
		"NumPages":   {"2"},
		"To":         {"+15556677999"},
	}
}

func TestSignVectors(t *testing.T) {
	third := faxParams()
	third.Set("RemoteStationId", "+15556677999")
	third.Set("OriginalMediaUrl", "https://bridge.example.net/media/abc.pdf")
	tests := []struct {
		name, key, url string
		params         url.Values
		want           string
	}{
		{"voice", "12345", "https://mycompany.com/myapp.php?foo=1&bar=2", url.Values{
			"CallSid": {"CA1234567890ABCDE"},
			"Caller":  {"+14158675309"},
			"Digits":  {"1234"},
			"From":    {"+14158675309"},
			"To":      {"+18005551212"},
		}, "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"fax with token", token, cbURL, faxParams(), "2QeMlVpW73jxWeWE7MIdaki6c94="},
		{"fax with signing key", psk, cbURL, third, "BpTv1I7wxyQcDGwSQ6+xJJc9Z1Q="},
		{"repeated key in order", token, "https://x/y", url.Values{"A": {"1", "0"}, "B": {"2"}}, "Ez+4GynwG9kduefX8zR41qlh7G8="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sign(tt.key, tt.url, tt.params); got != tt.want {
				t.Errorf("Sign = %s, want %s", got, tt.want)
			}
		})
	}
}

func callbackClient(t *testing.T, key string) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: "http://127.0.0.1:1", ProjectID: "p", APIToken: "t", SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func postCallback(target string, params url.Values, header, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(params.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		r.Header.Set(header, sig)
	}
	return r
}

func TestParseCallbackPost(t *testing.T) {
	c := callbackClient(t, psk)
	p := faxParams()
	p.Set("OriginalMediaUrl", "https://bridge.example.net/media/abc.pdf")
	p.Set("MediaUrl", "https://files.example.com/copy.pdf")
	p.Set("RemoteStationId", "+15556677999")
	p.Set("Timestamp", "whatever") // unknown fields are signed and accepted
	for _, h := range []string{"X-SignalWire-Signature", "X-Twilio-Signature"} {
		t.Run(h, func(t *testing.T) {
			st, err := c.ParseCallback(postCallback(cbPath, p, h, Sign(psk, cbURL, p)), cbBase)
			if err != nil {
				t.Fatal(err)
			}
			want := faxbridge.FaxStatus{
				SID:             "831455c6-574e-4d8b-b6ee-2418140bf4cd",
				Status:          "delivered",
				To:              "+15556677999",
				MediaURL:        "https://bridge.example.net/media/abc.pdf",
				Pages:           2,
				RemoteStationID: "+15556677999",
			}
			if st != want {
				t.Errorf("got %+v\nwant %+v", st, want)
			}
		})
	}
}

func TestParseCallbackFailedReason(t *testing.T) {
	c := callbackClient(t, psk)
	p := faxParams()
	p.Set("FaxStatus", "failed")
	p.Set("ErrorCode", "34004")
	p.Set("ErrorMessage", "The call dropped prematurely")
	p.Del("NumPages")
	st, err := c.ParseCallback(postCallback(cbPath, p, "X-SignalWire-Signature", Sign(psk, cbURL, p)), cbBase+"/")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "failed" || st.ErrorCode != "34004" || st.Pages != 0 || st.MediaURL != "" {
		t.Errorf("got %+v", st)
	}
	if st.Reason != "The call dropped before the fax was complete." {
		t.Errorf("reason %q", st.Reason)
	}
}

func TestParseCallbackMediaURLFallback(t *testing.T) {
	c := callbackClient(t, psk)
	p := faxParams()
	p.Set("MediaUrl", "https://bridge.example.net/media/abc.pdf")
	st, err := c.ParseCallback(postCallback(cbPath, p, "X-SignalWire-Signature", Sign(psk, cbURL, p)), cbBase)
	if err != nil {
		t.Fatal(err)
	}
	if st.MediaURL != "https://bridge.example.net/media/abc.pdf" {
		t.Errorf("media URL %q", st.MediaURL)
	}
}

func TestParseCallbackGet(t *testing.T) {
	c := callbackClient(t, psk)
	target := "/fax/status?" + faxParams().Encode()
	full := cbBase + target

	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("X-SignalWire-Signature", Sign(psk, full, nil))
	st, err := c.ParseCallback(r, cbBase)
	if err != nil {
		t.Fatal(err)
	}
	if st.SID != "831455c6-574e-4d8b-b6ee-2418140bf4cd" || st.Status != "delivered" || st.Pages != 2 {
		t.Errorf("got %+v", st)
	}

	// A GET is signed over the URL alone: a signature that also covers the
	// query fields as parameters is not SignalWire's.
	r = httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("X-SignalWire-Signature", Sign(psk, full, faxParams()))
	if _, err := c.ParseCallback(r, cbBase); faxbridge.ErrorCode(err) != faxbridge.EUnauthorized {
		t.Errorf("GET signed with params: err %v, want unauthorized", err)
	}
}

func TestParseCallbackPorts(t *testing.T) {
	tests := []struct {
		name, signed, base, path string
		ok                       bool
	}{
		{"signed with :443, base without", "https://bridge.example.net:443/fax/status?job=42", cbBase, cbPath, true},
		{"signed without, base with :443", cbURL, "https://bridge.example.net:443", cbPath, true},
		{"signed with :80, base without", "http://bridge.example.net:80/cb", "http://bridge.example.net", "/cb", true},
		{"signed without, base with :80", "http://bridge.example.net/cb", "http://bridge.example.net:80", "/cb", true},
		{"http :443 is not a default port", "http://bridge.example.net:443/cb", "http://bridge.example.net", "/cb", false},
		{"other port is not dropped", "https://bridge.example.net/cb", "https://bridge.example.net:8443", "/cb", false},
		{"other host", "https://evil.example.net/cb", "https://bridge.example.net", "/cb", false},
		{"path prefix of the base", "https://bridge.example.net/fax/cb", "https://bridge.example.net/fax", "/cb", true},
	}
	c := callbackClient(t, psk)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := faxParams()
			_, err := c.ParseCallback(postCallback(tt.path, p, "X-SignalWire-Signature", Sign(psk, tt.signed, p)), tt.base)
			if tt.ok && err != nil {
				t.Errorf("err %v, want success", err)
			}
			if !tt.ok && faxbridge.ErrorCode(err) != faxbridge.EUnauthorized {
				t.Errorf("err %v, want unauthorized", err)
			}
		})
	}
}

func TestParseCallbackRefused(t *testing.T) {
	good := faxParams()
	sig := Sign(psk, cbURL, good)
	tampered := faxParams()
	tampered.Set("FaxStatus", "failed")
	extra := faxParams()
	extra.Set("ErrorMessage", "x")
	noSID := faxParams()
	noSID.Del("FaxSid")
	noStatus := faxParams()
	noStatus.Del("FaxStatus")
	big := faxParams()
	big.Set("Junk", strings.Repeat("a", maxCallback))

	tests := []struct {
		name string
		key  string
		req  *http.Request
		want faxbridge.Code
	}{
		{"tampered value", psk, postCallback(cbPath, tampered, "X-SignalWire-Signature", sig), faxbridge.EUnauthorized},
		{"added field", psk, postCallback(cbPath, extra, "X-SignalWire-Signature", sig), faxbridge.EUnauthorized},
		{"other query", psk, postCallback("/fax/status?job=43", good, "X-SignalWire-Signature", sig), faxbridge.EUnauthorized},
		{"wrong key", psk, postCallback(cbPath, good, "X-SignalWire-Signature", Sign(token, cbURL, good)), faxbridge.EUnauthorized},
		{"missing signature", psk, postCallback(cbPath, good, "", ""), faxbridge.EUnauthorized},
		{"no key configured", "", postCallback(cbPath, good, "X-SignalWire-Signature", Sign("", cbURL, good)), faxbridge.EUnauthorized},
		{"no FaxSid", psk, postCallback(cbPath, noSID, "X-SignalWire-Signature", Sign(psk, cbURL, noSID)), faxbridge.EInvalid},
		{"no FaxStatus", psk, postCallback(cbPath, noStatus, "X-SignalWire-Signature", Sign(psk, cbURL, noStatus)), faxbridge.EInvalid},
		{"too large", psk, postCallback(cbPath, big, "X-SignalWire-Signature", Sign(psk, cbURL, big)), faxbridge.ETooLarge},
		{"PUT", psk, httptest.NewRequest(http.MethodPut, cbPath, nil), faxbridge.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := callbackClient(t, tt.key)
			st, err := c.ParseCallback(tt.req, cbBase)
			if got := faxbridge.ErrorCode(err); got != tt.want {
				t.Errorf("code %q (%v), want %q", got, err, tt.want)
			}
			if st != (faxbridge.FaxStatus{}) {
				t.Errorf("status %+v returned with an error", st)
			}
		})
	}
}

func TestPortVariants(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"https://h/p?q=1", []string{"https://h/p?q=1", "https://h:443/p?q=1"}},
		{"https://h:443/p", []string{"https://h:443/p", "https://h/p"}},
		{"http://h/p%2Fx", []string{"http://h/p%2Fx", "http://h:80/p%2Fx"}},
		{"https://h:8443/p", []string{"https://h:8443/p"}},
		{"ftp://h/p", []string{"ftp://h/p"}},
	}
	for _, tt := range tests {
		got := portVariants(tt.in)
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("portVariants(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestParseCallbackAcceptsUnknownFields: the API documents that callbacks
// may carry fields beyond the documented list and that they must be
// accepted. They are signed like the rest and otherwise ignored.
func TestParseCallbackAcceptsUnknownFields(t *testing.T) {
	c := callbackClient(t, psk)
	p := faxParams()
	p.Set("Timestamp", "Tue, 14 May 2024 10:00:05 +0000")
	p.Set("CallDuration", "40")
	p.Set("SomeFieldAddedNextYear", "anything")
	p.Add("Repeated", "1")
	p.Add("Repeated", "2")

	st, err := c.ParseCallback(postCallback(cbPath, p, "X-SignalWire-Signature", Sign(psk, cbURL, p)), cbBase)
	if err != nil {
		t.Fatalf("POST with unknown fields: %v", err)
	}
	if st.SID != "831455c6-574e-4d8b-b6ee-2418140bf4cd" || st.Status != "delivered" || st.Pages != 2 {
		t.Errorf("POST: got %+v", st)
	}

	target := "/fax/status?" + p.Encode()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("X-SignalWire-Signature", Sign(psk, cbBase+target, nil))
	if st, err := c.ParseCallback(r, cbBase); err != nil || st.Status != "delivered" {
		t.Errorf("GET with unknown fields: %+v, %v", st, err)
	}

	// Unknown fields are still signed: adding one breaks the signature.
	sig := Sign(psk, cbURL, p)
	p.Set("Injected", "x")
	if _, err := c.ParseCallback(postCallback(cbPath, p, "X-SignalWire-Signature", sig), cbBase); faxbridge.ErrorCode(err) != faxbridge.EUnauthorized {
		t.Errorf("unsigned extra field: err %v, want unauthorized", err)
	}

	// The size limit still holds, unknown fields or not.
	p = faxParams()
	p.Set("Padding", strings.Repeat("x", maxCallback))
	if _, err := c.ParseCallback(postCallback(cbPath, p, "X-SignalWire-Signature", Sign(psk, cbURL, p)), cbBase); faxbridge.ErrorCode(err) != faxbridge.ETooLarge {
		t.Errorf("oversized callback: err %v, want too large", err)
	}
}
