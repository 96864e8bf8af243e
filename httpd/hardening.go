package httpd

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/pprof"
	"time"

	"golang.org/x/net/netutil"

	"github.com/faxbridge/faxbridge"
)

// Limits bound what one HTTP client can hold: the time to send a request
// and to take an answer, an idle keep-alive, and the connections open at
// once (more wait in the kernel's backlog until one closes).
type Limits struct {
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	MaxConnections int
}

// NewServer returns an http.Server for h with l's timeouts; Listener applies
// the connection cap.
func NewServer(h http.Handler, l Limits) *http.Server {
	labels := pprof.Labels("work", "http")
	return &http.Server{
		// The label tells this server's CPU apart in profiles.
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pprof.SetGoroutineLabels(pprof.WithLabels(r.Context(), labels))
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: min(10*time.Second, l.ReadTimeout),
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// Listener caps ln at l.MaxConnections connections open at once.
func (l Limits) Listener(ln net.Listener) net.Listener {
	if l.MaxConnections <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, l.MaxConnections)
}

// MetricsHandler serves metrics, to requests bearing token when it is set
// (Authorization: Bearer TOKEN). It is the handler of the metrics listener
// and, with a token, of /metrics on the public one.
func MetricsHandler(metrics http.Handler, token string) http.Handler {
	if token == "" {
		return metrics
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
			return
		}
		metrics.ServeHTTP(w, r)
	})
}

// callbackFields are the form fields SignalWire documents for a status
// callback. The signature is over names and values run together with no
// separator, so a captured callback could be re-split, under its valid
// signature, into other names and values ("FaxStatus" + "delivered" read as
// "FaxStatusd" + "elivered"). Only these names are accepted, and no one of
// them starts another, so no boundary can move. The API's advice is to
// accept unknown fields; this gateway chooses not to (a security review's
// decision): should SignalWire add one, its callbacks are refused with a
// log line naming the field, and every outcome still arrives by polling
// until the name is added here.
var callbackFields = map[string]bool{
	"FaxSid": true, "AccountSid": true, "From": true, "To": true, "FaxStatus": true, "ApiVersion": true,
	"NumPages": true, "MediaSid": true, "MediaUrl": true, "OriginalMediaUrl": true, "RemoteStationId": true,
	"ErrorCode": true, "ErrorMessage": true, "Timestamp": true,
}

// maxCallbackBody is more than any real callback; the parser refuses more.
const maxCallbackBody = 64 << 10

// onlyDocumentedFields refuses a POST callback whose form names a field
// SignalWire does not document (see callbackFields), and leaves the body in
// place for the parser. A GET callback's fields are in the URL, which is
// signed with its separators, so its boundaries cannot move.
// A GET callback's fields are in the URL, which is signed with its
// separators, so its boundaries cannot move.
func onlyDocumentedFields(r *http.Request) error {
	if r.Method != http.MethodPost || r.Body == nil {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCallbackBody+1))
	if err != nil {
		return faxbridge.WrapError(faxbridge.EInvalid, err, "The callback could not be read.")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) > maxCallbackBody {
		return nil // the parser answers 413
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil // the parser answers 400
	}
	for name := range form {
		if !callbackFields[name] {
			return faxbridge.Errorf(faxbridge.EInvalid, "%s", fmt.Sprintf("The callback has a field SignalWire does not document: %.40q.", name))
		}
	}
	return nil
}
