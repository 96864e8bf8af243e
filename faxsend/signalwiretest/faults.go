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

// HTTPError is one forced answer to a create.
type HTTPError struct {
	Status     int    // HTTP status, e.g. 429 or 503
	Code       int    // the "code" of the error body
	Message    string // the "message" of the error body
	RetryAfter string // raw Retry-After header value ("2" or an HTTP date); "" for none
	// Accept creates the fax before answering with the error: the request
	// took effect although the client is told it failed.
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
	// Stall leaves the fax in "sending" for good: its result never comes.
	// WaitIdle does not wait for a stalled fax.
	Stall bool
}
