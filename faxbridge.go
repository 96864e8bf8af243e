// Package faxbridge holds the domain of the email-to-fax gateway: jobs and their
// states, the documents they carry, the errors every adapter translates into, and
// the ports (interfaces) that adapters implement. It imports only the standard
// library, so every other package can depend on it without cycles.
package faxbridge

import (
	"context"
	"io"
	"time"
)

// State is where a job is in its life. Only the worker moves a job between
// states; callbacks and polls feed it outcomes.
type State string

const (
	// StateQueued: accepted and durably stored, waiting for a worker to submit it.
	StateQueued State = "queued"
	// StateSubmitting: the intent to submit is recorded and the provider call may
	// or may not have happened. After a crash a job found here is reconciled with
	// the provider before anything is sent again (at-most-once submission).
	StateSubmitting State = "submitting"
	// StateSending: the provider has the fax (we know its SID) and we wait for
	// the outcome by callback or poll.
	StateSending State = "sending"
	// StateDone: the fax has a final outcome (see Job.Outcome). A report and the
	// document cleanup may still be pending (Job.ReportState, Job.CleanedAt).
	StateDone State = "done"
)

// Outcome values of a finished job. The provider's own terminal statuses are
// kept as the provider spells them; OutcomeRejected covers a submission the
// provider refused for good and OutcomeExpired a fax whose result never came.
const (
	OutcomeDelivered = "delivered"
	OutcomeBusy      = "busy"
	OutcomeNoAnswer  = "no-answer"
	OutcomeFailed    = "failed"
	OutcomeCanceled  = "canceled"
	OutcomeRejected  = "rejected"
	OutcomeExpired   = "expired"
)

// ReportState tracks the report email of a finished job.
type ReportState string

const (
	ReportNone       ReportState = ""           // job not finished yet
	ReportPending    ReportState = "pending"    // due; the worker sends it
	ReportSent       ReportState = "sent"       // the relay accepted it
	ReportSuppressed ReportState = "suppressed" // null sender or auto-submitted mail: never report
	ReportAbandoned  ReportState = "abandoned"  // the relay refused it for good or the retry window closed
)

// Direction says which way a fax travels through the gateway.
type Direction string

const (
	// Outbound: mail in, fax out. Jobs stored before directions existed
	// have none and are outbound.
	Outbound Direction = "outbound"
	// Inbound: a fax received on one of our numbers, delivered by email.
	Inbound Direction = "inbound"
)

// Destination is where a fax goes: an E.164 number or a SIP URI, with the SIP
// credentials a contact may carry.
type Destination struct {
	To              string `json:"to"`
	Contact         string `json:"contact,omitempty"` // contact name when addressed by name
	SipAuthUsername string `json:"sip_auth_username,omitempty"`
	SipAuthPassword string `json:"sip_auth_password,omitempty"`
}

// Recipient is one resolved RCPT TO: where the fax goes and any per-message
// quality chosen by the address.
type Recipient struct {
	Destination Destination
	Quality     string // "" for the configured default
}

// Envelope is what the SMTP transaction says about a message.
type Envelope struct {
	MailFrom   string // "" for the null sender
	Recipients []Recipient
	RemoteAddr string
	// Sender names who sent it: the authenticated user or the named trusted
	// network ("" when neither), for logs and the job record.
	Sender string
	// ReportTo, when set, is where the report goes instead of the message's
	// From: a user's or a scanner network's configured address.
	ReportTo string
}

// DocumentInfo describes one document found in the message, for the report.
type DocumentInfo struct {
	Name   string `json:"name"`
	Type   string `json:"type"` // "pdf", "tiff", "jpeg", "png"
	Bytes  int64  `json:"bytes"`
	Pages  int    `json:"pages"`
	SHA256 string `json:"sha256"`
}

// Attempt records one submission of a fax to the provider.
type Attempt struct {
	Number       int       `json:"number"`
	Quality      string    `json:"quality"`
	FaxSID       string    `json:"fax_sid,omitempty"`
	StartedAt    time.Time `json:"started_at"`
	Status       string    `json:"status,omitempty"`
	Pages        int       `json:"pages,omitempty"`
	Duration     int       `json:"duration,omitempty"` // seconds
	ErrorCode    string    `json:"error_code,omitempty"`
	ErrorMessage string    `json:"error_message,omitempty"`
	// Token is the per-submission value in the attempt's signed status
	// callback URL: a callback is taken for this attempt only when it
	// carries it.
	Token string `json:"token,omitempty"`
	// MediaURL is the document link this attempt submitted; each attempt
	// gets its own, so a listing tells the attempts apart.
	MediaURL string `json:"media_url,omitempty"`
}

// ExtraFax is a fax the provider has for a job that is not the one the job
// follows: a submission thought lost that landed after all, or a second fax
// from one submission. It may have been sent, so it is never ignored: it is
// recorded, logged as an error, counted and named in the report.
type ExtraFax struct {
	SID     string    `json:"sid"`
	Status  string    `json:"status,omitempty"`
	Attempt int       `json:"attempt,omitempty"` // the attempt it belongs to, when known
	Source  string    `json:"source"`            // how it was seen: "callback", "listing", "answer"
	SeenAt  time.Time `json:"seen_at"`
}

// Job is one fax to one destination. A message to several fax recipients
// becomes several jobs.
type Job struct {
	ID        string    `json:"id"`
	Version   int64     `json:"version"`             // optimistic concurrency: bumped by every update
	Direction Direction `json:"direction,omitempty"` // "" is Outbound
	State     State     `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// From the SMTP transaction and the message header.
	MailFrom   string `json:"mail_from"`        // envelope sender ("" for the null sender)
	ReportTo   string `json:"report_to"`        // where the report goes; "" means no report
	MessageID  string `json:"message_id"`       // original Message-ID, for In-Reply-To
	Subject    string `json:"subject"`          // original subject, for the report
	RemoteAddr string `json:"remote_addr"`      // SMTP client address
	Sender     string `json:"sender,omitempty"` // authenticated user or named network

	Destination Destination `json:"destination"`
	From        string      `json:"from"`    // caller ID / From number used for the fax
	Quality     string      `json:"quality"` // standard, fine, superfine

	// The merged document in blob storage.
	DocumentKey    string         `json:"document_key"`
	DocumentBytes  int64          `json:"document_bytes"`
	DocumentSHA256 string         `json:"document_sha256"`
	Pages          int            `json:"pages"`
	Documents      []DocumentInfo `json:"documents"`
	Skipped        []string       `json:"skipped,omitempty"` // parts not faxed, with the reason

	// Submission.
	MediaURL       string    `json:"media_url,omitempty"`
	MediaExpiresAt time.Time `json:"media_expires_at,omitempty"`
	IntentAt       time.Time `json:"intent_at,omitempty"` // when the current submission was decided
	FaxSID         string    `json:"fax_sid,omitempty"`
	Attempts       []Attempt `json:"attempts,omitempty"`
	// EmptyListings counts the provider listings, reconcile_after apart,
	// that did not show the current ambiguous submission; two mean it
	// never arrived.
	EmptyListings int        `json:"empty_listings,omitempty"`
	ListedAt      time.Time  `json:"listed_at,omitempty"` // the last of those listings
	ExtraFaxes    []ExtraFax `json:"extra_faxes,omitempty"`
	// DetailsFetched: the fax resource was read for what the final
	// callback does not carry (duration), once, before the report.
	DetailsFetched bool   `json:"details_fetched,omitempty"`
	SendErrors     int    `json:"send_errors,omitempty"` // consecutive temporary provider errors
	LastError      string `json:"last_error,omitempty"`  // last temporary problem, for operators
	Polls          int    `json:"polls,omitempty"`

	// Outcome.
	Outcome         string    `json:"outcome,omitempty"`
	FaxStatus       string    `json:"fax_status,omitempty"` // provider's last known status
	NumPages        int       `json:"num_pages,omitempty"`
	Duration        int       `json:"duration,omitempty"`
	RemoteStationID string    `json:"remote_station_id,omitempty"`
	ErrorCode       string    `json:"error_code,omitempty"`
	ErrorMessage    string    `json:"error_message,omitempty"`
	Reason          string    `json:"reason,omitempty"` // plain words for the sender when not delivered
	FinishedAt      time.Time `json:"finished_at,omitempty"`

	// After the outcome.
	ReportState    ReportState `json:"report_state,omitempty"`
	ReportTries    int         `json:"report_tries,omitempty"`
	ReportSentAt   time.Time   `json:"report_sent_at,omitempty"`
	ReportDeadline time.Time   `json:"report_deadline,omitempty"`
	KeepDocument   bool        `json:"keep_document,omitempty"`
	CleanupTries   int         `json:"cleanup_tries,omitempty"`
	CleanedAt      time.Time   `json:"cleaned_at,omitempty"`

	// Scheduling: the worker acts on the job when NextAt has passed. A zero
	// NextAt means nothing is left to do.
	NextAt time.Time `json:"next_at,omitempty"`

	// Inbound faxes (Direction Inbound). From is the caller, Destination.To
	// our number, FaxSID the provider's fax and MediaURL the provider's copy
	// of the document; DocumentKey is our copy once fetched. ReportState
	// tracks the email that delivers the fax (or the notice of a failed
	// reception) to MailTo.
	MailTo        []string  `json:"mail_to,omitempty"`
	ReceivedAt    time.Time `json:"received_at,omitempty"`
	FetchTries    int       `json:"fetch_tries,omitempty"`
	DocumentType  string    `json:"document_type,omitempty"`   // "pdf" or "tiff", by content
	LinkExpiresAt time.Time `json:"link_expires_at,omitempty"` // mailed as a link: our copy is kept until then

	// The provider's copy: for an inbound fax, the fax and its media; for
	// an outbound one, the media of every fax the job made, deleted after
	// the report unless the configuration keeps it.
	ProviderDeletedAt time.Time `json:"provider_deleted_at,omitempty"`
	ProviderTries     int       `json:"provider_tries,omitempty"`

	// Stored is the JobStore's own note of the row this job was read from
	// or last written as, so that an update rewrites only the indexed
	// columns that changed. It is opaque outside the store, never encoded,
	// and may be nil (the store then writes every column).
	Stored any `json:"-"`
}

// Dir returns the job's direction, Outbound for jobs stored without one.
func (j *Job) Dir() Direction {
	if j.Direction == "" {
		return Outbound
	}
	return j.Direction
}

// Final reports whether the fax itself has a final outcome.
func (j *Job) Final() bool { return j.State == StateDone }

// FaxRequest is what a provider needs to send one fax. Provider-wide settings
// (time to live, callback method and events, media storage) belong to the
// provider's own configuration.
type FaxRequest struct {
	To              string
	From            string
	MediaURL        string
	Quality         string
	StatusCallback  string
	SipAuthUsername string
	SipAuthPassword string
}

// FaxStatus is the provider's view of one fax, from a send response, a poll or
// a status callback.
type FaxStatus struct {
	SID             string
	Status          string // provider status: queued, processing, sending, delivered, ...
	To              string
	MediaURL        string
	Pages           int
	Duration        int // seconds
	RemoteStationID string
	ErrorCode       string
	ErrorMessage    string
	CreatedAt       time.Time
	// Reason explains in plain words, for the sender, why the fax was not
	// delivered; the provider adapter fills it for failed outcomes.
	Reason string

	// For received faxes: the caller, and which way the fax went
	// ("" when the provider did not say).
	From      string
	Direction Direction
}

// Terminal reports whether Status is final for an outbound fax.
func (s FaxStatus) Terminal() bool { return TerminalFaxStatus(s.Status) }

// TerminalFaxStatus reports whether a provider status is final for an outbound fax.
func TerminalFaxStatus(status string) bool {
	switch status {
	case OutcomeDelivered, OutcomeNoAnswer, OutcomeBusy, OutcomeFailed, OutcomeCanceled:
		return true
	}
	return false
}

// SentQuery selects outbound faxes at the provider: to To, from From (""
// for any) and created at or after Since.
type SentQuery struct {
	To    string
	From  string
	Since time.Time
}

// FaxProvider sends faxes and tells what became of them. SignalWire is the
// first; others implement the same interface.
type FaxProvider interface {
	// Send submits a fax. A returned error carries a Code: Unavailable for
	// faults worth retrying (rate limits, 5xx, network), Invalid for
	// refusals of the fax itself. An error that wraps ErrAccount is the
	// provider refusing our account (credentials, scope, balance): an
	// operator fixes it and the fax waits. One that wraps ErrAmbiguous may
	// have created the fax.
	Send(ctx context.Context, req FaxRequest) (FaxStatus, error)
	// Fetch returns the current status of a fax.
	Fetch(ctx context.Context, sid string) (FaxStatus, error)
	// FindSent returns the faxes matching q whose media URL is mediaURL,
	// newest first: the reconciliation of a submission whose answer was
	// lost. Providers whose listings lag behind creates may omit a fax
	// created moments ago; the caller lists more than once.
	FindSent(ctx context.Context, q SentQuery, mediaURL string) ([]FaxStatus, error)
	// ListSent returns every fax matching q, newest first: the fallback of
	// reconciliation when the provider reports its own copy of the media
	// rather than our URL.
	ListSent(ctx context.Context, q SentQuery) ([]FaxStatus, error)
	// Cancel withdraws a fax the provider has not started to send; it
	// fails with EInvalid once sending began.
	Cancel(ctx context.Context, sid string) error
	// DeleteMedia deletes the provider's stored copies of a finished fax's
	// document. A fax or media already gone is not an error.
	DeleteMedia(ctx context.Context, sid string) error
}

// BlobStore keeps documents where the fax provider can fetch them.
type BlobStore interface {
	// Put stores size bytes from r under key (size -1 when unknown).
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// URL returns a URL that serves the object with a plain GET until at least
	// ttl from now, and that nobody can guess or alter.
	URL(ctx context.Context, key string, ttl time.Duration) (string, error)
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the keys of objects last written before `before`. The
	// janitor uses it to find uploads whose message was never committed.
	List(ctx context.Context, before time.Time) ([]string, error)
	// Open reads the object back (for the console's download and resend,
	// and for mailing received faxes); a missing object is ENotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// JobFilter selects jobs for listing.
type JobFilter struct {
	State     State     // "" for any
	Direction Direction // "" for any
	Limit     int       // 0 for no limit
	Active    bool      // only jobs with work left (NextAt set)
}

// JobStore persists jobs. Every method is safe for concurrent use, including by
// several faxbridge instances sharing one database.
type JobStore interface {
	// Create stores new jobs atomically: all or none.
	Create(ctx context.Context, jobs []*Job) error
	// Get returns the job or an error with code NotFound.
	Get(ctx context.Context, id string) (*Job, error)
	// GetBySID returns the job that recorded the fax SID: its current fax, an
	// earlier attempt's or an extra fax.
	GetBySID(ctx context.Context, sid string) (*Job, error)
	// Update writes j if its Version still matches the stored one, and then
	// increments j.Version. Otherwise it returns an error with code Conflict
	// and writes nothing.
	Update(ctx context.Context, j *Job) error
	// Claim leases up to limit jobs whose NextAt is at or before now and that
	// no other worker holds, for lease. The caller owns them until the lease
	// ends or it updates them.
	Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*Job, error)
	// Release drops owner's lease on the job so another claim can take it.
	Release(ctx context.Context, id, owner string) error
	// List returns jobs, newest first.
	List(ctx context.Context, f JobFilter) ([]*Job, error)
	// NextDue returns the earliest NextAt among active jobs, or zero if none.
	NextDue(ctx context.Context) (time.Time, error)
	// Usage counts the jobs created for a sender (Job.Sender) at or after
	// since, and their pages: the basis of per-sender quotas.
	Usage(ctx context.Context, sender string, since time.Time) (faxes, pages int, err error)
	// CreateAdmitted is Create with a message's admission rules (see
	// Admission) checked in the same transaction that commits the jobs,
	// so that concurrent messages cannot both pass one quota.
	CreateAdmitted(ctx context.Context, jobs []*Job, a Admission) error
	// CountActive counts the jobs with work left, by state, and the
	// finished ones whose report is pending, without reading them: what
	// a metrics scrape needs.
	CountActive(ctx context.Context) (ActiveCounts, error)

	// Retention and pacing (issue 12).

	// Purge deletes up to limit finished jobs with nothing left to do
	// (report and cleanup settled) last changed before before, and
	// returns how many it deleted.
	Purge(ctx context.Context, before time.Time, limit int) (int, error)
	// Reserve takes the next free slot of the named schedule shared by
	// every instance on the store: slots are interval apart, never before
	// now. It takes one only if it starts within ahead of now; otherwise
	// ok is false and slot is when one will be within reach.
	Reserve(ctx context.Context, name string, now time.Time, interval, ahead time.Duration) (slot time.Time, ok bool, err error)

	Close() error
}

// Report is what the sender learns about a finished job.
type Report struct {
	Job      *Job
	From     string // the report's From header, e.g. "Fax <fax@example.com>"
	Hostname string // for the report's Message-ID
	Date     time.Time
}

// Notifier delivers reports to senders.
type Notifier interface {
	// Notify sends the report. An error with code Unavailable is worth
	// retrying later; any other error is permanent.
	Notify(ctx context.Context, r Report) error
}

// Inbound fax statuses, as the provider spells them.
const (
	FaxReceiving = "receiving"
	FaxReceived  = "received"
)

// OutcomeReceived is the outcome of an inbound job whose document was
// fetched; a failed reception has OutcomeFailed.
const OutcomeReceived = "received"

// FaxInbox is the provider's side of receiving faxes.
type FaxInbox interface {
	// FetchMedia opens the document of a received fax. It fails with
	// ETooLarge when the document is over limit bytes (the reader also
	// fails if the body grows past it) and EUnavailable for faults worth
	// retrying.
	FetchMedia(ctx context.Context, mediaURL string, limit int64) (io.ReadCloser, error)
	// ListReceived returns the inbound faxes to `to` ("" for any number)
	// created at or after since.
	ListReceived(ctx context.Context, to string, since time.Time) ([]FaxStatus, error)
	// DeleteReceived removes the fax and its media at the provider; a fax
	// already gone is not an error.
	DeleteReceived(ctx context.Context, sid, mediaURL string) error
}

// FaxMail is the email that delivers a received fax (or tells of a failed
// reception) to the addresses of its route.
type FaxMail struct {
	Job      *Job
	From     string // the From header, e.g. "Fax <fax@example.com>"
	Hostname string // for the Message-ID
	Date     time.Time
	// Document is attached as is; when it is nil and Link is set, the mail
	// carries the link instead, valid until LinkExpires.
	Document    []byte
	Link        string
	LinkExpires time.Time
}

// FaxMailer delivers received faxes by email.
type FaxMailer interface {
	// MailFax sends the mail to every address of m.Job.MailTo. An error with
	// code Unavailable is worth retrying later; any other is permanent.
	MailFax(ctx context.Context, m FaxMail) error
}
