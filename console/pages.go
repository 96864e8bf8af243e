package console

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
)

// pageSize is how many faxes one list page shows.
const pageSize = 50

// refreshSeconds is how often a page showing moving faxes reloads itself.
const refreshSeconds = 10

const timeLayout = "2006-01-02 15:04:05"

// row is one fax in the list.
type row struct {
	ID, Direction, State, Outcome, Number, Sender, Subject, Time string
	Pages, Attempts                                              int
	Moving                                                       bool
}

func (s *Server) row(j *faxbridge.Job) row {
	return row{
		ID: j.ID, Direction: string(j.Dir()), State: string(j.State), Outcome: j.Outcome,
		Number: s.number(j), Sender: senderText(j), Subject: j.Subject,
		Time: j.CreatedAt.Local().Format("2006-01-02 15:04"), Pages: j.Pages, Attempts: len(j.Attempts),
		Moving: moving(j),
	}
}

// moving reports whether a job still has something to happen.
func moving(j *faxbridge.Job) bool { return !j.Final() || !j.NextAt.IsZero() }

// number is the other party of a fax: where it went, or for a received
// fax who sent it.
func (s *Server) number(j *faxbridge.Job) string {
	if j.Dir() == faxbridge.Inbound {
		if j.From == "" {
			return "unknown caller"
		}
		return s.app.FormatNumber(j.From)
	}
	n := s.app.FormatNumber(j.Destination.To)
	if strings.HasPrefix(strings.ToLower(n), "sip:") {
		// A SIP URI may carry a password in its user part.
		if at := strings.LastIndex(n, "@"); at > 0 {
			n = "sip:…" + n[at:]
		}
	}
	if j.Destination.Contact != "" {
		return j.Destination.Contact + " (" + n + ")"
	}
	return n
}

func senderText(j *faxbridge.Job) string {
	switch {
	case j.Dir() == faxbridge.Inbound && len(j.MailTo) > 0:
		return "to " + j.Destination.To + ", mailed to " + strings.Join(j.MailTo, ", ")
	case j.Dir() == faxbridge.Inbound:
		return "to " + j.Destination.To
	case strings.HasPrefix(j.Sender, "user:"):
		return strings.TrimPrefix(j.Sender, "user:")
	case strings.HasPrefix(j.Sender, "network:"):
		return strings.TrimPrefix(j.Sender, "network:") + " (network)"
	case j.MailFrom != "":
		return j.MailFrom
	case j.ReportTo != "":
		return j.ReportTo
	}
	return "—"
}

// listQuery reads the list's filters from the URL. A bad value is a plain
// refusal, not a silently wider list.
func listQuery(v url.Values) (faxbridge.JobQuery, error) {
	q := faxbridge.JobQuery{Text: strings.TrimSpace(v.Get("q")), Limit: pageSize}
	switch d := v.Get("dir"); d {
	case "", string(faxbridge.Outbound), string(faxbridge.Inbound):
		q.Direction = faxbridge.Direction(d)
	default:
		return q, faxbridge.Errorf(faxbridge.EInvalid, "unknown direction %q", d)
	}
	switch st := faxbridge.State(v.Get("state")); st {
	case "", faxbridge.StateQueued, faxbridge.StateSubmitting, faxbridge.StateSending, faxbridge.StateDone:
		q.State = st
	default:
		return q, faxbridge.Errorf(faxbridge.EInvalid, "unknown state %q", st)
	}
	day := func(key string) (time.Time, error) {
		s := v.Get(key)
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.ParseInLocation("2006-01-02", s, time.Local)
		if err != nil {
			return t, faxbridge.Errorf(faxbridge.EInvalid, "%q is not a date like 2026-01-31", s)
		}
		return t, nil
	}
	var err error
	if q.Since, err = day("from"); err != nil {
		return q, err
	}
	if q.Until, err = day("to"); err != nil {
		return q, err
	}
	if !q.Until.IsZero() {
		q.Until = q.Until.AddDate(0, 0, 1) // the "to" day is included
	}
	if a := v.Get("after"); a != "" {
		ms, id, ok := strings.Cut(a, "-")
		n, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil || id == "" {
			return q, faxbridge.Errorf(faxbridge.EInvalid, "the page position %q is not valid", a)
		}
		q.After = &faxbridge.JobCursor{CreatedAt: time.UnixMilli(n), ID: id}
	}
	return q, nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, u *user) {
	v := r.URL.Query()
	q, err := listQuery(v)
	if err != nil {
		s.errorPage(w, r, u, err)
		return
	}
	var jobs []*faxbridge.Job
	if u.restrict(&q) {
		if jobs, err = s.app.Search(r.Context(), q); err != nil {
			s.errorPage(w, r, u, err)
			return
		}
	}
	rows := make([]row, 0, len(jobs))
	refresh := false
	for _, j := range jobs {
		rows = append(rows, s.row(j))
		refresh = refresh || moving(j)
	}
	var next string
	if len(jobs) == pageSize {
		last := jobs[len(jobs)-1]
		nv := url.Values{}
		for k, vals := range v {
			if k != "after" {
				nv[k] = vals
			}
		}
		nv.Set("after", fmt.Sprintf("%d-%s", last.CreatedAt.UnixMilli(), last.ID))
		next = "/?" + nv.Encode()
	}
	data := map[string]any{
		"Rows": rows, "Next": next, "Paged": q.After != nil,
		"Q": v.Get("q"), "Dir": v.Get("dir"), "State": v.Get("state"), "From": v.Get("from"), "To": v.Get("to"),
		"States": []string{"queued", "submitting", "sending", "done"},
	}
	if refresh {
		data["Refresh"] = refreshSeconds
	}
	s.render(w, r, http.StatusOK, "list", u, data)
}

// event is one line of a fax's timeline.
type event struct {
	At     time.Time
	What   string
	Detail string
	Bad    bool
}

func (e event) Time() string { return e.At.Local().Format(timeLayout) }

// timeline tells a job's story from its record and the audit log.
func timeline(j *faxbridge.Job, audit []faxbridge.AuditEntry) []event {
	var ev []event
	if j.Dir() == faxbridge.Inbound {
		ev = append(ev, event{At: j.CreatedAt, What: "Received", Detail: fmt.Sprintf("%d page(s)", j.Pages)})
	} else {
		how := "by mail"
		if j.RemoteAddr != "" {
			how += " from " + j.RemoteAddr
		}
		ev = append(ev, event{At: j.CreatedAt, What: "Accepted", Detail: fmt.Sprintf("%s, %d page(s)", how, j.Pages)})
	}
	for _, a := range j.Attempts {
		d := []string{a.Quality + " quality"}
		if a.FaxSID != "" {
			d = append(d, "SID "+a.FaxSID)
		}
		if a.Status != "" {
			d = append(d, "status "+a.Status)
		}
		if a.Pages > 0 {
			d = append(d, fmt.Sprintf("%d page(s) sent", a.Pages))
		}
		if a.Duration > 0 {
			d = append(d, fmt.Sprintf("%d s", a.Duration))
		}
		bad := a.ErrorCode != "" || a.ErrorMessage != ""
		if bad {
			d = append(d, strings.TrimSpace("error "+a.ErrorCode+" "+a.ErrorMessage))
		}
		ev = append(ev, event{At: a.StartedAt, What: fmt.Sprintf("Attempt %d", a.Number), Detail: strings.Join(d, ", "), Bad: bad})
	}
	for _, x := range j.ExtraFaxes {
		d := "SID " + x.SID + ", seen in a " + x.Source
		if x.Status != "" {
			d += ", status " + x.Status
		}
		ev = append(ev, event{At: x.SeenAt, What: "Another fax at the provider (may have been sent twice)", Detail: d, Bad: true})
	}
	if j.Polls > 0 {
		ev = append(ev, event{At: j.UpdatedAt, What: "Status checks", Detail: fmt.Sprintf("asked the provider %d time(s)", j.Polls)})
	}
	if j.LastError != "" && !j.Final() {
		ev = append(ev, event{At: j.UpdatedAt, What: "Waiting to retry", Detail: j.LastError, Bad: true})
	}
	if j.Final() {
		d := j.Outcome
		if j.Reason != "" {
			d += ": " + j.Reason
		}
		at := j.FinishedAt
		if at.IsZero() {
			at = j.UpdatedAt
		}
		ev = append(ev, event{At: at, What: "Finished", Detail: d, Bad: j.Outcome != faxbridge.OutcomeDelivered})
	}
	switch j.ReportState {
	case faxbridge.ReportSent:
		if j.Dir() == faxbridge.Inbound {
			ev = append(ev, event{At: j.ReportSentAt, What: "Mailed", Detail: "to " + strings.Join(j.MailTo, ", ")})
			break
		}
		ev = append(ev, event{At: j.ReportSentAt, What: "Report sent", Detail: "to " + j.ReportTo})
	case faxbridge.ReportPending:
		ev = append(ev, event{At: j.UpdatedAt, What: "Report pending", Detail: fmt.Sprintf("%d attempt(s) so far", j.ReportTries)})
	case faxbridge.ReportSuppressed:
		ev = append(ev, event{At: j.FinishedAt, What: "No report", Detail: "automatic mail or null sender: never answered"})
	case faxbridge.ReportAbandoned:
		ev = append(ev, event{At: j.UpdatedAt, What: "Report not delivered", Detail: "the relay refused it or the retry window closed", Bad: true})
	}
	if !j.CleanedAt.IsZero() && !j.KeepDocument {
		ev = append(ev, event{At: j.CleanedAt, What: "Document deleted", Detail: "from storage, after the outcome"})
	}
	if !j.ProviderDeletedAt.IsZero() && j.Dir() == faxbridge.Outbound {
		ev = append(ev, event{At: j.ProviderDeletedAt, What: "Deleted at the provider", Detail: "SignalWire's copy of the document, after the report"})
	}
	for _, a := range audit {
		d := "by " + a.User
		if a.Detail != "" {
			d += ": " + a.Detail
		}
		ev = append(ev, event{At: a.At, What: "Console: " + a.Action, Detail: d})
	}
	slices.SortStableFunc(ev, func(a, b event) int { return a.At.Compare(b.At) })
	return ev
}

// job loads a job the user may see. One the user may not see is "not
// found", exactly like a job that does not exist.
func (s *Server) job(r *http.Request, u *user) (*faxbridge.Job, error) {
	j, err := s.app.Job(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if !u.maysee(j) {
		return nil, faxbridge.Errorf(faxbridge.ENotFound, "no such fax")
	}
	return j, nil
}

func (s *Server) fax(w http.ResponseWriter, r *http.Request, u *user) {
	j, err := s.job(r, u)
	if err != nil {
		s.errorPage(w, r, u, err)
		return
	}
	audit, err := s.app.AuditLog(r.Context(), j.ID)
	if err != nil {
		s.errorPage(w, r, u, err)
		return
	}
	kept := j.DocumentKey != "" && (j.KeepDocument || j.CleanedAt.IsZero())
	data := map[string]any{
		"Job": j, "Row": s.row(j), "Timeline": timeline(j, audit),
		"CanRetry":  !j.NextAt.IsZero() && j.State != faxbridge.StateSubmitting,
		"CanCancel": j.State == faxbridge.StateQueued || j.State == faxbridge.StateSending,
		"CanResend": kept && j.Dir() == faxbridge.Outbound,
		"Kept":      kept, "Final": j.Final(),
		"HasReport": j.Final() && j.Dir() == faxbridge.Outbound && j.ReportTo != "",
		"Notice":    notices[r.URL.Query().Get("done")],
	}
	if moving(j) {
		data["Refresh"] = refreshSeconds
	}
	s.render(w, r, http.StatusOK, "fax", u, data)
}

// notices are the words shown after an action, by the action's name.
var notices = map[string]string{
	"retry":  "The fax's next step is due now.",
	"cancel": "Cancel requested.",
	"resend": "A new fax was created; this is its page.",
	"send":   "The fax was accepted and is queued to be sent.",
}

func (s *Server) act(w http.ResponseWriter, r *http.Request, u *user) {
	j, err := s.job(r, u)
	if err != nil {
		s.errorPage(w, r, u, err)
		return
	}
	ctx := r.Context()
	action := r.PathValue("action")
	target := j.ID
	var detail string
	switch action {
	case "retry":
		_, err = s.app.RetryNow(ctx, j.ID)
	case "cancel":
		_, err = s.app.Cancel(ctx, j.ID)
	case "resend":
		if j.Dir() == faxbridge.Inbound {
			// Its number is our own: a resend would fax it back to us.
			err = faxbridge.Errorf(faxbridge.EInvalid, "a received fax cannot be resent: its number is our own, so it would be faxed back to us. To pass it on, download it and fax it from \"Send a fax\"")
			break
		}
		var nj *faxbridge.Job
		nj, err = s.app.Resend(ctx, j.ID, strings.TrimSpace(r.PostFormValue("to")), u.name)
		if err == nil {
			target, detail = nj.ID, "as new fax "+nj.ID+" to "+s.number(nj)
			s.audit(r, u, nj.ID, "created", "as a resend of "+j.ID)
		}
	default:
		s.errorPage(w, r, u, faxbridge.Errorf(faxbridge.ENotFound, "there is no such action"))
		return
	}
	if err != nil {
		s.audit(r, u, j.ID, action, "refused: "+faxbridge.ErrorMessage(err))
		s.errorPage(w, r, u, err)
		return
	}
	s.audit(r, u, j.ID, action, detail)
	http.Redirect(w, r, "/fax/"+url.PathEscape(target)+"?done="+action, http.StatusSeeOther)
}

func (s *Server) document(w http.ResponseWriter, r *http.Request, u *user) {
	j, err := s.job(r, u)
	if err != nil {
		s.errorPage(w, r, u, err)
		return
	}
	rc, err := s.app.Document(r.Context(), j.ID)
	if err != nil {
		s.errorPage(w, r, u, err)
		return
	}
	defer rc.Close()
	s.audit(r, u, j.ID, "download", "document")
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `attachment; filename="fax-`+j.ID+`.pdf"`)
	if j.DocumentBytes > 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(j.DocumentBytes, 10))
	}
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("console download cut off", "job_id", j.ID, "err", err)
	}
}

func (s *Server) report(w http.ResponseWriter, r *http.Request, u *user) {
	j, err := s.job(r, u)
	if err != nil {
		s.errorPage(w, r, u, err)
		return
	}
	eml, err := s.app.Report(r.Context(), j.ID)
	if err != nil {
		s.errorPage(w, r, u, err)
		return
	}
	s.audit(r, u, j.ID, "download", "report")
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("Content-Disposition", `attachment; filename="fax-`+j.ID+`-report.eml"`)
	w.Write(eml)
}

func (s *Server) sendPage(w http.ResponseWriter, r *http.Request, u *user) {
	s.render(w, r, http.StatusOK, "send", u, map[string]any{})
}

func (s *Server) send(w http.ResponseWriter, r *http.Request, u *user) {
	req := SendRequest{
		User: u.name, To: strings.TrimSpace(r.PostFormValue("to")),
		Subject: strings.TrimSpace(r.PostFormValue("subject")), Cover: r.PostFormValue("cover"),
	}
	again := func(err error) {
		w.Header().Set("Cache-Control", "no-store")
		s.render(w, r, statusOf(err), "send", u, map[string]any{
			"Problem": sentence(faxbridge.ErrorMessage(err)), "To": req.To, "Subject": req.Subject, "Cover": req.Cover,
		})
	}
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["files"] {
			f, err := fh.Open()
			if err != nil {
				again(faxbridge.WrapError(faxbridge.EInvalid, err, "the upload could not be read"))
				return
			}
			data, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				again(faxbridge.WrapError(faxbridge.EInvalid, err, "the upload could not be read"))
				return
			}
			if len(data) > 0 {
				req.Files = append(req.Files, File{Name: fh.Filename, Data: data})
			}
		}
	}
	if req.To == "" {
		again(faxbridge.Errorf(faxbridge.EBadAddress, "enter the fax number to send to"))
		return
	}
	if len(req.Files) == 0 && strings.TrimSpace(req.Cover) == "" {
		again(faxbridge.Errorf(faxbridge.EBadContent, "choose a PDF, TIFF, JPEG or PNG file, or write cover text"))
		return
	}
	jobs, err := s.app.Send(r.Context(), req)
	if err != nil {
		s.log.Info("console send refused", "user", u.name, "err", err)
		again(err)
		return
	}
	names := make([]string, len(req.Files))
	for i, f := range req.Files {
		names[i] = f.Name
	}
	for _, j := range jobs {
		s.audit(r, u, j.ID, "send", "from the browser: "+strings.Join(names, ", "))
	}
	http.Redirect(w, r, "/fax/"+url.PathEscape(jobs[0].ID)+"?done=send", http.StatusSeeOther)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request, u *user) {
	h := s.app.Health(r.Context())
	type depth struct {
		State string
		N     int
	}
	var q []depth
	for _, st := range []struct {
		state faxbridge.State
		words string
	}{
		{faxbridge.StateQueued, "queued, waiting to be sent"},
		{faxbridge.StateSubmitting, "being handed to the provider"},
		{faxbridge.StateSending, "with the provider, waiting for the outcome"},
		{faxbridge.StateDone, "finished, report or cleanup still to do"},
	} {
		q = append(q, depth{st.words, h.Queue[st.state]})
	}
	s.render(w, r, http.StatusOK, "health", u, map[string]any{"Health": h, "Queue": q, "Refresh": refreshSeconds * 3})
}

// audit records an action; a failure to record is logged, never hidden
// from the operator's log, but does not undo the action.
func (s *Server) audit(r *http.Request, u *user, jobID, action, detail string) {
	e := faxbridge.AuditEntry{JobID: jobID, At: s.now(), User: u.name, Action: action, Detail: detail}
	if err := s.app.Audit(r.Context(), e); err != nil {
		s.log.Error("console audit entry not recorded", "err", err, "job_id", jobID, "action", action, "user", u.name)
	}
	s.log.Info("console action", "user", u.name, "action", action, "job_id", jobID, "remote_addr", r.RemoteAddr)
}
