package faxbridge

import (
	"fmt"
	"time"
)

// Admission is what a message must satisfy at the moment its jobs are
// committed, checked by JobStore.CreateAdmitted inside that transaction.
type Admission struct {
	// Sender is the Job.Sender whose usage Limits count.
	Sender string
	Limits []UsageLimit
	// MessageKey, when set, admits the message only if no message with
	// the same key was admitted at or after ReplaySince: a replayed
	// message is refused (MX mode).
	MessageKey  string
	ReplaySince time.Time
}

// UsageLimit bounds the faxes and pages a sender's jobs created at or after
// Since may add up to, the new jobs included. Zero means no limit.
type UsageLimit struct {
	Name  string // the window in words, for the refusal: "hour", "day"
	Since time.Time
	Faxes int
	Pages int
}

// QuotaExceeded is CreateAdmitted's refusal when a limit would be passed.
type QuotaExceeded struct {
	Limit       UsageLimit
	Faxes       int // already used in the window
	Pages       int
	FaxesWanted int // this message
	PagesWanted int
}

func (e *QuotaExceeded) Error() string {
	return fmt.Sprintf("quota per %s exceeded: %d faxes and %d pages used, %d and %d more asked, limits %d and %d",
		e.Limit.Name, e.Faxes, e.Pages, e.FaxesWanted, e.PagesWanted, e.Limit.Faxes, e.Limit.Pages)
}

// Replayed is CreateAdmitted's refusal of a message key already admitted
// within the replay window.
type Replayed struct{ Key string }

func (e *Replayed) Error() string { return "message already admitted: " + e.Key }

// ActiveCounts is the backlog: active jobs by state, and pending reports.
type ActiveCounts struct {
	ByState        map[State]int
	ReportsPending int
}
