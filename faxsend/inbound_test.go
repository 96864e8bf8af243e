package faxsend

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
)

// inboundPDF is a tiny three-page PDF as far as page counting goes.
var inboundPDF = []byte("%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n2 0 obj << /Type /Page >> endobj\n3 0 obj << /Type /Page >> endobj\n%%EOF\n")

// TestReceiveThroughSimulator walks a received fax through the client:
// the signed webhook and action parse, the document comes back byte for
// byte with credentials, the list finds it (and not an outbound fax), and
// DeleteReceived leaves nothing at the provider.
func TestReceiveThroughSimulator(t *testing.T) {
	sim, err := signalwiretest.Start(signalwiretest.Config{ProjectID: "proj-1", APIToken: "tok-1", SigningKey: psk, StepDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	c := client(t, sim.URL(), nil)

	var mu sync.Mutex
	var hook, action faxbridge.FaxStatus
	actions := make(chan struct{}, 1)
	var base string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := c.ParseInbound(r, base)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/in" {
			hook = st
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Receive action="/in/done" method="POST" mediaType="application/pdf" pageSize="a4"/></Response>`)
			return
		}
		action = st
		actions <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	base = srv.URL
	sim.SetFaxWebhook("+15550001111", srv.URL+"/in", "")
	sid, err := sim.Receive(signalwiretest.Incoming{From: "+15557654321", To: "+15550001111", Document: inboundPDF})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-actions:
	case <-time.After(10 * time.Second):
		t.Fatalf("no action callback; webhooks %+v", sim.Webhooks())
	}
	mu.Lock()
	if hook.SID != sid || hook.From != "+15557654321" || hook.To != "+15550001111" {
		t.Errorf("webhook parsed as %+v", hook)
	}
	if action.SID != sid || action.Status != "received" || action.Pages != 3 || action.MediaURL == "" || action.RemoteStationID != "+15557654321" {
		t.Errorf("action parsed as %+v", action)
	}
	mediaURL := action.MediaURL
	mu.Unlock()
	if w := sim.Webhooks(); len(w) != 1 || w[0].Verb != "Receive" || w[0].PageSize != "a4" {
		t.Errorf("webhooks: %+v", w)
	}

	ctx := context.Background()
	rc, err := c.FetchMedia(ctx, mediaURL, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, inboundPDF) {
		t.Fatalf("media: %q, %v", got, err)
	}
	if f := sim.MediaFetches(); len(f) != 1 || !f[0].Auth || f[0].Status != 200 {
		t.Errorf("media fetches: %+v", f)
	}
	// Without the project's credentials the simulator refuses the media.
	bad := client(t, sim.URL(), func(c *Config) { c.APIToken = "wrong" })
	if _, err := bad.FetchMedia(ctx, mediaURL, 1<<20); faxbridge.ErrorCode(err) != faxbridge.EUnauthorized {
		t.Errorf("fetch with a wrong token: %v, want unauthorized", err)
	}

	// An outbound fax to the same number is not a received one.
	if _, err := c.Send(ctx, faxbridge.FaxRequest{To: "+15550001111", From: "+15550002222", MediaURL: srv.URL + "/doc.pdf"}); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"+15550001111", ""} {
		list, err := c.ListReceived(ctx, to, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].SID != sid || list[0].Status != "received" || list[0].From != "+15557654321" || list[0].Direction != faxbridge.Inbound || list[0].MediaURL != mediaURL {
			t.Errorf("ListReceived(%q): %+v", to, list)
		}
	}

	if err := c.DeleteReceived(ctx, sid, mediaURL); err != nil {
		t.Fatal(err)
	}
	if f, _ := sim.Fax(sid); !f.Deleted || !f.MediaDeleted {
		t.Errorf("after DeleteReceived: deleted %v, media deleted %v", f.Deleted, f.MediaDeleted)
	}
	if err := c.DeleteReceived(ctx, sid, mediaURL); err != nil {
		t.Errorf("second DeleteReceived: %v, want nil (already gone)", err)
	}
	if list, err := c.ListReceived(ctx, "", time.Now().Add(-time.Hour)); err != nil || len(list) != 0 {
		t.Errorf("after delete, ListReceived: %+v, %v", list, err)
	}
}

// TestFetchMediaCredentials: credentials go to the API host only; a
// redirect to another host is followed without them.
func TestFetchMediaCredentials(t *testing.T) {
	var mu sync.Mutex
	auth := map[string]string{}
	record := func(name string, r *http.Request) {
		mu.Lock()
		auth[name] = r.Header.Get("Authorization")
		mu.Unlock()
	}
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("storage", r)
		w.Header().Set("Content-Type", "application/pdf")
		w.Write(inboundPDF)
	}))
	t.Cleanup(storage.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r.URL.Path, r)
		if r.URL.Path == "/away" {
			http.Redirect(w, r, storage.URL+"/signed?x=1", http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Write(inboundPDF)
	}))
	t.Cleanup(api.Close)
	c := client(t, api.URL, nil)
	fetch := func(u string) {
		t.Helper()
		rc, err := c.FetchMedia(context.Background(), u, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, inboundPDF) {
			t.Fatalf("fetch %s: wrong bytes", u)
		}
	}
	fetch(api.URL + "/away")
	fetch(api.URL + "/here")
	fetch(storage.URL + "/direct")
	mu.Lock()
	defer mu.Unlock()
	if auth["/away"] == "" || auth["/here"] == "" {
		t.Errorf("the API host got no credentials: %v", auth)
	}
	if auth["storage"] != "" {
		t.Errorf("another host got credentials %q", auth["storage"])
	}
}

// TestFetchMediaBounded: a document over the limit is ETooLarge whether
// the size is announced or only found while reading.
func TestFetchMediaBounded(t *testing.T) {
	big := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 4096)...)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		}
		w.Write(big)
	}))
	t.Cleanup(api.Close)
	c := client(t, api.URL, nil)
	if _, err := c.FetchMedia(context.Background(), api.URL+"/sized", 1000); faxbridge.ErrorCode(err) != faxbridge.ETooLarge {
		t.Errorf("announced size: %v, want too_large", err)
	}
	rc, err := c.FetchMedia(context.Background(), api.URL+"/chunked", 1000)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if faxbridge.ErrorCode(err) != faxbridge.ETooLarge {
		t.Errorf("streamed: %v, want too_large", err)
	}
	if _, err := c.FetchMedia(context.Background(), "ftp://x/y", 1000); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
		t.Errorf("ftp URL: %v, want invalid", err)
	}
}

// TestParseInboundRefusesBadSignature: a webhook signed with another key is
// EUnauthorized.
func TestParseInboundRefusesBadSignature(t *testing.T) {
	c := client(t, "https://example.signalwire.com", nil)
	form := "FaxSid=fx-1&From=%2B15557654321&To=%2B15550001111"
	r := httptest.NewRequest(http.MethodPost, "/callbacks/inbound", strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-SignalWire-Signature", "bm90IGEgc2lnbmF0dXJl")
	_, err := c.ParseInbound(r, "https://bridge.example.net")
	var fe *faxbridge.Error
	if faxbridge.ErrorCode(err) != faxbridge.EUnauthorized || !errors.As(err, &fe) {
		t.Fatalf("wrong signature: %v, want unauthorized", err)
	}
}
