package faxsend

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/faxbridge/faxbridge"
)

// maxCallback bounds a callback body; SignalWire sends a dozen short fields.
const maxCallback = 64 << 10

// Sign computes SignalWire's request signature: the base64 HMAC-SHA1, keyed
// with key, of fullURL followed by each parameter's name and value, names in
// byte order and a repeated name's values in the order given.
func Sign(key, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(key))
	io.WriteString(mac, fullURL)
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range params[name] {
			io.WriteString(mac, name)
			io.WriteString(mac, v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ParseCallback checks the signature of a status callback and returns what it
// reports. publicBase is the scheme and host (and any path prefix a proxy
// strips) under which SignalWire reaches us: the signed URL is the public one,
// and the Host header is not to be trusted for it.
//
// A bad or missing signature is EUnauthorized, a body over 64 KiB ETooLarge,
// a callback without FaxSid or FaxStatus EInvalid.
func (c *Client) ParseCallback(r *http.Request, publicBase string) (faxbridge.FaxStatus, error) {
	fields, err := c.readSigned(r, publicBase)
	if err != nil {
		return faxbridge.FaxStatus{}, err
	}
	st := faxbridge.FaxStatus{
		SID:             fields.Get("FaxSid"),
		Status:          fields.Get("FaxStatus"),
		To:              fields.Get("To"),
		MediaURL:        fields.Get("OriginalMediaUrl"),
		Pages:           count(fields.Get("NumPages")),
		RemoteStationID: fields.Get("RemoteStationId"),
		ErrorCode:       fields.Get("ErrorCode"),
		ErrorMessage:    fields.Get("ErrorMessage"),
	}
	// OriginalMediaUrl is the URL we gave; MediaUrl may be SignalWire's own
	// stored copy, so it only stands in when the original is absent.
	if st.MediaURL == "" {
		st.MediaURL = fields.Get("MediaUrl")
	}
	if st.SID == "" || st.Status == "" {
		return faxbridge.FaxStatus{}, faxbridge.Errorf(faxbridge.EInvalid, "The callback does not name a fax and its status.")
	}
	st.Reason = Reason(st.Status, st.ErrorCode, st.ErrorMessage)
	return st, nil
}

// readSigned reads a request's fields (the POST form, or the query of a
// GET) and checks its signature.
func (c *Client) readSigned(r *http.Request, publicBase string) (url.Values, error) {
	var params, fields url.Values
	switch r.Method {
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxCallback+1))
		if err != nil {
			return nil, faxbridge.WrapError(faxbridge.EInvalid, fmt.Errorf("read callback body: %w", err), "The callback could not be read.")
		}
		if len(body) > maxCallback {
			return nil, faxbridge.Errorf(faxbridge.ETooLarge, "The callback is too large.")
		}
		if params, err = url.ParseQuery(string(body)); err != nil {
			return nil, faxbridge.WrapError(faxbridge.EInvalid, fmt.Errorf("parse callback body: %w", err), "The callback could not be read.")
		}
		fields = params
	case http.MethodGet:
		// With GET the fields are in the signed URL; nothing else is signed.
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, faxbridge.WrapError(faxbridge.EInvalid, fmt.Errorf("parse callback query: %w", err), "The callback could not be read.")
		}
		fields = q
	default:
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "A callback must be a GET or a POST.")
	}

	if err := c.verify(r, publicBase, params); err != nil {
		return nil, err
	}
	return fields, nil
}

// verify checks the request's signature against the URLs SignalWire may have
// signed: the public URL with and without the scheme's default port.
func (c *Client) verify(r *http.Request, publicBase string, params url.Values) error {
	got := r.Header.Get("X-SignalWire-Signature")
	if got == "" {
		got = r.Header.Get("X-Twilio-Signature")
	}
	switch {
	case got == "":
		return faxbridge.Errorf(faxbridge.EUnauthorized, "The callback is not signed.")
	case c.cfg.SigningKey == "":
		return faxbridge.WrapError(faxbridge.EUnauthorized, errors.New("no signing key configured"), "The callback could not be verified.")
	}
	full := strings.TrimSuffix(publicBase, "/") + r.URL.RequestURI()
	for _, u := range portVariants(full) {
		want := Sign(c.cfg.SigningKey, u, params)
		if hmac.Equal([]byte(got), []byte(want)) {
			return nil
		}
	}
	return faxbridge.WrapError(faxbridge.EUnauthorized, fmt.Errorf("signature mismatch for %s", full), "The callback signature is not valid.")
}

// portVariants returns full as given and with the scheme's default port
// added or removed, whichever it lacked.
func portVariants(full string) []string {
	u, err := url.Parse(full)
	if err != nil || u.Host == "" {
		return []string{full}
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	if def == "" {
		return []string{full}
	}
	other := *u
	switch u.Port() {
	case "":
		other.Host = u.Host + ":" + def
	case def:
		other.Host = strings.TrimSuffix(u.Host, ":"+def)
	default:
		return []string{full}
	}
	// Splice the new host into the original text instead of re-encoding
	// the URL: url.URL.String may normalise escapes the signer did not.
	prefix := u.Scheme + "://" + u.Host
	if !strings.HasPrefix(full, prefix) {
		return []string{full}
	}
	return []string{full, u.Scheme + "://" + other.Host + full[len(prefix):]}
}
