// Package signalwiretest is a SignalWire Compatibility Fax API simulator over
// real HTTP. It is strict where SignalWire is strict (authentication, required
// and ranged parameters, the media fetch) and can be switched into every
// misbehaviour SignalWire's documentation allows (Faults). It imports nothing
// from the client it tests and signs callbacks on its own, so a signing bug in
// the client cannot hide in both.
//
// Lifecycle of a created fax, StepDelay apart: queued → processing (the media
// is fetched here) → sending → the Outcome's final status. Status callbacks,
// for the events the create subscribed to:
//
//	initiated  when the fax is queued
//	ringing    when it starts sending
//	answered   when it starts sending (after ringing)
//	completed  on the final status, including canceled and a failed media fetch
//
// ringing_forwarded and ringing_queued are accepted and never sent.
package signalwiretest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Config configures a simulator.
type Config struct {
	ProjectID  string
	APIToken   string
	SigningKey string // signs status callbacks; kept apart from the token on purpose

	Addr       string        // listen address; default "127.0.0.1:0"
	StepDelay  time.Duration // between status transitions; default 20ms
	RetryDelay time.Duration // between callback attempts; default 50ms

	// Numbers, when set, are the From numbers the project owns; a create
	// from any other E.164 number is refused with 21210.
	Numbers []string
	// PageCounter counts the pages of a fetched document; the default counts
	// /Type /Page objects (not /Pages) and never answers less than 1.
	PageCounter func([]byte) int
	// Now is the clock for dates in resources and list filters and for
	// Faults.DownUntil; default time.Now. Delays always use real time.
	Now func() time.Time

	Logf func(format string, args ...any)
	// HTTPClient fetches media and sends callbacks. Its redirect policy is
	// replaced: SignalWire follows no redirects. The default client has a
	// 2 s connect and 5 s response timeout, as SignalWire's callbacks do.
	HTTPClient *http.Client
}

// Create records one accepted fax create.
type Create struct {
	Time time.Time
	SID  string
	Form url.Values
	// Answer is the HTTP status the client was given: 200 (or the forced
	// create status), a forced error status, or 0 when the connection was
	// dropped.
	Answer int
	Media  Media // filled once the media fetch is done
}

// Media describes the fetch of a fax's MediaUrl.
type Media struct {
	Fetched     bool   // the fetch has finished, well or not
	Status      int    // HTTP status; 0 on a network error
	ContentType string // as served
	SHA256      string // hex digest of the body
	Len         int
	Err         string // why the fetch failed the fax; "" when it did not
}

// Request records a request answered with a 4xx.
type Request struct {
	Time    time.Time
	Method  string
	Path    string // path and query
	Form    url.Values
	Status  int
	Code    int
	Message string
	Forced  bool // the answer came from Faults, not from a check
}

// CallbackRecord records one status callback attempt (or its drop).
type CallbackRecord struct {
	Time      time.Time
	FaxSID    string
	Event     string // initiated, ringing, answered or completed
	FaxStatus string
	Method    string
	URL       string     // the URL requested, query included
	Params    url.Values // the fields sent, in the body or the query
	Signature string
	Attempt   int  // 1..3
	Dropped   bool // Faults dropped it: no request was made
	Code      int  // response status; 0 on a network error or drop
	Err       string
}

// Fax is a snapshot of one fax as the simulator holds it.
type Fax struct {
	SID, AccountSID      string
	From, To             string
	MediaURL             string // as submitted
	MediaSID             string
	Quality              string
	StatusCallback       string
	StatusCallbackMethod string
	StatusCallbackEvents []string
	StoreMedia           bool
	TTL                  int // minutes
	SipAuthUsername      string
	SipAuthPassword      string

	Status          string
	History         []string // every status it has had, in order
	NumPages        int
	Duration        int
	Price           float64
	RemoteStationID string
	ErrorCode       string
	ErrorMessage    string
	Created         time.Time
	Updated         time.Time
	Deleted         bool
	MediaDeleted    bool
	Media           Media

	// Direction is "outbound" for created faxes and "inbound" for received
	// ones; MediaType is what the Receive verb asked for.
	Direction string
	MediaType string
}

// Server is a running simulator. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	ln     net.Listener
	srv    *http.Server
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	faults    Faults
	rng       *mrand.Rand
	faxes     map[string]*fax
	seq       int
	creates   []*createRec
	rejected  []Request
	callbacks []CallbackRecord
	numbers   map[string]number // fax webhooks of the project's numbers
	webhooks  []Webhook
	fetches   []MediaFetch
	active    int           // fax lifecycles and callback senders still running
	idle      chan struct{} // closed while active == 0
}

// fax is the simulator's own record of a fax.
type fax struct {
	Fax
	seq    int
	stop   chan struct{} // closed on cancel or delete, to cut a wait short
	events chan event    // to the fax's callback sender; nil once closed
	body   []byte        // stored document
}

type createRec struct {
	Create
	fax *fax
}

// Start listens and serves the simulator until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.ProjectID == "" || cfg.APIToken == "" || cfg.SigningKey == "" {
		return nil, errors.New("signalwiretest: ProjectID, APIToken and SigningKey are required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.StepDelay <= 0 {
		cfg.StepDelay = 20 * time.Millisecond
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 50 * time.Millisecond
	}
	if cfg.PageCounter == nil {
		cfg.PageCounter = CountPages
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("signalwiretest: listen %s: %w", cfg.Addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		ln:     ln,
		client: noRedirects(cfg.HTTPClient),
		ctx:    ctx,
		cancel: cancel,
		rng:    mrand.New(mrand.NewSource(0)),
		faxes:  make(map[string]*fax),
		idle:   make(chan struct{}),
	}
	close(s.idle)
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("signalwiretest: serve: %v", err)
		}
	}()
	return s, nil
}

// noRedirects returns a client like c (or a default one) that never follows
// a redirect, since SignalWire treats a 3xx as the answer.
func noRedirects(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Transport = &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			ResponseHeaderTimeout: 5 * time.Second,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       30 * time.Second,
		}
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// URL returns the base URL, e.g. http://127.0.0.1:PORT, without a trailing slash.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server, cuts pending delays and callbacks short, and
// waits for every goroutine it started.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	err := s.srv.Close()
	s.wg.Wait()
	if t, ok := s.client.Transport.(*http.Transport); ok && s.cfg.HTTPClient == nil {
		t.CloseIdleConnections()
	}
	return err
}

// SetFaults replaces the current faults. The random source restarts from f.Seed.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.CreateErrors = slices.Clone(f.CreateErrors)
	f.MediaDeleteErrors = slices.Clone(f.MediaDeleteErrors)
	s.faults = f
	s.rng = mrand.New(mrand.NewSource(f.Seed))
}

// Creates returns every accepted fax create, oldest first.
func (s *Server) Creates() []Create {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Create, len(s.creates))
	for i, c := range s.creates {
		out[i] = c.Create
		out[i].Form = cloneValues(c.Form)
		out[i].Media = c.fax.Media
	}
	return out
}

// Rejected returns every request answered with a 4xx, oldest first.
func (s *Server) Rejected() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.rejected)
	for i := range out {
		out[i].Form = cloneValues(out[i].Form)
	}
	return out
}

// Fax returns a snapshot of the fax, deleted ones included.
func (s *Server) Fax(sid string) (Fax, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faxes[sid]
	if !ok {
		return Fax{}, false
	}
	return f.snapshot(), true
}

// MediaDeleted reports whether the fax's stored media was deleted through
// the API (DELETE .../Faxes/{Sid}/Media/{MediaSid}). The same fact is in
// Fax.MediaDeleted.
func (s *Server) MediaDeleted(sid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faxes[sid]
	return ok && f.MediaDeleted
}

// Callbacks returns every callback attempt, in the order they finished.
func (s *Server) Callbacks() []CallbackRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.callbacks)
	for i := range out {
		out[i].Params = cloneValues(out[i].Params)
	}
	return out
}

// WaitIdle returns once every fax is final (or stalled) and every callback
// has been delivered, dropped or given up on.
func (s *Server) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		idle := s.idle
		s.mu.Unlock()
		select {
		case <-idle:
			// Work may have started between the close and now; look again.
			s.mu.Lock()
			n := s.active
			s.mu.Unlock()
			if n == 0 {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("signalwiretest: wait idle: %w", ctx.Err())
		}
	}
}

// begin accounts for a goroutine about to start; it reports false once the
// server is closed. Call it with s.mu held.
func (s *Server) begin() bool {
	if s.closed {
		return false
	}
	s.wg.Add(1)
	if s.active == 0 {
		s.idle = make(chan struct{})
	}
	s.active++
	return true
}

func (s *Server) end() {
	s.mu.Lock()
	s.active--
	if s.active == 0 {
		close(s.idle)
	}
	s.mu.Unlock()
	s.wg.Done()
}

// sleep waits d, or less if the server closes or stop is closed; it reports
// whether the full time passed.
func (s *Server) sleep(d time.Duration, stop <-chan struct{}) bool {
	if d <= 0 {
		return s.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	case <-stop:
		return false
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

func (f *fax) snapshot() Fax {
	out := f.Fax
	out.StatusCallbackEvents = slices.Clone(f.StatusCallbackEvents)
	out.History = slices.Clone(f.History)
	return out
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// newUUID returns a random version 4 UUID, the form SignalWire's SIDs take.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
