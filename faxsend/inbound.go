package faxsend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
)

var _ faxbridge.FaxInbox = (*Client)(nil)

// maxMediaRedirects bounds the redirects a media fetch follows (SignalWire
// may hand the document over from a storage host).
const maxMediaRedirects = 5

// ParseInbound checks the signature of a request SignalWire makes about a
// fax arriving on one of our numbers (the number's webhook, or the action
// of our Receive) and returns what it says. Errors are as for
// ParseCallback; a request that names no fax or no number is EInvalid.
// The status is "" when SignalWire sent none (the first webhook may not).
func (c *Client) ParseInbound(r *http.Request, publicBase string) (faxbridge.FaxStatus, error) {
	fields, err := c.readSigned(r, publicBase)
	if err != nil {
		return faxbridge.FaxStatus{}, err
	}
	st := faxbridge.FaxStatus{
		SID:             fields.Get("FaxSid"),
		Status:          fields.Get("FaxStatus"),
		To:              fields.Get("To"),
		From:            fields.Get("From"),
		MediaURL:        fields.Get("MediaUrl"),
		Pages:           count(fields.Get("NumPages")),
		RemoteStationID: fields.Get("RemoteStationId"),
		ErrorCode:       fields.Get("ErrorCode"),
		ErrorMessage:    fields.Get("ErrorMessage"),
		Direction:       faxbridge.Inbound,
	}
	if st.SID == "" || st.To == "" {
		return faxbridge.FaxStatus{}, faxbridge.Errorf(faxbridge.EInvalid, "The request does not name a fax and the number it was sent to.")
	}
	if st.Status == faxbridge.OutcomeFailed {
		st.Reason = Reason(st.Status, st.ErrorCode, st.ErrorMessage)
	}
	return st, nil
}

// mediaClient fetches documents of received faxes. The project's
// credentials go only to the API's own scheme and host: a redirect to any
// other host is followed without them (SignalWire may hand the document
// over from a storage host with a signed URL), and never from https to
// http. Time is bounded by the caller's context, since a document of many
// pages may take longer than an API call.
func (c *Client) mediaClient() *http.Client {
	hc := *c.http
	hc.Timeout = 0
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxMediaRedirects {
			return fmt.Errorf("more than %d redirects", maxMediaRedirects)
		}
		if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return errors.New("redirect from https to http")
		}
		if !c.ownHost(req.URL) {
			req.Header.Del("Authorization")
		}
		return nil
	}
	return &hc
}

// ownHost reports whether u is on the API's scheme and host, where the
// project's credentials may go.
func (c *Client) ownHost(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, c.base.Scheme) && strings.EqualFold(u.Host, c.base.Host)
}

// FetchMedia opens the document of a received fax. A document over limit
// bytes is ETooLarge, as Content-Length says or as the body grows; 404 is
// ENotFound, a refused login EUnauthorized, 429, 5xx and network errors
// EUnavailable.
func (c *Client) FetchMedia(ctx context.Context, mediaURL string, limit int64) (io.ReadCloser, error) {
	u, err := url.Parse(mediaURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "The fax has no usable document link.")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, faxbridge.WrapError(faxbridge.EInternal, err, "The document request could not be built.")
	}
	if c.ownHost(u) {
		req.SetBasicAuth(c.cfg.ProjectID, c.cfg.APIToken)
	}
	req.Header.Set("Accept", "application/pdf, image/tiff;q=0.5")
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.media.Do(req)
	if err != nil {
		return nil, networkError(fmt.Errorf("fetch media: %w", err), false)
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return nil, fmt.Errorf("fetch media: %w", statusError(resp, raw, opMedia))
	}
	if resp.ContentLength > limit {
		resp.Body.Close()
		return nil, tooLarge(resp.ContentLength, limit)
	}
	return &limitedBody{r: resp.Body, left: limit}, nil
}

func tooLarge(n, limit int64) error {
	return faxbridge.WrapError(faxbridge.ETooLarge, fmt.Errorf("document of %d bytes or more, limit %d", n, limit),
		"The received document is larger than the gateway accepts.")
}

// limitedBody fails with ETooLarge once more than left bytes are read.
type limitedBody struct {
	r    io.ReadCloser
	left int64
	read int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += int64(n)
	if b.read > b.left {
		return 0, tooLarge(b.read, b.left)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = networkError(fmt.Errorf("read media: %w", err), false)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

// ListReceived returns the inbound faxes to `to` ("" for any of the
// project's numbers) created at or after since, less a minute for clock
// skew, oldest first. SignalWire's list has no direction filter: outbound
// faxes are dropped here.
func (c *Client) ListReceived(ctx context.Context, to string, since time.Time) ([]faxbridge.FaxStatus, error) {
	var out []faxbridge.FaxStatus
	err := c.list(ctx, faxbridge.SentQuery{To: to, Since: since}, func(f fax) {
		if f.Direction.s == string(faxbridge.Inbound) {
			out = append(out, f.status())
		}
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// DeleteReceived deletes a received fax's media and then the fax itself at
// SignalWire; what is already gone counts as deleted. The media is deleted
// by its URL only when that is on the API's host and under this fax.
func (c *Client) DeleteReceived(ctx context.Context, sid, mediaURL string) error {
	if sid == "" {
		return faxbridge.Errorf(faxbridge.EInvalid, "No fax ID was given.")
	}
	faxURL := c.faxes + "/" + url.PathEscape(sid)
	if u, err := url.Parse(mediaURL); err == nil && mediaURL != "" && c.ownHost(u) &&
		strings.HasPrefix(u.Path, strings.TrimPrefix(faxURL, c.base.String())+"/Media/") {
		err := c.do(ctx, http.MethodDelete, u.String(), nil, opDelete, nil)
		if err != nil && faxbridge.ErrorCode(err) != faxbridge.ENotFound {
			return fmt.Errorf("delete media of fax %s: %w", sid, err)
		}
	}
	err := c.do(ctx, http.MethodDelete, faxURL, nil, opDelete, nil)
	if err != nil && faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		return fmt.Errorf("delete fax %s: %w", sid, err)
	}
	return nil
}
