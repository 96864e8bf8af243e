package config

import (
	"fmt"
	netmail "net/mail"
	"time"
)

// Inbound configures receiving faxes on the project's SignalWire numbers
// and delivering them by email. Receiving is on when a route or
// unrouted_mail_to is set.
type Inbound struct {
	Routes []InboundRoute `toml:"routes"`
	// UnroutedMailTo takes faxes to numbers no route names; without it
	// they are refused (<Reject/>).
	UnroutedMailTo []string `toml:"unrouted_mail_to"`
	// PollEvery is how often SignalWire is asked for received faxes whose
	// callback was lost.
	PollEvery Duration `toml:"poll_every"`
	// MaxAttachmentBytes: a larger document is mailed as a signed link that
	// is valid for LinkTTL.
	MaxAttachmentBytes int64    `toml:"max_attachment_bytes"`
	LinkTTL            Duration `toml:"link_ttl"`
	// MaxDocumentBytes and DownloadTimeout bound the download of one fax.
	MaxDocumentBytes int64    `toml:"max_document_bytes"`
	DownloadTimeout  Duration `toml:"download_timeout"`
	// FailureNotices mails the route when a reception fails.
	FailureNotices bool `toml:"failure_notices"`
	// PageSize is what SignalWire is asked to lay received pages out on
	// (letter, legal or a4); "" follows fax.paper.
	PageSize string `toml:"page_size"`
}

// InboundRoute sends faxes to Number (E.164, or "*" for any) to MailTo.
type InboundRoute struct {
	Number string   `toml:"number"`
	MailTo []string `toml:"mail_to"`
}

func inboundDefaults() Inbound {
	return Inbound{
		PollEvery:          Duration{5 * time.Minute},
		MaxAttachmentBytes: 20 << 20,
		LinkTTL:            Duration{7 * 24 * time.Hour},
		MaxDocumentBytes:   64 << 20,
		DownloadTimeout:    Duration{5 * time.Minute},
		FailureNotices:     true,
	}
}

// Enabled reports whether faxes are received at all.
func (in *Inbound) Enabled() bool { return len(in.Routes) > 0 || len(in.UnroutedMailTo) > 0 }

func (c *Config) checkInbound() Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	in := &c.Inbound
	addresses := func(key string, list []string) {
		for _, a := range list {
			if _, err := netmail.ParseAddress(a); err != nil {
				add("%s: %q is not an email address", key, a)
			}
		}
	}
	seen := map[string]bool{}
	for i, r := range in.Routes {
		key := fmt.Sprintf("inbound.routes[%d]", i)
		switch {
		case r.Number != "*" && !e164.MatchString(r.Number):
			add("%s.number %q must be one of your SignalWire numbers in E.164 form (+15551230000) or \"*\" for any", key, r.Number)
		case seen[r.Number]:
			add("%s.number %q has a route already", key, r.Number)
		}
		seen[r.Number] = true
		if len(r.MailTo) == 0 {
			add("%s.mail_to is empty: name at least one address", key)
		}
		addresses(key+".mail_to", r.MailTo)
	}
	addresses("inbound.unrouted_mail_to", in.UnroutedMailTo)
	if in.PollEvery.Duration < 5*time.Second {
		add("inbound.poll_every must be at least 5s")
	}
	if in.MaxAttachmentBytes < 1024 {
		add("inbound.max_attachment_bytes must be at least 1024")
	}
	if in.MaxDocumentBytes < 1<<20 {
		add("inbound.max_document_bytes must be at least 1 MiB (1048576)")
	}
	// S3 presigns for at most seven days.
	if in.LinkTTL.Duration < time.Hour || in.LinkTTL.Duration > 7*24*time.Hour {
		add("inbound.link_ttl must be from 1h to 168h (seven days)")
	}
	if in.DownloadTimeout.Duration < 10*time.Second {
		add("inbound.download_timeout must be at least 10s")
	}
	switch in.PageSize {
	case "", "letter", "legal", "a4":
	default:
		add("inbound.page_size %q: use letter, legal or a4 (or leave it empty to follow fax.paper)", in.PageSize)
	}
	return p
}
