package signalwiretest

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// apiPrefix is where SignalWire serves the Compatibility API. The older root
// path without /api/laml is not served: SignalWire answers it with 404.
const apiPrefix = "/api/laml/2010-04-01/Accounts/"

func faxPath(account, sid string) string { return apiPrefix + account + "/Faxes/" + sid }

// rq is one API request being answered.
type rq struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	latency time.Duration
	form    url.Values // parsed body, for the rejection record
	faults  Faults     // as they were when the request arrived
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	faults := s.faults
	s.mu.Unlock()
	defer s.wg.Done()

	if s.cfg.Now().Before(faults.DownUntil) {
		if faults.DownMode == Down503 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>\n")
			return
		}
		s.reset(w)
		return
	}
	q := &rq{s: s, w: w, r: r, latency: faults.Latency, faults: faults}
	s.route(q)
}

func (s *Server) route(q *rq) {
	path := q.r.URL.Path
	if path == "/simulator/receive" {
		s.trigger(q.w, q.r)
		return
	}
	if !strings.HasPrefix(path, apiPrefix) {
		q.fail(http.StatusNotFound, codeNotFound, "The requested resource "+path+" was not found", false)
		return
	}
	if s.cfg.Now().Before(q.faults.AuthFailUntil) {
		// A rotated token and one without the Fax scope look the same to
		// the client: code 20003, with 401 or 403.
		if q.faults.AuthFailStatus == http.StatusForbidden {
			s.refuseAuth(q, http.StatusForbidden, "Authentication Error - the API token is not permitted to use the Fax API", true)
		} else {
			s.refuseAuth(q, http.StatusUnauthorized, "Authentication Error - invalid username or token", true)
		}
		return
	}
	user, pass, ok := q.r.BasicAuth()
	if !ok || !same(user, s.cfg.ProjectID) || !same(pass, s.cfg.APIToken) {
		s.refuseAuth(q, http.StatusUnauthorized, "Authentication Error - invalid username or token", false)
		return
	}
	parts := strings.Split(strings.TrimPrefix(path, apiPrefix), "/")
	if parts[0] != s.cfg.ProjectID {
		q.w.Header().Set("WWW-Authenticate", `Basic realm="SignalWire"`)
		q.fail(http.StatusUnauthorized, codeAuth, "Authentication Error - the account in the path is not this project", false)
		return
	}
	parts = parts[1:]
	// Every resource may be named with or without .json. Media without it
	// is the document itself, with it the media resource.
	asJSON := strings.HasSuffix(parts[len(parts)-1], ".json")
	parts[len(parts)-1] = strings.TrimSuffix(parts[len(parts)-1], ".json")
	if parts[0] != "Faxes" || slices.Contains(parts, "") || (len(parts) >= 3 && parts[2] != "Media") || len(parts) > 4 {
		q.fail(http.StatusNotFound, codeNotFound, "The requested resource "+path+" was not found", false)
		return
	}
	m := q.r.Method
	switch {
	case len(parts) == 1 && m == http.MethodPost:
		s.create(q)
	case len(parts) == 1 && m == http.MethodGet:
		s.list(q)
	case len(parts) == 2 && m == http.MethodGet:
		s.fetch(q, parts[1])
	case len(parts) == 2 && m == http.MethodPost:
		s.update(q, parts[1])
	case len(parts) == 2 && m == http.MethodDelete:
		s.remove(q, parts[1])
	case len(parts) == 3 && m == http.MethodGet:
		s.mediaList(q, parts[1])
	case len(parts) == 4 && (m == http.MethodGet || m == http.MethodDelete):
		s.media(q, parts[1], parts[3], asJSON)
	default:
		q.fail(http.StatusMethodNotAllowed, codeMethod, "Method not allowed: "+m, false)
	}
}

// refuseAuth answers a request whose credentials are refused. A media
// download refused so is recorded as a fetch, as any other.
func (s *Server) refuseAuth(q *rq, status int, msg string, forced bool) {
	if strings.Contains(q.r.URL.Path, "/Media/") {
		s.mu.Lock()
		s.fetches = append(s.fetches, MediaFetch{Time: s.cfg.Now(), Status: status})
		s.mu.Unlock()
	}
	if status == http.StatusUnauthorized {
		q.w.Header().Set("WWW-Authenticate", `Basic realm="SignalWire"`)
	}
	q.fail(status, codeAuth, msg, forced)
}

func same(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *Server) create(q *rq) {
	form, perr := q.parseForm()
	if perr == nil {
		var spec Fax
		spec, perr = parseCreate(form, s.cfg.Numbers)
		if perr == nil {
			s.accept(q, spec, form)
			return
		}
	}
	q.fail(http.StatusBadRequest, perr.code, perr.msg, false)
}

// accept answers a valid create, as the faults say.
func (s *Server) accept(q *rq, spec Fax, form url.Values) {
	s.mu.Lock()
	if s.cfg.Now().Before(s.faults.NoBalanceUntil) {
		s.mu.Unlock()
		q.fail(statusNoBalance, codeNoBalance, "Insufficient balance to complete the request", true)
		return
	}
	forced := s.nextForced()
	status := s.faults.CreateStatus
	acceptThenReset := s.faults.AcceptThenReset
	slow := s.faults.SlowCreate
	s.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	if forced != nil && !forced.Accept {
		if forced.Reset {
			s.reset(q.w)
			return
		}
		q.forced(forced)
		return
	}
	answer := status
	switch {
	case forced != nil && forced.Reset, forced == nil && acceptThenReset:
		answer = 0
	case forced != nil:
		answer = forced.Status
	}
	f, err := s.createAfter(q, slow, spec, form, answer)
	if errors.Is(err, errGone) {
		return // the client gave up; the fax is still on its way
	}
	if err != nil {
		q.fail(http.StatusServiceUnavailable, codeInternal, "Service unavailable", false)
		return
	}
	switch {
	case answer == 0:
		s.reset(q.w)
	case forced != nil:
		q.forced(forced)
	default:
		q.json(status, s.renderFax(f))
	}
}

// errGone says the client left before a slow create was carried out.
var errGone = errors.New("signalwiretest: client gone before the create took effect")

// createAfter creates the fax after delay d, whatever becomes of the
// request meanwhile, and returns it if the client is still waiting for it.
// A create the client gave up on is recorded with Answer 0.
func (s *Server) createAfter(q *rq, d time.Duration, spec Fax, form url.Values, answer int) (*fax, error) {
	if d <= 0 {
		return s.createFax(spec, form, answer)
	}
	type result struct {
		f   *fax
		err error
	}
	done := make(chan result, 1)
	s.mu.Lock()
	ok := s.begin()
	s.mu.Unlock()
	if !ok {
		return nil, errClosed
	}
	gone := q.r.Context().Done()
	go func() {
		defer s.end()
		// Only the server's closing cuts the wait short: the client's
		// leaving does not stop a create already under way.
		if !s.sleep(d, nil) {
			done <- result{err: errClosed}
			return
		}
		a := answer
		select {
		case <-gone:
			a = 0
		default:
		}
		f, err := s.createFax(spec, form, a)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		return r.f, r.err
	case <-gone:
		return nil, errGone
	}
}

// nextForced takes the next forced create answer, if any. Call with s.mu held.
func (s *Server) nextForced() *HTTPError {
	if len(s.faults.CreateErrors) > 0 {
		e := s.faults.CreateErrors[0]
		s.faults.CreateErrors = s.faults.CreateErrors[1:]
		return &e
	}
	if s.faults.CreateErrorRate > 0 && s.rng.Float64() < s.faults.CreateErrorRate {
		switch s.rng.Intn(3) {
		case 0:
			return &HTTPError{Status: http.StatusTooManyRequests, Code: codeTooMany, Message: "Too Many Requests", RetryAfter: "1"}
		case 1:
			return &HTTPError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "Internal error"}
		default:
			return &HTTPError{Status: http.StatusServiceUnavailable, Code: codeInternal, Message: "Service unavailable"}
		}
	}
	return nil
}

func (s *Server) list(q *rq) {
	query := q.r.URL.Query()
	allowed := []string{"To", "From", "DateCreatedAfter", "DateCreatedOnOrBefore", "PageSize", "Page", "PageToken"}
	for name, vs := range query {
		if !slices.Contains(allowed, name) {
			q.fail(http.StatusBadRequest, codeInvalidParam, "Unknown parameter '"+name+"'", false)
			return
		}
		if len(vs) > 1 {
			q.fail(http.StatusBadRequest, codeInvalidParam, "Parameter '"+name+"' given more than once", false)
			return
		}
	}
	pageSize, page, after := 50, 0, 0
	var err error
	if v := query.Get("PageSize"); v != "" {
		if pageSize, err = strconv.Atoi(v); err != nil || pageSize < 1 || pageSize > 1000 {
			q.fail(http.StatusBadRequest, codeInvalidParam, "PageSize must be from 1 to 1000", false)
			return
		}
	}
	if v := query.Get("Page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 0 {
			q.fail(http.StatusBadRequest, codeInvalidParam, "Page must be a whole number from 0", false)
			return
		}
	}
	if v := query.Get("PageToken"); v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "PA"))
		if err != nil || !strings.HasPrefix(v, "PA") || n < 1 {
			q.fail(http.StatusBadRequest, codeInvalidParam, "Invalid PageToken", false)
			return
		}
		after = n
	} else if page > 0 {
		q.fail(http.StatusBadRequest, codeInvalidParam, "PageToken is required when Page is above 0", false)
		return
	}
	var from, to bound
	for _, b := range []struct {
		name string
		dst  *bound
	}{{"DateCreatedAfter", &from}, {"DateCreatedOnOrBefore", &to}} {
		if v := query.Get(b.name); v != "" {
			if *b.dst, err = parseBound(v); err != nil {
				q.fail(http.StatusBadRequest, codeInvalidParam, b.name+" must be a date (YYYY-MM-DD), an RFC 3339 or an RFC 1123 time", false)
				return
			}
		}
	}

	s.mu.Lock()
	now, lag := s.cfg.Now(), s.faults.ListLag
	var all []*fax
	for _, f := range s.faxes {
		switch {
		case f.Deleted, after > 0 && f.seq >= after,
			lag > 0 && now.Sub(f.Created) < lag,
			query.Has("To") && f.To != query.Get("To"),
			query.Has("From") && f.From != query.Get("From"),
			!from.zero() && !from.before(f.Created),
			!to.zero() && to.before(f.Created):
			continue
		}
		all = append(all, f)
	}
	slices.SortFunc(all, func(a, b *fax) int { return b.seq - a.seq })
	more := len(all) > pageSize
	all = all[:min(len(all), pageSize)]
	faxes := make([]map[string]any, len(all))
	for i, f := range all {
		faxes[i] = s.renderLocked(f)
	}
	s.mu.Unlock()

	filters := url.Values{}
	for _, k := range []string{"To", "From", "DateCreatedAfter", "DateCreatedOnOrBefore"} {
		if query.Has(k) {
			filters.Set(k, query.Get(k))
		}
	}
	filters.Set("PageSize", strconv.Itoa(pageSize))
	path := q.r.URL.Path
	body := map[string]any{
		"faxes":             faxes,
		"page":              page,
		"page_size":         pageSize,
		"uri":               q.r.URL.RequestURI(),
		"first_page_uri":    path + "?" + filters.Encode(),
		"next_page_uri":     nil,
		"previous_page_uri": nil,
	}
	if more {
		filters.Set("Page", strconv.Itoa(page+1))
		filters.Set("PageToken", "PA"+strconv.Itoa(all[len(all)-1].seq))
		body["next_page_uri"] = path + "?" + filters.Encode()
	}
	q.json(http.StatusOK, body)
}

// bound is one end of a creation-date filter. A bare date covers the whole
// UTC day: "after 2024-05-01" starts on May 2nd and "on or before 2024-05-01"
// ends with May 1st. A time is compared with date_created, which has whole
// seconds.
type bound struct {
	t        time.Time
	dateOnly bool
}

func parseBound(v string) (bound, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return bound{t: t, dateOnly: true}, nil
	}
	var err error
	for _, layout := range []string{time.RFC3339Nano, time.RFC1123Z, time.RFC1123} {
		var t time.Time
		if t, err = time.Parse(layout, v); err == nil {
			return bound{t: t}, nil
		}
	}
	return bound{}, err
}

func (b bound) zero() bool { return b.t.IsZero() }

// before reports whether the bound lies before a fax created at c: the fax
// passes DateCreatedAfter and fails DateCreatedOnOrBefore.
func (b bound) before(c time.Time) bool {
	if b.dateOnly {
		return !c.Before(b.t.AddDate(0, 0, 1))
	}
	return c.Truncate(time.Second).After(b.t)
}

func (s *Server) fetch(q *rq, sid string) {
	s.mu.Lock()
	f := s.lookup(sid)
	var body map[string]any
	if f != nil {
		body = s.renderLocked(f)
	}
	s.mu.Unlock()
	if f == nil {
		q.notFound()
		return
	}
	q.json(http.StatusOK, body)
}

// update is POST on a fax: SignalWire allows only Status=canceled, and
// only while the fax is queued.
func (s *Server) update(q *rq, sid string) {
	form, perr := q.parseForm()
	if perr == nil {
		for name, vs := range form {
			if name != "Status" {
				perr = bad(codeInvalidParam, "Unknown parameter '%s'", name)
			} else if len(vs) != 1 || vs[0] != "canceled" {
				perr = bad(codeInvalidParam, "Status can only be set to canceled")
			}
		}
		if perr == nil && !form.Has("Status") {
			perr = bad(codeInvalidParam, "Status is required")
		}
	}
	if perr != nil {
		q.fail(http.StatusBadRequest, perr.code, perr.msg, false)
		return
	}
	s.mu.Lock()
	f := s.lookup(sid)
	if f == nil {
		s.mu.Unlock()
		q.notFound()
		return
	}
	if f.Status != "queued" {
		status := f.Status
		s.mu.Unlock()
		q.fail(http.StatusBadRequest, codeNotComplete, "A fax can only be canceled while queued; it is "+status, false)
		return
	}
	s.setStatus(f, "canceled")
	s.stop(f)
	s.emit(f, "completed")
	s.closeEvents(f)
	body := s.renderLocked(f)
	s.mu.Unlock()
	s.logf("signalwiretest: fax %s canceled", sid)
	q.json(http.StatusOK, body)
}

func (s *Server) remove(q *rq, sid string) {
	s.mu.Lock()
	f := s.lookup(sid)
	if f == nil {
		s.mu.Unlock()
		q.notFound()
		return
	}
	if f.Status == "processing" || f.Status == "sending" || f.Status == "receiving" {
		status := f.Status
		s.mu.Unlock()
		q.fail(http.StatusBadRequest, codeNotComplete, "A fax cannot be deleted while it is "+status, false)
		return
	}
	f.Deleted = true
	f.body = nil
	s.stop(f)
	s.closeEvents(f)
	s.mu.Unlock()
	s.logf("signalwiretest: fax %s deleted", sid)
	q.noContent()
}

func (s *Server) mediaList(q *rq, sid string) {
	s.mu.Lock()
	f := s.lookup(sid)
	var items []map[string]any
	if f != nil && s.mediaURL(f) != "" {
		items = append(items, s.renderMedia(f))
	}
	s.mu.Unlock()
	if f == nil {
		q.notFound()
		return
	}
	path := q.r.URL.Path
	q.json(http.StatusOK, map[string]any{
		"media":             append([]map[string]any{}, items...),
		"page":              0,
		"page_size":         50,
		"uri":               q.r.URL.RequestURI(),
		"first_page_uri":    path,
		"next_page_uri":     nil,
		"previous_page_uri": nil,
	})
}

func (s *Server) media(q *rq, sid, mediaSID string, asJSON bool) {
	s.mu.Lock()
	var forced *HTTPError
	if q.r.Method == http.MethodDelete && len(s.faults.MediaDeleteErrors) > 0 {
		forced = &s.faults.MediaDeleteErrors[0]
		s.faults.MediaDeleteErrors = s.faults.MediaDeleteErrors[1:]
		if !forced.Accept {
			s.mu.Unlock()
			if forced.Reset {
				s.reset(q.w)
			} else {
				q.forced(forced)
			}
			return
		}
	}
	f := s.lookup(sid)
	if f == nil || f.MediaSID != mediaSID || s.mediaURL(f) == "" {
		if f != nil && f.Direction == "inbound" && q.r.Method == http.MethodGet {
			s.fetches = append(s.fetches, MediaFetch{Time: s.cfg.Now(), FaxSID: sid, Status: http.StatusNotFound, Auth: true})
		}
		s.mu.Unlock()
		q.notFound()
		return
	}
	if q.r.Method == http.MethodDelete {
		f.MediaDeleted = true
		f.body = nil
		s.mu.Unlock()
		switch {
		case forced != nil && forced.Reset:
			s.reset(q.w)
		case forced != nil:
			q.forced(forced)
		default:
			q.noContent()
		}
		return
	}
	if !asJSON {
		s.serveDocument(q, f) // unlocks
		return
	}
	body := s.renderMedia(f)
	s.mu.Unlock()
	q.json(http.StatusOK, body)
}

// lookup finds a fax the API still shows. Call with s.mu held.
func (s *Server) lookup(sid string) *fax {
	f := s.faxes[sid]
	if f == nil || f.Deleted {
		return nil
	}
	return f
}

// stop cuts the fax's pending wait short. Call with s.mu held.
func (s *Server) stop(f *fax) {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
}

// reset drops the connection without an answer, with a TCP reset where the
// platform allows, as a crashed or overloaded front end does.
func (s *Server) reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// parseForm reads a POST body as SignalWire expects it: form-encoded, with
// nothing in the query string.
func (q *rq) parseForm() (url.Values, *paramError) {
	mt, _, err := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, bad(codeInvalidParam, "The request body must be application/x-www-form-urlencoded")
	}
	if q.r.URL.RawQuery != "" {
		return nil, bad(codeInvalidParam, "Parameters must be sent in the request body, not the URL")
	}
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, 1<<20)
	if err := q.r.ParseForm(); err != nil {
		return nil, bad(codeInvalidParam, "The request body is not a valid form")
	}
	q.form = q.r.PostForm
	return q.r.PostForm, nil
}

func (q *rq) wait() {
	q.s.sleep(q.latency, q.r.Context().Done())
}

func (q *rq) json(status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings, numbers and nil are rendered
	}
	q.wait()
	q.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	q.w.WriteHeader(status)
	q.w.Write(body)
}

func (q *rq) noContent() {
	q.wait()
	q.w.WriteHeader(http.StatusNoContent)
}

func (q *rq) notFound() {
	q.fail(http.StatusNotFound, codeNotFound, "The requested resource "+q.r.URL.Path+" was not found", false)
}

func (q *rq) forced(e *HTTPError) {
	if e.RetryAfter != "" {
		q.w.Header().Set("Retry-After", e.RetryAfter)
	}
	q.fail(e.Status, e.Code, e.Message, true)
}

// fail answers with SignalWire's error body and records a 4xx.
func (q *rq) fail(status, code int, msg string, forced bool) {
	if status >= 400 && status < 500 {
		q.s.mu.Lock()
		q.s.rejected = append(q.s.rejected, Request{
			Time: q.s.cfg.Now(), Method: q.r.Method, Path: q.r.URL.RequestURI(), Form: cloneValues(q.form),
			Status: status, Code: code, Message: msg, Forced: forced,
		})
		q.s.mu.Unlock()
	}
	q.s.logf("signalwiretest: %s %s: %d code %d: %s", q.r.Method, q.r.URL.Path, status, code, msg)
	q.json(status, map[string]any{
		"code":      code,
		"message":   msg,
		"more_info": "https://developer.signalwire.com/compatibility-api/errors/" + strconv.Itoa(code),
		"status":    status,
	})
}
