package signalwiretest

import "time"

// Faults switches the simulator into the misbehaviours SignalWire's
// documentation allows. The zero value is a well-behaved server.
type Faults struct {
	// CreateErrors is a queue of forced answers: each fax create that passes
	// authentication and validation takes the first entry.
	CreateErrors []HTTPError
	// CreateErrorRate is the probability that a create is answered with a
	// 429, 500 or 503 (chosen evenly) instead. Seed makes the draw repeatable.
	CreateErrorRate float64
	Seed            int64

	// CreateStatus is the status of a successful create: 0 means 200 (as
	// documented); 201 is what Twilio-style servers answer.
	CreateStatus int

	// Latency delays every API response after the work is done, so a client
	// that times out has still had its request carried out.
	Latency time.Duration

	// Until DownUntil the API answers nothing useful: DownMode says how.
	DownUntil time.Time
	DownMode  DownMode

	// AcceptThenReset makes every create take effect and then drops the
	// connection without an answer: the ambiguous case a client must
	// reconcile. For a single ambiguous create, queue an HTTPError with
	// Accept and Reset instead.
	AcceptThenReset bool

	// Outcome decides how a fax ends once it is sending. Nil delivers every
	// fax with the pages counted from its document.
	Outcome func(Fax) Outcome

	// Callback misbehaviour. DropCallbacks is the probability that one
	// callback is never attempted; DuplicateCallbacks delivers each one twice;
	// ReorderCallbacks holds the intermediate callbacks of a fax back and
	// delivers them after its final one; CallbackDelay waits before each.
	DropCallbacks      float64
	DropAllCallbacks   bool
	DuplicateCallbacks bool
	ReorderCallbacks   bool
	CallbackDelay      time.Duration
	// TwilioSignatureHeader sends the signature as X-Twilio-Signature, the
	// legacy alias, instead of X-SignalWire-Signature.
	TwilioSignatureHeader bool

	// Numbers picks how num_pages, price, duration and error_code are
	// rendered in the fax JSON; the public material shows all of them.
	Numbers NumberStyle
	// ISODates renders date_created/date_updated as RFC 3339 (as SignalWire's
	// samples show) instead of the Twilio-style RFC 1123 with numeric zone.
	ISODates bool
	// SlowCreate makes a create take effect only this long after the request
	// arrived, whether or not the client is still waiting: a client that
	// gives up earlier gets no answer, and the fax still comes into being
	// (dated then) as it does when SignalWire finishes a create after the
	// client timed out. A client still connected gets the normal answer.
	// Forced refusals (CreateErrors without Accept) answer at once.
	SlowCreate time.Duration

	// ListLag hides a fax from list answers until this long after its
	// date_created (by Config.Now), like a lagging read replica; a fetch by
	// SID finds it at once.
	ListLag time.Duration

	// Until AuthFailUntil every API request is refused as SignalWire
	// refuses a revoked token or one without the Fax scope: AuthFailStatus
	// (401 when 0, or 403) with code 20003, and WWW-Authenticate on a 401.
	AuthFailUntil  time.Time
	AuthFailStatus int

	// Until NoBalanceUntil every valid create is refused with code 30002,
	// insufficient balance. It is checked before CreateErrors, which keep
	// their entries for later.
	NoBalanceUntil time.Time

	// MediaDeleteErrors is a queue of forced answers to DELETE of a fax's
	// media: each such request that passes authentication takes the first
	// entry. Accept deletes the media before answering with the error.
	MediaDeleteErrors []HTTPError

	// TTLUnit is how long one minute of a fax's Ttl lasts, so a test can
	// watch a fax expire; 0 means a minute. A fax that has not reached a
	// final status within its Ttl (60 minutes unless the create set it)
	// ends failed, with an error message saying it expired and its
	// completed callback. The unit is read when the fax is created.
	TTLUnit time.Duration

	// HostedMediaURL makes media_url point at the simulator's stored copy
	// once the document is fetched (null before, and when StoreMedia is
	// false), as SignalWire describes the field, instead of echoing the
	// submitted MediaUrl as its samples show.
	HostedMediaURL bool
}

// DownMode is how the API behaves while Faults.DownUntil has not passed.
type DownMode int

const (
	// DownReset drops every connection without an answer (TCP reset).
	DownReset DownMode = iota
	// Down503 answers 503 with an HTML body, as a load balancer in front of
	// a dead service does: the client must cope with an error that is not JSON.
	Down503
)

// NumberStyle is how numeric fields of the fax resource are rendered.
type NumberStyle int

const (
	// DocumentedNumbers renders num_pages, price and error_code as strings
	// and duration as a number, as the field list documents them.
	DocumentedNumbers NumberStyle = iota
	// PlainNumbers renders all four as JSON numbers.
	PlainNumbers
	// StringNumbers renders all four as strings.
	StringNumbers
)

// HTTPError is one forced answer to a create or a media deletion.
type HTTPError struct {
	Status     int    // HTTP status, e.g. 429 or 503
	Code       int    // the "code" of the error body
	Message    string // the "message" of the error body
	RetryAfter string // raw Retry-After header value ("2" or an HTTP date); "" for none
	// Accept carries the request out (creates the fax, deletes the media)
	// before answering with the error: the request took effect although the
	// client is told it failed.
	Accept bool
	// Reset drops the connection instead of answering; Status, Code and
	// Message are then unused.
	Reset bool
}

// Outcome is how a sending fax ends.
type Outcome struct {
	Status          string // delivered, busy, no-answer or failed; "" means delivered
	ErrorCode       string
	ErrorMessage    string
	Pages           int // 0 for a delivered fax means the counted pages
	Duration        int // seconds; 0 for a delivered fax means 20 s a page
	RemoteStationID string
	// Stall leaves the fax in "sending" (the call never connects) until its
	// Ttl runs out, when it fails as expired (see Faults.TTLUnit). WaitIdle
	// does not wait for a stalled fax to expire.
	Stall bool
}
