package faxsend

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/faxbridge/faxbridge"
)

// Sentences for the sender. They reach a clinic receptionist through the
// report email, so they say what happened in plain words and, where someone
// can act on it, who should.
const (
	msgUnreachable    = "The fax service could not be reached."
	msgUnavailable    = "The fax service is temporarily unavailable."
	msgUnknownOutcome = "The connection to the fax service broke while the fax was being handed over."
	msgRefused        = "The fax service refused the fax."
	msgAuth           = "The fax service did not accept this gateway's credentials. Please tell your administrator."
	msgSetup          = "The fax gateway is not set up correctly. Please tell your administrator."
	msgNotFound       = "The fax service does not know this fax."
)

// codeMessage returns the sentence for a SignalWire error code, or "".
func codeMessage(code string) string {
	switch code {
	case "20003":
		return msgAuth
	case "20429":
		return "The fax service is busy right now."
	case "21210":
		return "The number we send faxes from is not set up with the fax service. Please tell your administrator."
	case "21211", "21217":
		return "The fax number is not valid. Please check the number and send again."
	case "21212":
		return "The number we send faxes from is not valid. Please tell your administrator."
	case "21601":
		return "The number does not accept faxes. Please check the number and send again."
	case "21611":
		return "Too many faxes are waiting to be sent right now."
	case "21620":
		return "The fax service could not use the link to the document."
	case "12300":
		return "The fax service could not read the document's format."
	case "63019":
		return "The fax service could not download the document."
	case "30002":
		return "The fax account has run out of credit. Please tell your administrator."
	case "20504":
		return "The fax service had an internal problem."
	}
	return ""
}

// codeClass returns the class a SignalWire error code implies when it
// overrides the HTTP status: a full queue or a rate limit passes, whatever
// the status says.
func codeClass(code string) faxbridge.Code {
	switch code {
	case "20429", "21611", "20504":
		return faxbridge.EUnavailable
	case "20003":
		return faxbridge.EUnauthorized
	case "30002":
		// Whatever status it comes with: topping up the balance fixes it,
		// so it is a wait, not a refusal of the fax.
		return faxbridge.EUnavailable
	}
	return ""
}

// apiError is SignalWire's error body. code and status have been seen as
// numbers and as strings.
type apiError struct {
	Code     text `json:"code"`
	Message  text `json:"message"`
	MoreInfo text `json:"more_info"`
	Status   text `json:"status"`
}

// statusError turns a non-2xx answer into a *faxbridge.Error. The sender gets
// a sentence from the code table; the provider's own text goes in Err for the
// logs.
func statusError(resp *http.Response, raw []byte, o op) error {
	var ae apiError
	parsed := json.Unmarshal(raw, &ae) == nil && (ae.Code.s != "" || ae.Message.s != "")
	code := ""
	if parsed {
		code = strings.TrimSpace(ae.Code.s)
	}

	detail := fmt.Sprintf("signalwire: HTTP %d", resp.StatusCode)
	switch {
	case parsed:
		if code != "" {
			detail += " code " + code
		}
		if ae.Message.s != "" {
			detail += ": " + ae.Message.s
		}
		if ae.MoreInfo.s != "" {
			detail += " (" + ae.MoreInfo.s + ")"
		}
	case len(bytes.TrimSpace(raw)) > 0:
		detail += ": " + snippet(raw, 300)
	}
	e := &faxbridge.Error{Err: errors.New(detail)}

	s := resp.StatusCode
	switch {
	case s == http.StatusTooManyRequests || s >= 500:
		e.Code = faxbridge.EUnavailable
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		e.Message = msgUnavailable
		// A 500, 502 or 504 may come from a gateway after the backend acted;
		// 503 and 429 are refusals before any work.
		if o != opFetch && o != opList && (s == 500 || s == 502 || s == 504) {
			e.Err = fmt.Errorf("%w: %w", faxbridge.ErrAmbiguous, e.Err)
		}
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		e.Code = faxbridge.EUnauthorized
		e.Message = msgAuth
	case s == http.StatusNotFound && (o == opFetch || o == opCancel || o == opDelete || o == opMedia):
		e.Code = faxbridge.ENotFound
		e.Message = msgNotFound
	case s == http.StatusNotFound:
		// The collection itself is missing: a wrong base URL, project or API
		// path, which the operator can fix; the fax is not at fault.
		e.Code = faxbridge.EUnavailable
		e.Message = msgSetup
	case s >= 400:
		e.Code = faxbridge.EInvalid
		e.Message = msgRefused
	default:
		// 1xx/3xx: we follow no redirects, so this is a misconfigured URL.
		e.Code = faxbridge.EUnavailable
		e.Message = msgSetup
	}
	if c := codeClass(code); c != "" {
		e.Code = c
	}
	if m := codeMessage(code); m != "" {
		e.Message = m
	}
	if accountRefusal(s, code) {
		e.Err = fmt.Errorf("%w: %w", faxbridge.ErrAccount, e.Err)
	}
	return e
}

// accountRefusal reports whether an error answer refuses our account rather
// than the request: credentials rotated or lacking the Fax scope (401, 403,
// code 20003), or a balance run dry (30002, whatever the status, since none
// is documented for it). An operator fixes these; the worker keeps the fax
// waiting instead of failing it. A 401/403 whose code says something else
// (a full queue, say) is classified by that code.
func accountRefusal(status int, code string) bool {
	switch code {
	case "20003", "30002":
		return true
	}
	return (status == http.StatusUnauthorized || status == http.StatusForbidden) && codeClass(code) == ""
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

// snippet returns at most n bytes of b as one printable line, for logs.
func snippet(b []byte, n int) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, string(bytes.TrimSpace(b)))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
