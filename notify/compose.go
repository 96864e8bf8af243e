// Package notify writes the report email that tells a sender what became of
// their fax, and delivers it through a mail relay or into an outbox directory.
//
// Composition is pure: the same report always gives the same bytes, so a report
// re-sent after a crash is recognisably the same message (same Message-ID).
package notify

import (
	"bytes"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/faxbridge/faxbridge"
)

// Subject returns the report's subject line, e.g.
// "Fax to reception (+15551234567): delivered".
func Subject(j *faxbridge.Job) string {
	return "Fax to " + destination(j, j.Destination.To) + ": " + status(j)
}

// Compose returns the report for r as an RFC 5322 message with CRLF line
// endings. Its errors have code EInvalid: the report cannot be written from
// these inputs however often it is tried.
func Compose(r faxbridge.Report) ([]byte, error) {
	j := r.Job
	if j == nil {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "the report has no job")
	}
	if !isToken(j.ID) {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "the job has no usable ID")
	}
	from, err := netmail.ParseAddress(r.From)
	if err != nil {
		return nil, faxbridge.WrapError(faxbridge.EInvalid, err, "the report sender address is not valid")
	}
	to, err := netmail.ParseAddress(j.ReportTo)
	if err != nil {
		return nil, faxbridge.WrapError(faxbridge.EInvalid, err, "the job has no valid report address")
	}
	date := r.Date
	if date.IsZero() {
		date = j.FinishedAt
	}
	if date.IsZero() {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "the report has no date")
	}
	host := r.Hostname
	if host == "" {
		// The sender's own domain keeps the Message-ID globally unique and
		// deterministic when no hostname was configured.
		host = domain(from.Address)
	}
	if !isToken(host) {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "the report has no usable hostname")
	}

	var h mail.Header
	// go-message writes header fields in the reverse order of insertion, so
	// they are set here bottom-up to read top-down in the message.
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	// AddRaw keeps the customary spelling; Set would write "Mime-Version".
	h.AddRaw([]byte("MIME-Version: 1.0\r\n"))
	h.Set("X-Faxbridge-Job", j.ID)
	// RFC 3834: marks the report as automatic so that vacation responders and
	// our own intake never answer it, which would loop.
	h.Set("Auto-Submitted", "auto-replied")
	if id := msgID(j.MessageID); id != "" {
		h.SetMsgIDList("References", []string{id})
		h.SetMsgIDList("In-Reply-To", []string{id})
	}
	// Both parts were checked by isToken, so the raw field is well formed.
	h.AddRaw([]byte("Message-ID: <" + j.ID + ".report@" + host + ">\r\n"))
	h.SetDate(date)
	h.SetSubject(Subject(j))
	h.SetAddressList("To", []*mail.Address{to})
	h.SetAddressList("From", []*mail.Address{from})

	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, faxbridge.WrapError(faxbridge.EInvalid, err, "the report header cannot be written")
	}
	if _, err := w.Write([]byte(body(j, date.Location()))); err != nil {
		return nil, fmt.Errorf("write report body: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("write report body: %w", err)
	}
	return buf.Bytes(), nil
}

// labelWidth aligns the field values; the longest label is "Remote station ID:".
const labelWidth = 19

// body is the text a receptionist reads: one sentence saying what happened,
// then the details. Lines end in LF; the quoted-printable writer turns them
// into CRLF.
func body(j *faxbridge.Job, loc *time.Location) string {
	var b strings.Builder
	b.WriteString(sentence(j))
	b.WriteString("\n\n")
	if n := len(j.ExtraFaxes); n > 0 {
		// Rare, and it may cost the recipient a second copy and the
		// office a second charge: said plainly, before the details.
		more := "another fax"
		if n > 1 {
			more = fmt.Sprintf("%d more faxes", n)
		}
		fmt.Fprintf(&b, "Warning: the fax service made %s from this message than the\n"+
			"gateway asked for, so the recipient may have received it more than\n"+
			"once. Your administrator has been alerted.\n\n", strings.Replace(more, "another fax", "one more fax", 1))
	}

	field := func(label string, lines ...string) {
		if len(lines) == 0 || lines[0] == "" {
			return
		}
		for i, l := range lines {
			if i == 0 {
				fmt.Fprintf(&b, "%-*s%s\n", labelWidth, label+":", l)
			} else {
				fmt.Fprintf(&b, "%*s%s\n", labelWidth, "", l)
			}
		}
	}

	field("Status", status(j))
	pages := j.NumPages
	if pages == 0 {
		pages = j.Pages
	}
	if pages > 0 {
		field("Pages", fmt.Sprint(pages))
	}
	field("Duration", duration(j.Duration))
	field("Remote station ID", line(j.RemoteStationID))
	if j.Outcome != faxbridge.OutcomeDelivered {
		field("Reason", line(j.Reason))
	}
	field("Your message", yourMessage(j, loc)...)

	var docs []string
	for _, d := range j.Documents {
		s := line(d.Name)
		if s == "" {
			s = "(unnamed)"
		}
		if d.Pages > 0 {
			s += ", " + plural(d.Pages, "page")
		}
		docs = append(docs, s)
		if d.SHA256 != "" {
			docs = append(docs, "  SHA-256 "+line(d.SHA256))
		}
	}
	field("Documents", docs...)

	var skipped []string
	for _, s := range j.Skipped {
		if s = line(s); s != "" {
			skipped = append(skipped, s)
		}
	}
	field("Skipped parts", skipped...)

	var attempts []string
	for _, a := range j.Attempts {
		attempts = append(attempts, attempt(a, loc))
	}
	field("Attempts", attempts...)
	field("Job ID", j.ID)
	field("Fax SID", line(j.FaxSID))
	var extras []string
	for _, x := range j.ExtraFaxes {
		e := line(x.SID)
		if st := line(x.Status); st != "" {
			e += " (" + st + ")"
		}
		extras = append(extras, e)
	}
	field("Other fax SIDs", extras...)

	b.WriteString("\nThis message was sent automatically by the fax gateway.\n")
	return b.String()
}

// sentence says in plain words what became of the fax.
func sentence(j *faxbridge.Job) string {
	to := destination(j, readableNumber(j.Destination.To))
	reason := func(fallback string) string {
		r := line(j.Reason)
		if r == "" {
			r = fallback
		}
		if r != "" && !strings.ContainsAny(r[len(r)-1:], ".!?") {
			r += "."
		}
		return r
	}
	switch j.Outcome {
	case faxbridge.OutcomeDelivered:
		return "Your fax to " + to + " was delivered."
	case faxbridge.OutcomeRejected:
		return "Your fax to " + to + " was not sent: " + reason("The fax service refused it.")
	case faxbridge.OutcomeExpired:
		return "We could not find out whether your fax to " + to + " was delivered: " +
			reason("The fax service never reported a result.") +
			"\nPlease check with the recipient before sending it again."
	case faxbridge.OutcomeCanceled:
		if line(j.Reason) == "" {
			return "Your fax to " + to + " was canceled."
		}
		return "Your fax to " + to + " was canceled: " + reason("")
	case faxbridge.OutcomeBusy:
		return "Your fax to " + to + " could not be delivered: " + reason("The line was busy.")
	case faxbridge.OutcomeNoAnswer:
		return "Your fax to " + to + " could not be delivered: " + reason("Nobody answered the call.")
	}
	return "Your fax to " + to + " could not be delivered: " + reason("The transmission failed.")
}

// status is the outcome as the provider spells it, or a plain word for the
// outcomes that never reached the provider or never came back from it.
func status(j *faxbridge.Job) string {
	switch j.Outcome {
	case faxbridge.OutcomeRejected:
		return "not sent"
	case faxbridge.OutcomeExpired, "":
		return "unknown"
	}
	return line(j.Outcome)
}

// destination names where the fax went, with the contact name when the sender
// addressed it by name. number is the already formatted To.
func destination(j *faxbridge.Job, number string) string {
	number = line(stripSIPPassword(number))
	if c := line(j.Destination.Contact); c != "" {
		return c + " (" + number + ")"
	}
	return number
}

// stripSIPPassword removes a password embedded in a SIP URI's user part
// (sip:user:secret@host, allowed but deprecated by RFC 3261): the report must
// never show credentials.
func stripSIPPassword(to string) string {
	lower := strings.ToLower(to)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		return to
	}
	scheme, rest, _ := strings.Cut(to, ":")
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return to
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return scheme + ":" + user + rest[at:]
}

// readableNumber groups a North American E.164 number as people write it
// (+1 555 123 4567). Other numbers stay in E.164: grouping them correctly needs
// per-country rules, and a wrongly grouped number is worse than none.
func readableNumber(to string) string {
	if len(to) != 12 || !strings.HasPrefix(to, "+1") {
		return to
	}
	for _, c := range to[1:] {
		if c < '0' || c > '9' {
			return to
		}
	}
	return to[:2] + " " + to[2:5] + " " + to[5:8] + " " + to[8:]
}

// duration formats seconds as "45 s", "1 min 05 s" or "1 h 02 min 05 s".
func duration(sec int) string {
	if sec <= 0 {
		return ""
	}
	h, m, s := sec/3600, sec/60%60, sec%60
	switch {
	case h > 0:
		return fmt.Sprintf("%d h %02d min %02d s", h, m, s)
	case m > 0:
		return fmt.Sprintf("%d min %02d s", m, s)
	}
	return fmt.Sprintf("%d s", s)
}

const timeLayout = "Mon 2 Jan 2006 15:04 MST"

// yourMessage names the message the fax came from: its subject, and when
// we received it on a second line.
func yourMessage(j *faxbridge.Job, loc *time.Location) []string {
	var lines []string
	if s := line(j.Subject); s != "" {
		lines = append(lines, `"`+s+`"`)
	} else {
		lines = append(lines, "(no subject)")
	}
	if !j.CreatedAt.IsZero() {
		lines = append(lines, "received "+j.CreatedAt.In(loc).Format(timeLayout))
	} else if line(j.Subject) == "" {
		return nil
	}
	return lines
}

// attempt is one line: number, time, quality, status and any error.
func attempt(a faxbridge.Attempt, loc *time.Location) string {
	parts := []string{fmt.Sprintf("%d.", a.Number)}
	if !a.StartedAt.IsZero() {
		parts = append(parts, a.StartedAt.In(loc).Format(timeLayout)+",")
	}
	if q := line(a.Quality); q != "" {
		parts = append(parts, q, "quality,")
	}
	st := line(a.Status)
	switch st {
	case "":
		st = "no result"
	case "lost":
		// The worker's word for a submission the provider never listed.
		st = "not received by the fax service"
	}
	parts = append(parts, st)
	s := strings.Join(parts, " ")
	code, msg := line(a.ErrorCode), line(a.ErrorMessage)
	switch {
	case code != "" && msg != "":
		s += " (error " + code + ": " + msg + ")"
	case code != "":
		s += " (error " + code + ")"
	case msg != "":
		s += " (" + msg + ")"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// line makes s safe to show on one line: control characters, which could
// break the layout or a header, become spaces.
func line(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// msgID returns the original Message-ID without angle brackets, or "" when it
// is not something that can be put back into a header safely.
func msgID(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if s == "" || strings.ContainsAny(s, "<> \t\r\n") {
		return ""
	}
	for _, c := range s {
		if c < 0x21 || c > 0x7e {
			return ""
		}
	}
	return s
}

// isToken reports whether s can stand in a Message-ID and a file name as is.
func isToken(s string) bool {
	if s == "" || s[0] == '.' {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

func domain(addr string) string {
	at := strings.LastIndex(addr, "@")
	if at < 0 {
		return ""
	}
	return addr[at+1:]
}
