package signalwiretest

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
)

// Error codes. Those the API digest names are SignalWire's; the rest are the
// Twilio-compatible codes for the same conditions, since SignalWire documents
// none of its own for them.
const (
	codeInvalidParam   = 20001 // a parameter is unknown, repeated or out of range
	codeAuth           = 20003
	codeMethod         = 20004
	codeNotComplete    = 20009 // cancel or delete refused in this status
	codeNotFound       = 20404
	codeTooMany        = 20429
	codeInternal       = 20504
	codeFromNotOwned   = 21210
	codeBadTo          = 21211
	codeBadFrom        = 21212
	codeBadCallbackURL = 21609
	codeBadMediaURL    = 21620
	codeNoBalance      = 30002
)

// statusNoBalance is the HTTP status of a create refused for want of
// balance. Neither SignalWire nor the Twilio-compatible material we have
// says which status goes with code 30002, so this is 402 Payment
// Required, what payment-metered APIs use for it. Clients must classify
// by the code, whatever the status.
const statusNoBalance = 402

var (
	e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	// sipURI accepts sip:[user@]host[:port][;params]; SignalWire documents
	// only the scheme, so the rest is kept loose but whitespace-free.
	sipURI = regexp.MustCompile(`^sip:([^@\s]+@)?[A-Za-z0-9.\-]+(:[0-9]{1,5})?(;\S*)?$`)
	// clientID is a From that is not a number: "a client identifier".
	clientID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:@\-]{0,127}$`)
)

var createParams = []string{
	"MediaUrl", "To", "From", "Quality", "StatusCallback", "StatusCallbackMethod",
	"StatusCallbackEvent", "StoreMedia", "Ttl", "SipAuthUsername", "SipAuthPassword",
}

var callbackEvents = []string{"initiated", "ringing", "answered", "completed", "ringing_forwarded", "ringing_queued"}

// paramError is a refused request: HTTP 400 with a SignalWire error code.
type paramError struct {
	code int
	msg  string
}

func (e *paramError) Error() string { return e.msg }

func bad(code int, format string, args ...any) *paramError {
	return &paramError{code: code, msg: fmt.Sprintf(format, args...)}
}

// parseCreate validates create parameters strictly and returns the fax they
// describe, defaults applied.
func parseCreate(form url.Values, owned []string) (Fax, *paramError) {
	var f Fax
	// Unknown names first: a misspelt optional parameter silently ignored
	// is the bug worth catching (names are case-sensitive).
	for _, name := range slices.Sorted(maps.Keys(form)) {
		if !slices.Contains(createParams, name) {
			return f, bad(codeInvalidParam, "Unknown parameter '%s'", name)
		}
		if name != "StatusCallbackEvent" && len(form[name]) > 1 {
			return f, bad(codeInvalidParam, "Parameter '%s' given more than once", name)
		}
	}
	get := form.Get

	f.To = get("To")
	switch {
	case f.To == "":
		return f, bad(codeBadTo, "A 'To' phone number is required.")
	case !e164.MatchString(f.To) && !sipURI.MatchString(f.To):
		return f, bad(codeBadTo, "The 'To' number %s is not a valid phone number or SIP URI.", f.To)
	}
	f.From = get("From")
	switch {
	case f.From == "":
		return f, bad(codeBadFrom, "A 'From' phone number is required.")
	case e164.MatchString(f.From):
		if len(owned) > 0 && !slices.Contains(owned, f.From) {
			return f, bad(codeFromNotOwned, "The 'From' number %s is not a valid, fax-capable number of this project.", f.From)
		}
	case !clientID.MatchString(f.From):
		return f, bad(codeBadFrom, "The 'From' number %s is not a valid phone number or client identifier.", f.From)
	}
	f.MediaURL = get("MediaUrl")
	if f.MediaURL == "" {
		return f, bad(codeBadMediaURL, "A 'MediaUrl' is required.")
	}
	if !absoluteHTTP(f.MediaURL) {
		return f, bad(codeBadMediaURL, "The 'MediaUrl' is not a valid http or https URL.")
	}

	f.Quality = "fine"
	if v, ok := form["Quality"]; ok {
		if !slices.Contains([]string{"standard", "fine", "superfine"}, v[0]) {
			return f, bad(codeInvalidParam, "Quality must be one of standard, fine, superfine.")
		}
		f.Quality = v[0]
	}
	if v, ok := form["StatusCallback"]; ok {
		if !absoluteHTTP(v[0]) {
			return f, bad(codeBadCallbackURL, "The 'StatusCallback' is not a valid http or https URL.")
		}
		f.StatusCallback = v[0]
	}
	f.StatusCallbackMethod = "POST"
	if v, ok := form["StatusCallbackMethod"]; ok {
		if v[0] != "GET" && v[0] != "POST" {
			return f, bad(codeInvalidParam, "StatusCallbackMethod must be GET or POST.")
		}
		f.StatusCallbackMethod = v[0]
	}
	f.StatusCallbackEvents = []string{"completed"}
	if vs, ok := form["StatusCallbackEvent"]; ok {
		for _, v := range vs {
			if !slices.Contains(callbackEvents, v) {
				return f, bad(codeInvalidParam, "StatusCallbackEvent '%s' is not one of %v.", v, callbackEvents)
			}
		}
		f.StatusCallbackEvents = slices.Clone(vs)
	}
	f.StoreMedia = true
	if v, ok := form["StoreMedia"]; ok {
		switch v[0] {
		case "true":
		case "false":
			f.StoreMedia = false
		default:
			return f, bad(codeInvalidParam, "StoreMedia must be true or false.")
		}
	}
	f.TTL = 60
	if v, ok := form["Ttl"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 5 || n > 300 {
			return f, bad(codeInvalidParam, "Ttl must be a whole number of minutes from 5 to 300.")
		}
		f.TTL = n
	}
	f.SipAuthUsername = get("SipAuthUsername")
	f.SipAuthPassword = get("SipAuthPassword")
	return f, nil
}

func absoluteHTTP(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
