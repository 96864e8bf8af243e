package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// One table from error code to status; a code without a row would be a
// 500 with no words for the user.
func TestStatusOf(t *testing.T) {
	for code, want := range map[faxbridge.Code]int{
		faxbridge.EInvalid:      http.StatusUnprocessableEntity,
		faxbridge.EBadAddress:   http.StatusUnprocessableEntity,
		faxbridge.EBadContent:   http.StatusUnprocessableEntity,
		faxbridge.ETooLarge:     http.StatusRequestEntityTooLarge,
		faxbridge.EDenied:       http.StatusForbidden,
		faxbridge.EUnauthorized: http.StatusUnauthorized,
		faxbridge.ENotFound:     http.StatusNotFound,
		faxbridge.EConflict:     http.StatusConflict,
		faxbridge.ELimit:        http.StatusTooManyRequests,
		faxbridge.EUnavailable:  http.StatusServiceUnavailable,
		faxbridge.EInternal:     http.StatusInternalServerError,
	} {
		if got := statusOf(faxbridge.Errorf(code, "x")); got != want {
			t.Errorf("%s: %d, want %d", code, got, want)
		}
	}
}

func TestListQuery(t *testing.T) {
	q, err := listQuery(url.Values{"dir": {"inbound"}, "state": {"done"}, "q": {" 555 "}, "from": {"2026-01-02"}, "to": {"2026-01-02"}, "after": {"1700000000000-abc"}})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 1, 2, 0, 0, 0, 0, time.Local)
	if q.Direction != faxbridge.Inbound || q.State != faxbridge.StateDone || q.Text != "555" || !q.Since.Equal(day) ||
		!q.Until.Equal(day.AddDate(0, 0, 1)) || q.After == nil || q.After.ID != "abc" || q.After.CreatedAt.UnixMilli() != 1700000000000 || q.Limit != pageSize {
		t.Errorf("query = %+v", q)
	}
	for _, bad := range []url.Values{{"dir": {"sideways"}}, {"state": {"lost"}}, {"from": {"yesterday"}}, {"after": {"nope"}}, {"after": {"12-"}}} {
		if _, err := listQuery(bad); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("%v: %v, want invalid", bad, err)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{"/fax/x": "/fax/x", "": "/", "https://evil.example/": "/", "//evil.example": "/", "/\\evil.example": "/", "fax": "/"} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The timeline is in time order, with the attempt's SID and error, the
// outcome and the console's own actions.
func TestTimeline(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	j := &faxbridge.Job{
		State: faxbridge.StateDone, CreatedAt: at, Outcome: faxbridge.OutcomeBusy, Reason: "The line was busy.",
		FinishedAt: at.Add(3 * time.Minute), ReportState: faxbridge.ReportSent, ReportSentAt: at.Add(4 * time.Minute), ReportTo: "a@example.com",
		Attempts:          []faxbridge.Attempt{{Number: 1, Quality: "fine", FaxSID: "SID1", StartedAt: at.Add(time.Minute), Status: "busy", ErrorCode: "17", ErrorMessage: "busy"}},
		ExtraFaxes:        []faxbridge.ExtraFax{{SID: "SID9", Status: "delivered", Source: "callback", SeenAt: at.Add(150 * time.Second)}},
		ProviderDeletedAt: at.Add(5 * time.Minute),
	}
	audit := []faxbridge.AuditEntry{{At: at.Add(2 * time.Minute), User: "office", Action: "retry"}}
	ev := timeline(j, audit)
	var whats []string
	for _, e := range ev {
		whats = append(whats, e.What)
	}
	want := []string{"Accepted", "Attempt 1", "Console: retry", "Another fax at the provider (may have been sent twice)", "Finished", "Report sent", "Deleted at the provider"}
	if len(whats) != len(want) {
		t.Fatalf("timeline %v, want %v", whats, want)
	}
	for i := range want {
		if whats[i] != want[i] {
			t.Fatalf("timeline %v, want %v", whats, want)
		}
	}
	if !ev[1].Bad || ev[1].Detail != "fine quality, SID SID1, status busy, error 17 busy" {
		t.Errorf("attempt line = %+v", ev[1])
	}
	if !ev[3].Bad || ev[3].Detail != "SID SID9, seen in a callback, status delivered" {
		t.Errorf("extra fax line = %+v", ev[3])
	}
	if ev[4].Detail != "busy: The line was busy." || !ev[4].Bad {
		t.Errorf("outcome line = %+v", ev[4])
	}
}

// A received fax is shown by its caller, with the number it came in on
// and where it was mailed.
func TestInboundRow(t *testing.T) {
	s := &Server{app: formatOnly{}}
	j := &faxbridge.Job{Direction: faxbridge.Inbound, From: "+15550001111", Destination: faxbridge.Destination{To: "+15550100000"},
		MailTo: []string{"office@example.com"}, State: faxbridge.StateDone, ReportState: faxbridge.ReportSent}
	r := s.row(j)
	if r.Number != "+15550001111" || r.Sender != "to +15550100000, mailed to office@example.com" || r.Direction != "inbound" {
		t.Errorf("row = %+v", r)
	}
	var mailed bool
	for _, e := range timeline(j, nil) {
		mailed = mailed || (e.What == "Mailed" && e.Detail == "to office@example.com")
	}
	if !mailed {
		t.Errorf("timeline %+v lacks the mail", timeline(j, nil))
	}
}

type formatOnly struct{ App }

func (formatOnly) FormatNumber(to string) string { return to }

// sessionApp keeps sessions in memory for the expiry rules; the list it
// serves is empty.
type sessionApp struct {
	App
	sessions map[string]*faxbridge.Session
	deleted  []string
}

func (a *sessionApp) Session(_ context.Context, id string) (*faxbridge.Session, error) {
	if s, ok := a.sessions[id]; ok {
		c := *s
		return &c, nil
	}
	return nil, faxbridge.Errorf(faxbridge.ENotFound, "no such session")
}
func (a *sessionApp) TouchSession(_ context.Context, id string, t time.Time) error {
	a.sessions[id].SeenAt = t
	return nil
}
func (a *sessionApp) DeleteSession(_ context.Context, id string) error {
	delete(a.sessions, id)
	a.deleted = append(a.deleted, id)
	return nil
}
func (a *sessionApp) Role(name string) string {
	if name == "gone" {
		return ""
	}
	return RoleAdmin
}
func (a *sessionApp) SenderOf(name string) string  { return "user:" + name }
func (a *sessionApp) InboxOf(name string) []string { return nil }
func (a *sessionApp) Search(context.Context, faxbridge.JobQuery) ([]*faxbridge.Job, error) {
	return nil, nil
}

// A session ends when idle too long, when too old however busy, and when
// its user loses the console role; use within the idle time keeps it.
func TestSessionExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	app := &sessionApp{sessions: map[string]*faxbridge.Session{}}
	srv, err := New(Config{App: app, IdleTimeout: 30 * time.Minute, MaxAge: 2 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	add := func(token, user string) {
		app.sessions[sessionID(token)] = &faxbridge.Session{ID: sessionID(token), User: user, CSRF: "c", CreatedAt: now, SeenAt: now}
	}
	get := func(token string) int {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	add("busy", "office")
	add("idle", "office")
	add("removed", "gone")
	for i := 0; i < 4; i++ { // 100 minutes of use, 25 minutes apart
		now = now.Add(25 * time.Minute)
		if code := get("busy"); code != http.StatusOK {
			t.Fatalf("busy session after %d uses: %d", i+1, code)
		}
	}
	if code := get("idle"); code != http.StatusSeeOther {
		t.Errorf("session idle for 100 minutes: %d, want a redirect to sign in", code)
	}
	now = now.Add(25 * time.Minute) // 125 minutes after sign-in
	if code := get("busy"); code != http.StatusSeeOther {
		t.Errorf("session past its maximum age: %d, want a redirect to sign in", code)
	}
	if code := get("removed"); code != http.StatusSeeOther {
		t.Errorf("session of a user without a role: %d", code)
	}
	if len(app.sessions) != 0 || len(app.deleted) != 3 {
		t.Errorf("sessions left %v, deleted %d", app.sessions, len(app.deleted))
	}
}
