package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// accessApp holds a few jobs and answers Search the way the store does
// for the fields the console sets, recording each query.
type accessApp struct {
	App
	jobs    []*faxbridge.Job
	queries []faxbridge.JobQuery
	audit   []faxbridge.AuditEntry
	resent  int
}

func (a *accessApp) Session(_ context.Context, id string) (*faxbridge.Session, error) {
	for _, name := range []string{"office", "frontdesk", "bob"} {
		if id == sessionID("token-"+name) {
			now := time.Now()
			return &faxbridge.Session{ID: id, User: name, CSRF: "csrf-" + name, CreatedAt: now, SeenAt: now}, nil
		}
	}
	return nil, faxbridge.Errorf(faxbridge.ENotFound, "no such session")
}
func (a *accessApp) Role(name string) string {
	if name == "office" {
		return RoleAdmin
	}
	return RoleUser
}
func (a *accessApp) SenderOf(name string) string { return "user:" + name }
func (a *accessApp) InboxOf(name string) []string {
	switch name {
	case "frontdesk":
		return []string{"Front Desk <FrontDesk@office.example>"}
	}
	return nil
}
func (a *accessApp) FormatNumber(to string) string { return to }
func (a *accessApp) Search(_ context.Context, q faxbridge.JobQuery) ([]*faxbridge.Job, error) {
	a.queries = append(a.queries, q)
	var out []*faxbridge.Job
	for _, j := range a.jobs {
		mine := q.Sender == "" && len(q.MailTo) == 0 || (q.Sender != "" && j.Sender == q.Sender) || faxbridge.MailedTo(j, q.MailTo)
		if mine {
			out = append(out, j)
		}
	}
	return out, nil
}
func (a *accessApp) Job(_ context.Context, id string) (*faxbridge.Job, error) {
	for _, j := range a.jobs {
		if j.ID == id {
			return j, nil
		}
	}
	return nil, faxbridge.Errorf(faxbridge.ENotFound, "no such fax")
}
func (a *accessApp) AuditLog(context.Context, string) ([]faxbridge.AuditEntry, error) {
	return nil, nil
}
func (a *accessApp) Audit(_ context.Context, e faxbridge.AuditEntry) error {
	a.audit = append(a.audit, e)
	return nil
}
func (a *accessApp) Resend(context.Context, string, string, string) (*faxbridge.Job, error) {
	a.resent++
	return &faxbridge.Job{ID: "new"}, nil
}

func accessServer(t *testing.T) (*Server, *accessApp) {
	t.Helper()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	in := func(id, mailTo string) *faxbridge.Job {
		return &faxbridge.Job{ID: id, Direction: faxbridge.Inbound, State: faxbridge.StateDone, CreatedAt: at,
			From: "+15550001111", Destination: faxbridge.Destination{To: "+15550100000"}, MailTo: []string{mailTo},
			DocumentKey: id + ".pdf", KeepDocument: true}
	}
	app := &accessApp{jobs: []*faxbridge.Job{
		in("desk-fax", "frontdesk@office.example"),
		in("sales-fax", "sales@office.example"),
		{ID: "desk-sent", Sender: "user:frontdesk", State: faxbridge.StateQueued, CreatedAt: at, Destination: faxbridge.Destination{To: "+15552223333"}},
		{ID: "bob-sent", Sender: "user:bob", State: faxbridge.StateQueued, CreatedAt: at, Destination: faxbridge.Destination{To: "+15552224444"},
			ReportTo: "frontdesk@office.example"},
	}}
	srv, err := New(Config{App: app})
	if err != nil {
		t.Fatal(err)
	}
	return srv, app
}

func asUser(srv *Server, name string, req *http.Request) *httptest.ResponseRecorder {
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "token-" + name})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

// A console user sees the received faxes their route mails to them, and
// their own, and nothing else; the list asks the store for exactly that
// (Sender and MailTo), not for every job to filter. An admin sees all.
func TestUserSeesRoutedFaxes(t *testing.T) {
	srv, app := accessServer(t)
	for _, tc := range []struct {
		user       string
		see, blind []string
	}{
		{"frontdesk", []string{"desk-fax", "desk-sent"}, []string{"sales-fax", "bob-sent"}},
		{"bob", []string{"bob-sent"}, []string{"desk-fax", "sales-fax", "desk-sent"}},
		{"office", []string{"desk-fax", "sales-fax", "desk-sent", "bob-sent"}, nil},
	} {
		app.queries = nil
		rec := asUser(srv, tc.user, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: list %d", tc.user, rec.Code)
		}
		body := rec.Body.String()
		for _, id := range tc.see {
			if !strings.Contains(body, "/fax/"+id) {
				t.Errorf("%s: list lacks %s", tc.user, id)
			}
			if code := asUser(srv, tc.user, httptest.NewRequest(http.MethodGet, "/fax/"+id, nil)).Code; code != http.StatusOK {
				t.Errorf("%s: page of %s: %d", tc.user, id, code)
			}
		}
		for _, id := range tc.blind {
			if strings.Contains(body, "/fax/"+id) {
				t.Errorf("%s: list shows %s", tc.user, id)
			}
			if code := asUser(srv, tc.user, httptest.NewRequest(http.MethodGet, "/fax/"+id, nil)).Code; code != http.StatusNotFound {
				t.Errorf("%s: page of %s: %d, want 404", tc.user, id, code)
			}
		}
		q := app.queries[0]
		switch tc.user {
		case "frontdesk":
			if q.Sender != "user:frontdesk" || !slices.Equal(q.MailTo, []string{"frontdesk@office.example"}) {
				t.Errorf("frontdesk's query: %+v", q)
			}
		case "office":
			if q.Sender != "" || q.MailTo != nil {
				t.Errorf("admin's query: %+v", q)
			}
		}
	}
}

// A user the store would have to be asked for "everything" to serve (no
// sender, no address) is shown nothing.
func TestUserWithoutIdentitySeesNothing(t *testing.T) {
	u := &user{role: RoleUser}
	q := faxbridge.JobQuery{}
	if u.restrict(&q) {
		t.Errorf("a user with no sender and no address may list %+v", q)
	}
}

// Resending a received fax would fax it to our own number: the console
// refuses it in words, records the refusal, and asks the application
// nothing; the fax's page offers no resend.
func TestResendInboundRefused(t *testing.T) {
	srv, app := accessServer(t)
	page := asUser(srv, "office", httptest.NewRequest(http.MethodGet, "/fax/desk-fax", nil))
	if strings.Contains(page.Body.String(), "/resend") {
		t.Error("a received fax's page offers resend")
	}
	form := url.Values{"csrf": {"csrf-office"}, "to": {""}}
	req := httptest.NewRequest(http.MethodPost, "/fax/desk-fax/resend", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := asUser(srv, "office", req)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "cannot be resent") ||
		!strings.Contains(rec.Body.String(), "faxed back to us") {
		t.Errorf("resend of a received fax: %d\n%s", rec.Code, rec.Body.String())
	}
	if app.resent != 0 {
		t.Errorf("the application was asked to resend %d time(s)", app.resent)
	}
	if len(app.audit) != 1 || app.audit[0].Action != "resend" || !strings.HasPrefix(app.audit[0].Detail, "refused: ") {
		t.Errorf("audit = %+v", app.audit)
	}
}
