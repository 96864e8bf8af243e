package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/faxbridge/faxbridge/httpd"
)

// bindDebug binds debug.listen, the loopback profiling listener, if set.
func (m *Main) bindDebug() error {
	if m.Config.Debug.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", m.Config.Debug.Listen)
	if err != nil {
		return fmt.Errorf("debug listener: %w", err)
	}
	// Its own mux: importing net/http/pprof registers on the default one,
	// which nothing here serves.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	// A CPU profile or trace runs for its ?seconds= before answering.
	srv := httpd.NewServer(mux, httpd.Limits{ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Minute, IdleTimeout: time.Minute})
	m.debugLn = ln
	m.debugSrv = srv
	m.closers = append(m.closers, func() { srv.Close(); ln.Close() })
	return nil
}

// serveDebug serves the profiling listener until Close. Its failure stops
// nothing else: it is a window on the process, not part of the service.
func (m *Main) serveDebug() {
	if m.debugSrv == nil {
		return
	}
	m.Log.Info("debug listener ready (pprof)", "addr", m.debugLn.Addr().String())
	go func() {
		if err := m.debugSrv.Serve(m.debugLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Log.Warn("debug listener failed", "err", err)
		}
	}()
}
