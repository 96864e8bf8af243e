package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
)

// SenderPolicy limits one sender (a user or a named network, as in
// Job.Sender). Zero values mean no limit.
type SenderPolicy struct {
	FaxFrom      string // caller ID for this sender's faxes
	MaxPages     int    // pages per fax
	FaxesPerHour int
	FaxesPerDay  int
	PagesPerHour int
	PagesPerDay  int
}

type window struct {
	name   string
	length time.Duration
}

var (
	hour = window{"hour", time.Hour}
	day  = window{"day", 24 * time.Hour}
)

// CheckQuota is asked at RCPT time whether sender may send one more fax,
// with pending faxes already accepted for this message. Over a quota is
// temporary (ELimit, 452): the window moves on.
func (s *Service) CheckQuota(ctx context.Context, sender string, pending int) error {
	p, ok := s.policy(sender)
	if !ok {
		return nil
	}
	for _, q := range []struct {
		w     window
		limit int
	}{{hour, p.FaxesPerHour}, {day, p.FaxesPerDay}} {
		if q.limit <= 0 {
			continue
		}
		faxes, _, err := s.store.Usage(ctx, sender, s.now().Add(-q.w.length))
		if err != nil {
			return err
		}
		if faxes+pending+1 > q.limit {
			return faxbridge.Errorf(faxbridge.ELimit, "the quota of %d faxes per %s for %s is used up; try again later", q.limit, q.w.name, senderName(sender))
		}
	}
	return nil
}

// checkPages applies a sender's page limits to a message of pages pages to
// n recipients.
func (s *Service) checkPages(ctx context.Context, sender string, pages, n int) error {
	p, ok := s.policy(sender)
	if !ok {
		return nil
	}
	if p.MaxPages > 0 && pages > p.MaxPages {
		return faxbridge.Errorf(faxbridge.ETooLarge, "the document has %d pages; %s may send at most %d pages per fax", pages, senderName(sender), p.MaxPages)
	}
	for _, q := range []struct {
		w     window
		limit int
	}{{hour, p.PagesPerHour}, {day, p.PagesPerDay}} {
		if q.limit <= 0 {
			continue
		}
		_, used, err := s.store.Usage(ctx, sender, s.now().Add(-q.w.length))
		if err != nil {
			return err
		}
		if used+pages*n > q.limit {
			return faxbridge.Errorf(faxbridge.ELimit, "this fax of %d pages would exceed the quota of %d pages per %s for %s (%d used); try again later", pages*n, q.limit, q.w.name, senderName(sender), used)
		}
	}
	return nil
}

// senderName names a sender in a reply to that sender: in words, never as
// the internal key ("user:carol") that quotas are kept under.
func senderName(sender string) string {
	kind, name, _ := strings.Cut(sender, ":")
	switch kind {
	case "user":
		return fmt.Sprintf("user %q", name)
	case "network":
		return fmt.Sprintf("network %q", name)
	case "mx":
		return fmt.Sprintf("sender %q", name)
	}
	return "this sender"
}

// admission is what a message from sender must still meet when its jobs
// are committed: the sender's quotas, counted inside the committing
// transaction (the checks at RCPT and after the build are early answers
// only; parallel sessions could pass them together), and, for a message
// from the internet, that its key was not faxed within ReplayWindow. ok is
// false when no rule applies, and the jobs take the ordinary Create.
func (s *Service) admission(sender, messageKey string) (faxbridge.Admission, bool) {
	now := s.now()
	var a faxbridge.Admission
	if messageKey != "" && s.cfg.ReplayWindow > 0 {
		a.MessageKey, a.ReplaySince = messageKey, now.Add(-s.cfg.ReplayWindow)
	}
	p, ok := s.policy(sender)
	if ok && (p.FaxesPerHour > 0 || p.FaxesPerDay > 0 || p.PagesPerHour > 0 || p.PagesPerDay > 0) {
		a.Sender = sender
		a.Limits = []faxbridge.UsageLimit{
			{Name: hour.name, Since: now.Add(-hour.length), Faxes: p.FaxesPerHour, Pages: p.PagesPerHour},
			{Name: day.name, Since: now.Add(-day.length), Faxes: p.FaxesPerDay, Pages: p.PagesPerDay},
		}
	}
	return a, a.MessageKey != "" || len(a.Limits) > 0
}

// policy is the sender's policy: its own, or for a proven internet sender
// ("mx:" Sender) the [mx] one, which counts per sender address.
func (s *Service) policy(sender string) (SenderPolicy, bool) {
	if p, ok := s.cfg.Policies[sender]; ok {
		return p, true
	}
	if strings.HasPrefix(sender, "mx:") && s.cfg.MXPolicy != nil {
		return *s.cfg.MXPolicy, true
	}
	return SenderPolicy{}, false
}

// admissionError turns a store's refusal into the sender's answer; other
// errors pass through.
func admissionError(sender string, err error) error {
	var qe *faxbridge.QuotaExceeded
	if errors.As(err, &qe) {
		l := qe.Limit
		if l.Faxes > 0 && qe.Faxes+qe.FaxesWanted > l.Faxes {
			return faxbridge.WrapError(faxbridge.ELimit, err, "the quota of %d faxes per %s for %s is used up; try again later", l.Faxes, l.Name, senderName(sender))
		}
		return faxbridge.WrapError(faxbridge.ELimit, err, "this fax of %d pages would exceed the quota of %d pages per %s for %s (%d used); try again later",
			qe.PagesWanted, l.Pages, l.Name, senderName(sender), qe.Pages)
	}
	var rp *faxbridge.Replayed
	if errors.As(err, &rp) {
		return faxbridge.WrapError(faxbridge.EDenied, err, "this message was already faxed; a copy sent again is not faxed twice")
	}
	return err
}
