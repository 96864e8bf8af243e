package httpd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// Only the fields SignalWire documents are accepted in a POST callback, so
// that no name/value boundary can move under a valid signature.
func TestCallbackOnlyDocumentedFields(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		name string
		form url.Values
		code int
	}{
		{"documented", url.Values{"FaxSid": {"s"}, "FaxStatus": {"delivered"}, "NumPages": {"2"}, "Timestamp": {"x"}, "OriginalMediaUrl": {"u"}}, 200},
		// "FaxStatus"+"delivered" signed the same as "FaxStatusd"+"elivered".
		{"shifted boundary", url.Values{"FaxSid": {"s"}, "FaxStatusd": {"elivered"}}, 400},
		{"cut short", url.Values{"FaxSid": {"s"}, "FaxStatu": {"sdelivered"}}, 400},
		{"extra field", url.Values{"FaxSid": {"s"}, "FaxStatus": {"delivered"}, "job": {"other"}}, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink := &fakeSink{}
			parsed := false
			h := Handler(Config{Callbacks: parseFunc(func(r *http.Request) (faxbridge.FaxStatus, error) {
				parsed = true
				// The parser still gets the whole body.
				b, _ := io.ReadAll(r.Body)
				if string(b) != tt.form.Encode() {
					t.Errorf("parser got body %q", b)
				}
				return faxbridge.FaxStatus{SID: "s", Status: "delivered"}, nil
			}), Sink: sink, Log: log})
			req := httptest.NewRequest("POST", CallbackPath+"?job=j1", strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code || parsed != (tt.code == 200) {
				t.Errorf("code %d, parsed %v; want %d", rec.Code, parsed, tt.code)
			}
		})
	}
}

// No documented name starts another: otherwise two documented fields could
// trade a boundary.
func TestCallbackFieldsArePrefixFree(t *testing.T) {
	for a := range callbackFields {
		for b := range callbackFields {
			if a != b && strings.HasPrefix(a, b) {
				t.Errorf("%q starts with %q", a, b)
			}
		}
	}
}

type parseFunc func(r *http.Request) (faxbridge.FaxStatus, error)

func (f parseFunc) ParseCallback(r *http.Request, _ string) (faxbridge.FaxStatus, error) { return f(r) }

// The public listener serves /metrics only to a request bearing the token,
// and not at all without one.
func TestMetricsNeedToken(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "faxbridge_up 1\n") })
	get := func(h http.Handler, auth string) int {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	open := Handler(Config{Metrics: metrics, Log: log, Callbacks: fakeCallbacks{}, Sink: &fakeSink{}})
	if c := get(open, ""); c != 404 {
		t.Errorf("public /metrics without a token configured: %d, want 404", c)
	}
	tok := Handler(Config{Metrics: metrics, MetricsToken: "s3cret", Log: log, Callbacks: fakeCallbacks{}, Sink: &fakeSink{}})
	for auth, want := range map[string]int{"": 401, "Bearer wrong": 401, "Bearer s3cret": 200, "s3cret": 401} {
		if c := get(tok, auth); c != want {
			t.Errorf("Authorization %q: %d, want %d", auth, c, want)
		}
	}
	if c := get(MetricsHandler(metrics, ""), ""); c != 200 {
		t.Errorf("own listener without a token: %d", c)
	}
}

// The server's limits are applied: a client that sends half a request is
// cut off at the read timeout, and connections beyond the cap wait.
func TestServerLimits(t *testing.T) {
	l := Limits{ReadTimeout: 200 * time.Millisecond, WriteTimeout: time.Second, IdleTimeout: time.Second, MaxConnections: 1}
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), l)
	if srv.ReadTimeout != l.ReadTimeout || srv.WriteTimeout != l.WriteTimeout || srv.IdleTimeout != l.IdleTimeout || srv.ReadHeaderTimeout > l.ReadTimeout {
		t.Errorf("server timeouts %v %v %v %v", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l.Listener(ln))
	defer srv.Close()
	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n") // and never the end of the headers
	// The one connection slot is the slow client's until the read
	// timeout closes it; then a normal request is served.
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(slow); err != nil {
		t.Fatalf("slow client not cut off: %v", err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// /readyz says only "ready" or "not ready", whatever the cause.
func TestReadyzSaysNoMore(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := Handler(Config{Ready: func(context.Context) error {
		return faxbridge.WrapError(faxbridge.EUnavailable, errors.New("bucket faxes-prod: access denied"), "document storage is unavailable")
	}, Log: log, Callbacks: fakeCallbacks{}, Sink: &fakeSink{}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || rec.Body.String() != "not ready\n" {
		t.Errorf("readyz: %d %q", rec.Code, rec.Body.String())
	}
}
