package httpd

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/faxsend"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
)

var doc = []byte("%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n%%EOF\n")

const routed, unrouted = "+15550100000", "+15550109999"

// inbox records received faxes; fail makes the commit fail.
type inbox struct {
	mu   sync.Mutex
	got  []faxbridge.FaxStatus
	fail error
}

func (b *inbox) Route(to string) []string {
	if to == routed {
		return []string{"desk@clinic.example"}
	}
	return nil
}

func (b *inbox) ReceiveFax(_ context.Context, st faxbridge.FaxStatus) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.got = append(b.got, st)
	return nil
}

func (b *inbox) received() []faxbridge.FaxStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]faxbridge.FaxStatus(nil), b.got...)
}

// inboundServer serves Handler with the real signature check against a
// simulator that signs with simKey.
func inboundServer(t *testing.T, simKey, method string) (*signalwiretest.Server, *inbox, string) {
	t.Helper()
	sim, err := signalwiretest.Start(signalwiretest.Config{ProjectID: "p", APIToken: "tok", SigningKey: simKey, StepDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	fax, err := faxsend.New(faxsend.Config{BaseURL: sim.URL(), ProjectID: "p", APIToken: "tok", SigningKey: "PSK_right"})
	if err != nil {
		t.Fatal(err)
	}
	sink := &inbox{}
	var public string
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	public = srv.URL
	srv.Config.Handler = Handler(Config{PublicURL: public, Callbacks: fax, Sink: &fakeSink{}, Inbound: fax, InboundSink: sink,
		InboundPageSize: "a4", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(srv.Close)
	sim.SetFaxWebhook(routed, public+InboundPath, method)
	sim.SetFaxWebhook(unrouted, public+InboundPath, method)
	return sim, sink, public
}

func receive(t *testing.T, sim *signalwiretest.Server, to string) string {
	t.Helper()
	sid, err := sim.Receive(signalwiretest.Incoming{From: "+15557654321", To: to, Document: doc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	return sid
}

// A fax to a routed number is taken with <Receive> and committed from the
// action callback, which gets 200; for GET webhooks too.
func TestInboundReceive(t *testing.T) {
	for _, method := range []string{"POST", "GET"} {
		t.Run(method, func(t *testing.T) {
			sim, sink, _ := inboundServer(t, "PSK_right", method)
			sid := receive(t, sim, routed)
			w := sim.Webhooks()
			if len(w) != 1 || w[0].Code != 200 || w[0].Verb != "Receive" || w[0].PageSize != "a4" || w[0].MediaType != "application/pdf" ||
				!strings.HasSuffix(w[0].Action, InboundActionPath) || w[0].ActionMethod != "POST" {
				t.Fatalf("webhook: %+v", w)
			}
			got := sink.received()
			if len(got) != 1 || got[0].SID != sid || got[0].Status != "received" || got[0].From != "+15557654321" || got[0].MediaURL == "" {
				t.Fatalf("received %+v", got)
			}
			if cb := sim.Callbacks(); len(cb) != 1 || cb[0].Code != 200 {
				t.Errorf("action callback: %+v", cb)
			}
		})
	}
}

func TestInboundUnroutedRejected(t *testing.T) {
	sim, sink, _ := inboundServer(t, "PSK_right", "POST")
	sid := receive(t, sim, unrouted)
	if w := sim.Webhooks(); len(w) != 1 || w[0].Verb != "Reject" || !strings.Contains(w[0].Body, "<Reject/>") {
		t.Fatalf("webhook: %+v", w)
	}
	if f, _ := sim.Fax(sid); f.Status != "canceled" {
		t.Errorf("rejected fax is %s", f.Status)
	}
	if n := len(sink.received()); n != 0 {
		t.Errorf("%d faxes committed", n)
	}
}

// Signed with another key: 403 to the webhook and the action, nothing kept.
func TestInboundWrongKey(t *testing.T) {
	sim, sink, public := inboundServer(t, "PSK_wrong", "POST")
	receive(t, sim, routed)
	if w := sim.Webhooks(); len(w) != 1 || w[0].Code != http.StatusForbidden || w[0].Verb != "" {
		t.Fatalf("webhook: %+v", w)
	}
	if n := len(sink.received()); n != 0 {
		t.Errorf("%d faxes committed", n)
	}
	// The action URL, signed with the wrong key, is refused too.
	form := url.Values{"FaxSid": {"x"}, "To": {routed}, "FaxStatus": {"received"}, "MediaUrl": {"https://x/y"}}
	req, _ := http.NewRequest(http.MethodPost, public+InboundActionPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-SignalWire-Signature", signalwiretest.Sign("PSK_wrong", public+InboundActionPath, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("action with the wrong key: %d, want 403", resp.StatusCode)
	}
	if n := len(sink.received()); n != 0 {
		t.Errorf("%d faxes committed", n)
	}
}

// A commit that fails is not answered 200, so SignalWire tries again.
func TestInboundActionCommitFails(t *testing.T) {
	sim, sink, _ := inboundServer(t, "PSK_right", "POST")
	sink.fail = faxbridge.Errorf(faxbridge.EUnavailable, "database down")
	receive(t, sim, routed)
	cb := sim.Callbacks()
	if len(cb) != 3 {
		t.Fatalf("%d action attempts, want SignalWire's 3", len(cb))
	}
	for _, c := range cb {
		if c.Code != http.StatusServiceUnavailable {
			t.Errorf("action answered %d, want 503", c.Code)
		}
	}
}

// Inbound routes without a signature check must not be served.
func TestInboundFailsClosed(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Handler served inbound faxes without a signature check")
		}
	}()
	Handler(Config{InboundSink: &inbox{}, Callbacks: fakeCallbacks{}, Sink: &fakeSink{}})
}
