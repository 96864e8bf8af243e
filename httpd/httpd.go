// Package httpd is faxbridge's HTTP side: the fax provider's status
// callbacks, the local media files it fetches, and health endpoints. Errors
// become HTTP statuses in one place (status), and no response body ever says
// more than the status line.
package httpd

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/faxbridge/faxbridge"
)

// CallbackPath is where the provider sends status callbacks.
const CallbackPath = "/callbacks/fax"

// SubmissionParam names the query parameter of a status callback URL that
// carries the submission's token; "job" carries the job ID. Both are
// signed with the rest of the URL.
const SubmissionParam = "sub"

// CallbackURL is the status callback URL of one submission of a job.
func CallbackURL(publicBase, jobID, token string) string {
	u := publicBase + CallbackPath + "?job=" + url.QueryEscape(jobID)
	if token != "" {
		u += "&" + SubmissionParam + "=" + url.QueryEscape(token)
	}
	return u
}

// Callbacks verifies and parses a provider's status callback.
type Callbacks interface {
	ParseCallback(r *http.Request, publicBase string) (faxbridge.FaxStatus, error)
}

// StatusSink takes verified statuses.
type StatusSink interface {
	ApplyStatus(ctx context.Context, jobID, token string, st faxbridge.FaxStatus) error
}

// Config wires the handler.
type Config struct {
	PublicURL string       // the base URL the provider uses; signatures are over it
	Callbacks Callbacks    // verifies callbacks
	Sink      StatusSink   // applies them
	Media     http.Handler // serves /media/ for local storage; nil for S3
	// Ready reports whether the daemon can take mail (database and storage
	// reachable); /readyz answers 503 when it returns an error.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics on this handler only with MetricsToken set,
	// and then only to a request bearing it: this listener faces the
	// internet (the provider must reach it). Without a token, metrics are
	// served by MetricsHandler on a listener of their own, or not at all.
	Metrics      http.Handler
	MetricsToken string
	// OnCallback, when set, is told the HTTP answer to every callback.
	OnCallback func(code int)
	Log        *slog.Logger

	// Faxes in (see inbound.go): served only when InboundSink is set, and
	// then Inbound, which checks the signatures, must be set too.
	Inbound         InboundCalls
	InboundSink     InboundSink
	InboundPageSize string // letter, legal or a4
}

// Handler returns the HTTP handler.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(CallbackPath, func(w http.ResponseWriter, r *http.Request) { callback(cfg, w, r) })
	if cfg.InboundSink != nil {
		if cfg.Inbound == nil {
			// Fail closed: never take faxes without checking signatures.
			panic("httpd: inbound faxes wired without a signature check")
		}
		mux.HandleFunc(InboundPath, func(w http.ResponseWriter, r *http.Request) { inboundWebhook(cfg, w, r) })
		mux.HandleFunc(InboundActionPath, func(w http.ResponseWriter, r *http.Request) { inboundAction(cfg, w, r) })
	}
	if cfg.Media != nil {
		mux.Handle("/media/", cfg.Media)
	}
	if cfg.Metrics != nil && cfg.MetricsToken != "" {
		mux.Handle("GET /metrics", MetricsHandler(cfg.Metrics, cfg.MetricsToken))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if cfg.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			if err := cfg.Ready(ctx); err != nil {
				// The cause is logged where readiness is decided, once
				// per change; the public answer says only "not ready".
				cfg.Log.Debug("not ready", "err", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte("not ready\n"))
				return
			}
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}

func callback(cfg Config, w http.ResponseWriter, r *http.Request) {
	if cfg.OnCallback != nil {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() { cfg.OnCallback(rec.code) }()
		w = rec
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	log := cfg.Log.With("remote_addr", r.RemoteAddr)
	if err := onlyDocumentedFields(r); err != nil {
		log.Warn("status callback refused", "code", faxbridge.ErrorCode(err), "err", err)
		code := status(err)
		http.Error(w, http.StatusText(code), code)
		return
	}
	st, err := cfg.Callbacks.ParseCallback(r, cfg.PublicURL)
	if err != nil {
		log.Warn("status callback refused", "code", faxbridge.ErrorCode(err), "err", err)
		code := status(err)
		http.Error(w, http.StatusText(code), code)
		return
	}
	q := r.URL.Query()
	if err := cfg.Sink.ApplyStatus(r.Context(), q.Get("job"), q.Get(SubmissionParam), st); err != nil {
		code := status(err)
		if code == http.StatusNotFound {
			log.Info("status callback for an unknown fax", "fax_sid", st.SID)
		} else {
			log.Warn("status callback not applied", "fax_sid", st.SID, "err", err)
		}
		http.Error(w, http.StatusText(code), code)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Write([]byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"))
}

// status maps a domain error to an HTTP status.
func status(err error) int {
	switch faxbridge.ErrorCode(err) {
	case faxbridge.EUnauthorized:
		return http.StatusForbidden
	case faxbridge.EInvalid, faxbridge.EBadContent:
		return http.StatusBadRequest
	case faxbridge.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case faxbridge.ENotFound:
		return http.StatusNotFound
	case faxbridge.EUnavailable, faxbridge.EConflict, faxbridge.ELimit:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}
