package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/faxbridge/faxbridge"
)

var pageNames = []string{"signin", "list", "fax", "send", "health", "error"}

func (s *Server) parseTemplates() error {
	funcs := template.FuncMap{
		"when": func(t interface{ IsZero() bool }) bool { return !t.IsZero() },
	}
	s.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("console template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	return nil
}

// render writes a page in the layout. It renders into a buffer first, so a
// template failure becomes an error page rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, u *user, data map[string]any) {
	data["Page"] = page
	if u != nil {
		data["User"] = u.name
		data["Admin"] = u.admin()
		data["CSRF"] = u.session.CSRF
	}
	var b bytes.Buffer
	if err := s.pages[page].Execute(&b, data); err != nil {
		s.log.Error("console page failed to render", "page", page, "err", err)
		http.Error(w, "The page could not be shown; the gateway's log has the details.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// statusOf is the one mapping from an error's code to an HTTP status.
func statusOf(err error) int {
	switch faxbridge.ErrorCode(err) {
	case faxbridge.EInvalid, faxbridge.EBadAddress, faxbridge.EBadContent:
		return http.StatusUnprocessableEntity
	case faxbridge.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case faxbridge.EDenied:
		return http.StatusForbidden
	case faxbridge.EUnauthorized:
		return http.StatusUnauthorized
	case faxbridge.ENotFound:
		return http.StatusNotFound
	case faxbridge.EConflict:
		return http.StatusConflict
	case faxbridge.ELimit:
		return http.StatusTooManyRequests
	case faxbridge.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorPage is the one place an error becomes a page. The message shown is
// the error's sender-safe text; an internal failure shows none of its
// detail, which goes to the log only.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, u *user, err error) {
	status := statusOf(err)
	msg := faxbridge.ErrorMessage(err)
	if status == http.StatusInternalServerError {
		msg = "Something went wrong on the gateway; its log has the details."
		s.log.Error("console request failed", "path", r.URL.Path, "err", err)
	} else if status >= 500 {
		s.log.Warn("console request failed", "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, "error", u, map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": sentence(msg)})
}

// sentence makes an error's text, written to fit an SMTP reply too, read
// as a sentence on a page: a capital first letter and a full stop.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "?") && !strings.HasSuffix(msg, "!") {
		msg += "."
	}
	return msg
}
