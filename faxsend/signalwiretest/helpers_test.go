package signalwiretest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	project = "b3877c40-da60-4998-90ad-b792e98472ac"
	token   = "PT0123456789abcdef"
	key     = "PSK_0123456789abcdef"
)

// twoPages is a minimal PDF with two page objects and one page tree node.
var twoPages = []byte("%PDF-1.4\n" +
	"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
	"2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n" +
	"3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n" +
	"4 0 obj <</Type/Page/Parent 2 0 R>> endobj\n%%EOF\n")

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.ProjectID, cfg.APIToken, cfg.SigningKey = project, token, key
	if cfg.StepDelay == 0 {
		cfg.StepDelay = time.Millisecond
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = time.Millisecond
	}
	cfg.Logf = t.Logf
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func idle(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// mediaServer serves documents the way a blob store might, and the ways it
// might go wrong.
type mediaServer struct {
	*httptest.Server
	mu       sync.Mutex
	hits     []string
	arrived  chan struct{} // one value per request to /block
	release  chan struct{} // closed to let /block answer
	released sync.Once
}

func newMedia(t *testing.T) *mediaServer {
	m := &mediaServer{arrived: make(chan struct{}, 16), release: make(chan struct{})}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.hits = append(m.hits, r.Method+" "+r.URL.Path)
		m.mu.Unlock()
		switch r.URL.Path {
		case "/doc.pdf":
			w.Header().Set("Content-Type", "application/pdf")
			w.Write(twoPages)
		case "/block":
			m.arrived <- struct{}{}
			select {
			case <-m.release:
			case <-r.Context().Done():
				return
			}
			w.Header().Set("Content-Type", "application/pdf")
			w.Write(twoPages)
		case "/redirect":
			http.Redirect(w, r, "/doc.pdf", http.StatusFound)
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			w.Write(twoPages)
		case "/notpdf":
			w.Header().Set("Content-Type", "application/pdf")
			io.WriteString(w, "<html>not a pdf</html>")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() {
		m.unblock()
		m.Close()
	})
	return m
}

func (m *mediaServer) unblock() { m.released.Do(func() { close(m.release) }) }

func (m *mediaServer) requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.hits...)
}

// hook receives status callbacks and checks each signature independently of
// the simulator's bookkeeping: from the URL it was called on and the fields
// it received.
type hook struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	status func(n int) int // answer to the n-th request (1-based); nil means 200
}

type received struct {
	method string
	params url.Values
	valid  bool
	header string // which signature header carried the signature
	url    string // the full URL called
	signed url.Values
	sig    string
}

func newHook(t *testing.T, status func(int) int) *hook {
	h := &hook{status: status}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		full := h.URL + r.URL.RequestURI()
		var params url.Values
		fields := r.URL.Query()
		if r.Method == http.MethodPost {
			params, fields = r.PostForm, r.PostForm
		}
		header, sig := "X-SignalWire-Signature", r.Header.Get("X-SignalWire-Signature")
		if sig == "" {
			header, sig = "X-Twilio-Signature", r.Header.Get("X-Twilio-Signature")
		}
		h.mu.Lock()
		h.got = append(h.got, received{method: r.Method, params: fields, valid: sig != "" && sig == Sign(key, full, params), header: header,
			url: full, signed: params, sig: sig})
		n := len(h.got)
		h.mu.Unlock()
		code := http.StatusOK
		if h.status != nil {
			code = h.status(n)
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(code)
		io.WriteString(w, "<Response/>")
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) received() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.got...)
}

// answer is a decoded API response.
type answer struct {
	status int
	header http.Header
	body   map[string]any
}

// call makes an API request with the project's credentials unless user is
// given; path is relative to the simulator's URL.
func call(t *testing.T, s *Server, method, path string, form url.Values, user, pass string) answer {
	t.Helper()
	a, err := try(s, method, path, form, user, pass)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func try(s *Server, method, path string, form url.Values, user, pass string) (answer, error) {
	if user == "" && pass == "" {
		user, pass = project, token
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.URL()+path, body)
	if err != nil {
		return answer{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth(user, pass)
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			return answer{}, err
		}
	}
	return a, nil
}

const faxes = "/api/laml/2010-04-01/Accounts/" + project + "/Faxes"

func form(media string, extra ...string) url.Values {
	v := url.Values{"To": {"+15556677999"}, "From": {"+15556677888"}, "MediaUrl": {media}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Add(extra[i], extra[i+1])
	}
	return v
}

// create posts a fax and fails the test unless it is accepted.
func create(t *testing.T, s *Server, f url.Values) string {
	t.Helper()
	a := call(t, s, http.MethodPost, faxes+".json", f, "", "")
	if a.status != http.StatusOK {
		t.Fatalf("create: status %d, body %v", a.status, a.body)
	}
	sid, _ := a.body["sid"].(string)
	if sid == "" {
		t.Fatalf("create: no sid in %v", a.body)
	}
	return sid
}

// clock is a settable clock for dates.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func decode(resp *http.Response, v any) error {
	raw, err := io.ReadAll(resp.Body)
	if err != nil || len(raw) == 0 {
		return err
	}
	return json.Unmarshal(raw, v)
}
