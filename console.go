package faxbridge

import (
	"context"
	"net/mail"
	"strings"
	"time"
)

// JobQuery selects one page of jobs for the console's list. Pages are cut by
// keyset (the last job of the previous page), never by offset, so the
// hundredth page costs what the first does.
type JobQuery struct {
	Direction Direction // "" for both
	State     State     // "" for any
	// Sender and MailTo, when either is set, limit the list to what a
	// console user who is not an admin may see: the jobs the user sent
	// (Job.Sender equal to Sender) and the received faxes mailed to one of
	// the user's addresses (an inbound job whose MailTo holds an address
	// that MailAddress turns into one of MailTo's).
	Sender string
	MailTo []string
	// Text matches the number, sender, report address, subject or fax SID,
	// case-insensitively and anywhere in them ("" for all).
	Text string
	// Since and Until bound CreatedAt: Since <= CreatedAt < Until (zero for
	// no bound).
	Since, Until time.Time
	// After continues a list after this job (newest first).
	After *JobCursor
	Limit int // 0 for a default of 50
}

// JobCursor is a position in the newest-first order of jobs.
type JobCursor struct {
	CreatedAt time.Time
	ID        string
}

// maxSearchText bounds SearchText: it is a column in an index, and
// PostgreSQL refuses index entries over about 2,700 bytes.
const maxSearchText = 1000

// SearchText is what JobQuery.Text is matched against: the fields a person
// remembers a fax by, lowercased. A number is there with and without its
// "+", so "5551234567" finds "+15551234567". The subject, the one long
// field, comes last, so a long subject can lose its end but never hide a
// number or a SID.
func SearchText(j *Job) string {
	parts := []string{j.Destination.To, strings.TrimPrefix(j.Destination.To, "+"), j.From, j.FaxSID}
	for _, a := range j.Attempts {
		if a.FaxSID != j.FaxSID {
			parts = append(parts, a.FaxSID)
		}
	}
	for _, x := range j.ExtraFaxes {
		parts = append(parts, x.SID)
	}
	parts = append(parts, j.Destination.Contact, j.Sender, j.MailFrom, j.ReportTo)
	parts = append(parts, j.MailTo...)
	parts = append(parts, j.Subject)
	// PostgreSQL's TEXT refuses NUL and invalid UTF-8, which a mail
	// subject may carry; neither is something anyone searches for.
	t := strings.ToValidUTF8(strings.Join(parts, "\n"), "")
	t = strings.ToLower(strings.ReplaceAll(t, "\x00", ""))
	if len(t) > maxSearchText {
		t = strings.ToValidUTF8(t[:maxSearchText], "")
	}
	return t
}

// MailAddress is the form in which an inbound job's MailTo entries and a
// console user's addresses are compared: the bare address, lowercased
// ("Front Desk <Desk@Office.example>" is "desk@office.example"). Text that
// is not an address is only trimmed and lowercased.
func MailAddress(s string) string {
	if a, err := mail.ParseAddress(s); err == nil {
		s = a.Address
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// MailedTo reports whether j is a received fax mailed to one of addrs
// (each in MailAddress form).
func MailedTo(j *Job, addrs []string) bool {
	if j.Dir() != Inbound {
		return false
	}
	for _, m := range j.MailTo {
		for _, a := range addrs {
			if a != "" && MailAddress(m) == a {
				return true
			}
		}
	}
	return false
}

// SearchTerm turns what a person typed into the text to look for: a phone
// number written with spaces, dashes, dots or brackets becomes its digits.
func SearchTerm(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	digits, phone := 0, s != ""
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
			b.WriteRune(r)
		case strings.ContainsRune(" -.()+/", r):
		default:
			phone = false
		}
	}
	if phone && digits >= 3 {
		return b.String()
	}
	return s
}

// Session is a signed-in console user. ID is the SHA-256 of the token in
// the cookie, so the table does not hold usable credentials.
type Session struct {
	ID        string
	User      string
	CSRF      string // the token every form of this session must carry
	CreatedAt time.Time
	SeenAt    time.Time
}

// AuditEntry records one console or operator action.
type AuditEntry struct {
	ID     string
	JobID  string // "" for actions on no fax (sign-in, sign-out)
	At     time.Time
	User   string
	Action string // "retry", "cancel", "resend", "send", "download", "sign-in", ...
	Detail string // plain words: the new job of a resend, the refusal of a failed action
}

// ConsoleStore is what the web console needs from the job database beyond
// JobStore: searching jobs, sessions that survive restarts, and the audit log.
type ConsoleStore interface {
	// Search returns one page of jobs, newest first.
	Search(ctx context.Context, q JobQuery) ([]*Job, error)

	// CreateSession stores a new session and deletes those idle since
	// before idleSince or created before createdSince.
	CreateSession(ctx context.Context, s Session, idleSince, createdSince time.Time) error
	// Session returns the session or ENotFound.
	Session(ctx context.Context, id string) (*Session, error)
	// TouchSession records that the session was used at seen.
	TouchSession(ctx context.Context, id string, seen time.Time) error
	// DeleteSession ends a session; deleting a missing one is not an error.
	DeleteSession(ctx context.Context, id string) error

	// Audit appends an entry to the audit log.
	Audit(ctx context.Context, e AuditEntry) error
	// AuditLog returns a job's entries, oldest first.
	AuditLog(ctx context.Context, jobID string) ([]AuditEntry, error)
}
