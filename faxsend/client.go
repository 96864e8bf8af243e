package faxsend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/faxbridge/faxbridge"
)

// Config configures a Client. BaseURL, ProjectID and APIToken are required.
type Config struct {
	// BaseURL is the scheme and host of the space, e.g.
	// "https://example.signalwire.com", with no path.
	BaseURL   string
	ProjectID string
	APIToken  string
	// SigningKey checks callback signatures. Older projects sign with the API
	// token, newer ones with a separate key, so it is configured on its own.
	// Without it every callback is refused.
	SigningKey string
	// TTL is how many minutes SignalWire keeps trying, 5..300; 0 omits it.
	TTL int
	// StoreMedia, when set, tells SignalWire whether to keep a copy of the
	// document.
	StoreMedia *bool
	// StatusCallbackMethod is "POST" or "GET"; "" omits it (SignalWire
	// defaults to POST).
	StatusCallbackMethod string
	// StatusCallbackEvents lists the events to be called back for; nil omits
	// it (SignalWire defaults to "completed").
	StatusCallbackEvents []string
	// HTTPClient makes the requests; nil means a client with timeouts that
	// does not follow redirects.
	HTTPClient *http.Client
	UserAgent  string
}

// Client talks to the SignalWire Fax API. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	faxes   string // URL of the Faxes collection
	http    *http.Client
	agent   string
	backoff []time.Duration // waits between read attempts; len+1 attempts
	maxWait time.Duration   // longest Retry-After a read retry honours
	media   *http.Client    // fetches received faxes' documents (see mediaClient)
}

var _ faxbridge.FaxProvider = (*Client)(nil)

// callbackEvents are the documented StatusCallbackEvent values.
const callbackEvents = "initiated, ringing, answered, completed, ringing_forwarded, ringing_queued"

// maxBody bounds what we read from the API: a page of faxes is a few tens of
// kilobytes, so anything near this is not a SignalWire answer.
const maxBody = 4 << 20

// pageSize is the list page size FindSent asks for.
const pageSize = 100

// maxPages stops FindSent from following a next_page_uri chain forever.
const maxPages = 50

// New validates cfg and returns a client.
func New(cfg Config) (*Client, error) {
	var problems []string
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	switch {
	case cfg.BaseURL == "":
		problems = append(problems, "base URL is required")
	case err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "":
		problems = append(problems, fmt.Sprintf("base URL %q must be http(s)://host", cfg.BaseURL))
	case base.Path != "" || base.RawQuery != "" || base.Fragment != "" || base.User != nil:
		problems = append(problems, fmt.Sprintf("base URL %q must have no path, query or credentials", cfg.BaseURL))
	}
	if cfg.ProjectID == "" {
		problems = append(problems, "project ID is required")
	} else if strings.ContainsAny(cfg.ProjectID, "/?#") {
		problems = append(problems, "project ID contains a URL delimiter")
	}
	if cfg.APIToken == "" {
		problems = append(problems, "API token is required")
	}
	if cfg.TTL != 0 && (cfg.TTL < 5 || cfg.TTL > 300) {
		problems = append(problems, fmt.Sprintf("TTL %d is outside 5..300 minutes", cfg.TTL))
	}
	switch cfg.StatusCallbackMethod {
	case "", "GET", "POST":
	default:
		problems = append(problems, fmt.Sprintf("status callback method %q is not GET or POST", cfg.StatusCallbackMethod))
	}
	for _, ev := range cfg.StatusCallbackEvents {
		if !slices.Contains(strings.Split(callbackEvents, ", "), ev) {
			problems = append(problems, fmt.Sprintf("status callback event %q is not one of %s", ev, callbackEvents))
		}
	}
	if len(problems) > 0 {
		return nil, faxbridge.WrapError(faxbridge.EInvalid, errors.New(strings.Join(problems, "; ")), "invalid SignalWire configuration")
	}

	c := &Client{
		cfg:     cfg,
		base:    base,
		faxes:   base.String() + "/api/laml/2010-04-01/Accounts/" + url.PathEscape(cfg.ProjectID) + "/Faxes",
		http:    cfg.HTTPClient,
		agent:   cfg.UserAgent,
		backoff: []time.Duration{300 * time.Millisecond, time.Second},
		maxWait: 5 * time.Second,
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	c.media = c.mediaClient()
	if c.agent == "" {
		c.agent = "faxbridge"
	}
	return c, nil
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	t.MaxIdleConnsPerHost = 4
	return &http.Client{
		Transport: t,
		Timeout:   60 * time.Second,
		// The API never redirects; following one would turn the POST into a
		// GET and could carry the credentials to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Send submits one fax. It makes exactly one request and never retries; see
// the package documentation for what an error means.
func (c *Client) Send(ctx context.Context, req faxbridge.FaxRequest) (faxbridge.FaxStatus, error) {
	if req.To == "" || req.From == "" || req.MediaURL == "" {
		return faxbridge.FaxStatus{}, faxbridge.Errorf(faxbridge.EInvalid, "The fax is missing its number, sender number or document.")
	}
	switch req.Quality {
	case "", "standard", "fine", "superfine":
	default:
		return faxbridge.FaxStatus{}, faxbridge.WrapError(faxbridge.EInvalid,
			fmt.Errorf("quality %q", req.Quality), "The fax quality must be standard, fine or superfine.")
	}
	form := url.Values{}
	set := func(k, v string) {
		if v != "" {
			form.Set(k, v)
		}
	}
	set("MediaUrl", req.MediaURL)
	set("To", req.To)
	set("From", req.From)
	set("Quality", req.Quality)
	set("StatusCallback", req.StatusCallback)
	set("StatusCallbackMethod", c.cfg.StatusCallbackMethod)
	for _, ev := range c.cfg.StatusCallbackEvents {
		form.Add("StatusCallbackEvent", ev)
	}
	if c.cfg.StoreMedia != nil {
		form.Set("StoreMedia", strconv.FormatBool(*c.cfg.StoreMedia))
	}
	if c.cfg.TTL != 0 {
		form.Set("Ttl", strconv.Itoa(c.cfg.TTL))
	}
	set("SipAuthUsername", req.SipAuthUsername)
	set("SipAuthPassword", req.SipAuthPassword)

	var f fax
	if err := c.do(ctx, http.MethodPost, c.faxes, form, opSend, &f); err != nil {
		return faxbridge.FaxStatus{}, fmt.Errorf("send fax: %w", err)
	}
	if f.SID.s == "" {
		// SignalWire said yes but we cannot tell which fax it made: only a
		// reconciliation can find it.
		return faxbridge.FaxStatus{}, fmt.Errorf("send fax: %w", &faxbridge.Error{
			Code:    faxbridge.EUnavailable,
			Message: msgUnknownOutcome,
			Err:     fmt.Errorf("%w: success response without a fax sid", faxbridge.ErrAmbiguous),
		})
	}
	return f.status(), nil
}

// Fetch returns the current status of the fax with the given SID.
func (c *Client) Fetch(ctx context.Context, sid string) (faxbridge.FaxStatus, error) {
	if sid == "" {
		return faxbridge.FaxStatus{}, faxbridge.Errorf(faxbridge.EInvalid, "No fax ID was given.")
	}
	var f fax
	err := c.retry(ctx, func() error {
		return c.do(ctx, http.MethodGet, c.faxes+"/"+url.PathEscape(sid), nil, opFetch, &f)
	})
	if err != nil {
		return faxbridge.FaxStatus{}, fmt.Errorf("fetch fax %s: %w", sid, err)
	}
	return f.status(), nil
}

// Cancel asks SignalWire to cancel a fax that is still queued. SignalWire
// refuses (EInvalid) once the fax is being sent.
func (c *Client) Cancel(ctx context.Context, sid string) error {
	if sid == "" {
		return faxbridge.Errorf(faxbridge.EInvalid, "No fax ID was given.")
	}
	form := url.Values{"Status": {"canceled"}}
	if err := c.do(ctx, http.MethodPost, c.faxes+"/"+url.PathEscape(sid), form, opCancel, nil); err != nil {
		return fmt.Errorf("cancel fax %s: %w", sid, err)
	}
	return nil
}

// dateTimeUTC is RFC 3339 in UTC with whole seconds, as list filters take it.
const dateTimeUTC = "2006-01-02T15:04:05Z"

// clockSkew widens the FindSent window: `since` comes from our clock and
// date_created from SignalWire's.
const clockSkew = time.Minute

// FindSent returns the faxes matching q, created at or after q.Since (less a
// minute for clock skew), whose media URL is mediaURL, newest first; a fax
// whose date cannot be read comes last.
func (c *Client) FindSent(ctx context.Context, q faxbridge.SentQuery, mediaURL string) ([]faxbridge.FaxStatus, error) {
	if q.To == "" || mediaURL == "" {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "No fax number or document link was given.")
	}
	var out []faxbridge.FaxStatus
	err := c.list(ctx, q, func(f fax) {
		if sameMedia(f.MediaURL.s, mediaURL) || sameMedia(f.OriginalMediaURL.s, mediaURL) {
			out = append(out, f.status())
		}
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// ListSent returns every fax matching q, created at or after q.Since (less a
// minute for clock skew), newest first; a fax whose date cannot be read
// comes last. The worker uses it when FindSent
// finds nothing because the provider reports its own copy of the media
// instead of our URL.
func (c *Client) ListSent(ctx context.Context, q faxbridge.SentQuery) ([]faxbridge.FaxStatus, error) {
	if q.To == "" {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "No fax number was given.")
	}
	var out []faxbridge.FaxStatus
	err := c.list(ctx, q, func(f fax) { out = append(out, f.status()) })
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// DeleteMedia deletes every stored copy of a fax's document at SignalWire
// (DELETE .../Faxes/{Sid}/Media/{MediaSid}); what is already gone counts
// as deleted.
func (c *Client) DeleteMedia(ctx context.Context, sid string) error {
	if sid == "" {
		return faxbridge.Errorf(faxbridge.EInvalid, "No fax ID was given.")
	}
	base := c.faxes + "/" + url.PathEscape(sid) + "/Media"
	var l struct {
		Media []struct {
			SID text `json:"sid"`
		} `json:"media"`
	}
	err := c.retry(ctx, func() error { return c.do(ctx, http.MethodGet, base, nil, opFetch, &l) })
	if faxbridge.ErrorCode(err) == faxbridge.ENotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list media of fax %s: %w", sid, err)
	}
	for _, m := range l.Media {
		if m.SID.s == "" {
			continue
		}
		err := c.do(ctx, http.MethodDelete, base+"/"+url.PathEscape(m.SID.s), nil, opDelete, nil)
		if err != nil && faxbridge.ErrorCode(err) != faxbridge.ENotFound {
			return fmt.Errorf("delete media of fax %s: %w", sid, err)
		}
	}
	return nil
}

// list pages through the faxes matching sq created since (less clock skew)
// and calls visit for each one that really matches, whatever the server's
// filters did.
func (c *Client) list(ctx context.Context, sq faxbridge.SentQuery, visit func(fax)) error {
	to := sq.To
	cut := sq.Since.Add(-clockSkew)
	q := url.Values{}
	if to != "" {
		q.Set("To", to)
	}
	if sq.From != "" {
		q.Set("From", sq.From)
	}
	// A full date-time: the API documents DateCreatedAfter as one, and a
	// bare date, though servers accept it, is undocumented. Fractions of a
	// second are dropped, which only widens the window.
	q.Set("DateCreatedAfter", cut.UTC().Format(dateTimeUTC))
	q.Set("PageSize", strconv.Itoa(pageSize))
	next := c.faxes + "?" + q.Encode()

	seen := map[string]bool{}
	for page := 0; next != ""; page++ {
		if page == maxPages || seen[next] {
			return fmt.Errorf("find fax to %s: %w", to, faxbridge.WrapError(faxbridge.EUnavailable,
				fmt.Errorf("paging stopped after %d pages at %s", page, next), msgUnavailable))
		}
		seen[next] = true
		var l list
		err := c.retry(ctx, func() error {
			l = list{}
			return c.do(ctx, http.MethodGet, next, nil, opList, &l)
		})
		if err != nil {
			return fmt.Errorf("find fax to %s: %w", to, err)
		}
		for _, f := range l.Faxes {
			// The server has applied DateCreatedAfter, so a date we cannot
			// read is trusted to its filter rather than dropped: dropping
			// it could hide the very fax a reconciliation looks for. A
			// null number is trusted to the server's number filters alike.
			switch {
			case !f.Created.IsZero() && f.Created.Before(cut),
				to != "" && f.To.s != "" && !sameNumber(f.To.s, to),
				sq.From != "" && f.From.s != "" && !sameNumber(f.From.s, sq.From):
				continue
			}
			visit(f)
		}
		next, err = c.nextPage(l)
		if err != nil {
			return fmt.Errorf("find fax to %s: %w", to, err)
		}
	}
	return nil
}

// nextPage resolves the list's next page against the base URL, refusing one
// on another host: the request carries our credentials.
func (c *Client) nextPage(l list) (string, error) {
	ref := l.NextPageURI.s
	if ref == "" {
		ref = l.Meta.NextPageURL.s
	}
	if ref == "" {
		return "", nil
	}
	u, err := c.base.Parse(ref)
	if err != nil || u.Scheme != c.base.Scheme || u.Host != c.base.Host {
		return "", faxbridge.WrapError(faxbridge.EUnavailable, fmt.Errorf("unusable next page %q", ref), msgUnavailable)
	}
	return u.String(), nil
}

// sameNumber reports whether two fax numbers name the same destination, as
// the list reports them and as we asked: E.164 with or without '+', with
// spaces, dashes, dots or parentheses, or as a tel: URI; SIP URIs equal
// but for the case of their scheme and host.
func sameNumber(a, b string) bool { return normNumber(a) == normNumber(b) }

// normNumber is the form sameNumber compares.
func normNumber(s string) string {
	s = strings.TrimSpace(s)
	scheme, rest, ok := strings.Cut(s, ":")
	switch {
	case ok && (strings.EqualFold(scheme, "sip") || strings.EqualFold(scheme, "sips")):
		// sip:user@host:port;params — the user part is case-sensitive,
		// the scheme and host are not.
		user, host, hasUser := strings.Cut(rest, "@")
		if !hasUser {
			user, host = "", rest
		}
		hostPart, params, _ := strings.Cut(host, ";")
		out := strings.ToLower(scheme) + ":"
		if hasUser {
			out += user + "@"
		}
		out += strings.ToLower(hostPart)
		if params != "" {
			out += ";" + params
		}
		return out
	case ok && strings.EqualFold(scheme, "tel"):
		s, _, _ = strings.Cut(rest, ";") // drop ;phone-context and such
	}
	digits := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, s)
	digits = strings.TrimPrefix(digits, "+")
	for _, r := range digits {
		if r < '0' || r > '9' {
			return s // not a number: a client identifier, compared as is
		}
	}
	return digits
}

// sameMedia reports whether the provider's media URL got names ours: equal,
// or equal in scheme, host and path when the provider dropped the query.
func sameMedia(got, ours string) bool {
	if got == "" {
		return false
	}
	if got == ours {
		return true
	}
	g, err1 := url.Parse(got)
	o, err2 := url.Parse(ours)
	if err1 != nil || err2 != nil || g.RawQuery != "" || g.Path == "" || g.Path == "/" {
		return false
	}
	return strings.EqualFold(g.Scheme, o.Scheme) && strings.EqualFold(g.Host, o.Host) && g.EscapedPath() == o.EscapedPath()
}

// retry runs a read a few times while it fails with EUnavailable and the
// wait it asks for is short; longer waits are left to the caller's scheduler.
func (c *Client) retry(ctx context.Context, call func() error) error {
	for attempt := 0; ; attempt++ {
		err := call()
		if err == nil || faxbridge.ErrorCode(err) != faxbridge.EUnavailable || attempt >= len(c.backoff) {
			return err
		}
		wait := c.backoff[attempt]
		if ra := faxbridge.RetryAfter(err); ra > 0 {
			if ra > c.maxWait {
				return err
			}
			wait = max(wait, ra)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// op names the API operation, for the error mapping.
type op int

const (
	opSend op = iota
	opFetch
	opList
	opCancel
	opDelete // a received fax or its media
	opMedia  // the document of a received fax
)

// do makes one request. A POST sends form as its body, a GET ignores it. A
// 2xx answer is decoded into out when out is not nil; anything else becomes a
// *faxbridge.Error.
func (c *Client) do(ctx context.Context, method, target string, form url.Values, o op, out any) error {
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	}
	// wrote tells a failure before the request left us (nothing can have
	// happened) from one after (SignalWire may have acted on it). A failed
	// write cannot have delivered a whole request, so it does not count. A
	// successful one is counted even though the transport flushes its
	// buffer afterwards: when unsure, assume the request arrived.
	var wrote atomic.Bool
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	})
	req, err := http.NewRequestWithContext(tctx, method, target, body)
	if err != nil {
		return faxbridge.WrapError(faxbridge.EInternal, err, "The fax request could not be built.")
	}
	req.SetBasicAuth(c.cfg.ProjectID, c.cfg.APIToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	mutating := method != http.MethodGet

	resp, err := c.http.Do(req)
	if err != nil {
		return networkError(err, mutating && wrote.Load())
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(resp, raw, o)
	}
	if err == nil && len(raw) > maxBody {
		err = fmt.Errorf("response body over %d bytes", maxBody)
	}
	if err == nil && out != nil {
		if err = json.Unmarshal(raw, out); err != nil {
			err = fmt.Errorf("decode %s response: %w", method, err)
		}
	}
	if err != nil {
		// The provider accepted the request; for a POST we do not know
		// what it made of it.
		return networkError(fmt.Errorf("HTTP %d: %w", resp.StatusCode, err), mutating)
	}
	return nil
}

// networkError classifies a failure without a usable answer. ambiguous says
// the request may have been acted on.
func networkError(err error, ambiguous bool) error {
	if ambiguous {
		return &faxbridge.Error{
			Code:    faxbridge.EUnavailable,
			Message: msgUnknownOutcome,
			Err:     fmt.Errorf("%w: %w", faxbridge.ErrAmbiguous, err),
		}
	}
	return faxbridge.WrapError(faxbridge.EUnavailable, err, msgUnreachable)
}
