package httpd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/faxbridge/faxbridge"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{faxbridge.Errorf(faxbridge.EUnauthorized, "bad signature"), 403},
		{faxbridge.Errorf(faxbridge.EInvalid, "no FaxSid"), 400},
		{faxbridge.Errorf(faxbridge.ETooLarge, "body"), 413},
		{faxbridge.Errorf(faxbridge.ENotFound, "no such fax"), 404},
		{faxbridge.Errorf(faxbridge.EUnavailable, "db busy"), 503},
		{faxbridge.Errorf(faxbridge.EConflict, "busy"), 503},
		{errors.New("boom"), 500},
	}
	for _, tt := range tests {
		if got := status(tt.err); got != tt.want {
			t.Errorf("status(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

type fakeCallbacks struct{ err error }

func (f fakeCallbacks) ParseCallback(r *http.Request, base string) (faxbridge.FaxStatus, error) {
	return faxbridge.FaxStatus{SID: "sid", Status: "delivered"}, f.err
}

type fakeSink struct {
	got   []string
	err   error
	jobID string
	token string
}

func (f *fakeSink) ApplyStatus(ctx context.Context, jobID, token string, st faxbridge.FaxStatus) error {
	f.got = append(f.got, st.SID)
	f.jobID, f.token = jobID, token
	return f.err
}

func TestCallbackHandler(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name    string
		method  string
		parse   error
		apply   error
		code    int
		applied bool
	}{
		{"applied", "POST", nil, nil, 200, true},
		{"get", "GET", nil, nil, 200, true},
		{"forged", "POST", faxbridge.Errorf(faxbridge.EUnauthorized, "bad signature"), nil, 403, false},
		{"unknown fax", "POST", nil, faxbridge.Errorf(faxbridge.ENotFound, "no such fax"), 404, true},
		{"method", "PUT", nil, nil, 405, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &fakeSink{err: tt.apply}
			var seen []int
			h := Handler(Config{Callbacks: fakeCallbacks{tt.parse}, Sink: sink, Log: log, OnCallback: func(c int) { seen = append(seen, c) }})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, CallbackURL("", "j1", "t1"), strings.NewReader("")))
			if rec.Code != tt.code || (len(sink.got) > 0) != tt.applied {
				t.Errorf("code %d applied %v, want %d %v", rec.Code, len(sink.got) > 0, tt.code, tt.applied)
			}
			if tt.applied && (sink.jobID != "j1" || sink.token != "t1") {
				t.Errorf("job id %q, submission %q; want j1, t1", sink.jobID, sink.token)
			}
			if len(seen) != 1 || seen[0] != tt.code {
				t.Errorf("OnCallback saw %v", seen)
			}
			if tt.code != 200 && strings.Contains(rec.Body.String(), "signature") {
				t.Errorf("error body reveals detail: %q", rec.Body.String())
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		err  error
		code int
	}{{nil, 200}, {errors.New("storage down"), 503}} {
		h := Handler(Config{Ready: func(context.Context) error { return tt.err }, Log: log, Callbacks: fakeCallbacks{}, Sink: &fakeSink{}})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != tt.code || strings.Contains(rec.Body.String(), "storage") {
			t.Errorf("readyz with %v: %d %q", tt.err, rec.Code, rec.Body.String())
		}
	}
}
