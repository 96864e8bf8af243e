package daemon

import (
	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/httpd"
	"github.com/faxbridge/faxbridge/jobs"
	"github.com/faxbridge/faxbridge/notify"
)

// faxMailer is what delivers received faxes: Main.FaxMailer when a test
// set one, otherwise the relay or outbox of [mail], as for reports.
func (m *Main) faxMailer() (faxbridge.FaxMailer, error) {
	if m.FaxMailer != nil {
		return m.FaxMailer, nil
	}
	cfg := m.Config
	if cfg.Mail.Outbox != "" {
		return &notify.Outbox{Dir: cfg.Mail.Outbox}, nil
	}
	return notify.NewRelay(notify.RelayConfig{
		Addr: cfg.Mail.Relay, TLS: cfg.Mail.TLS, Username: cfg.Mail.Username, Password: cfg.Mail.Password,
		HeloName: cfg.SMTP.Hostname, EnvelopeFrom: cfg.Mail.EnvelopeFrom,
	})
}

// inboundConfig is the job service's policy for received faxes; without
// routes it receives nothing.
func inboundConfig(cfg *config.Config, inbox faxbridge.FaxInbox, mailer faxbridge.FaxMailer) jobs.InboundConfig {
	in := cfg.Inbound
	if !in.Enabled() {
		return jobs.InboundConfig{}
	}
	routes := make([]jobs.InboundRoute, len(in.Routes))
	for i, r := range in.Routes {
		routes[i] = jobs.InboundRoute{Number: r.Number, MailTo: r.MailTo}
	}
	return jobs.InboundConfig{
		Inbox:              inbox,
		Mailer:             mailer,
		Routes:             routes,
		UnroutedMailTo:     in.UnroutedMailTo,
		PollEvery:          in.PollEvery.Duration,
		MaxAttachmentBytes: in.MaxAttachmentBytes,
		LinkTTL:            in.LinkTTL.Duration,
		MaxDocumentBytes:   in.MaxDocumentBytes,
		DownloadTimeout:    in.DownloadTimeout.Duration,
		FailureNotices:     in.FailureNotices,
	}
}

// inboundSink is what the HTTP side hands received faxes to: the job
// service when receiving is on, nil (no inbound routes served) otherwise.
func (m *Main) inboundSink() httpd.InboundSink {
	if !m.Config.Inbound.Enabled() {
		return nil
	}
	return m.svc
}

// inboundPageSize is the page size asked of SignalWire: inbound.page_size,
// or fax.paper's.
func inboundPageSize(cfg *config.Config) string {
	if cfg.Inbound.PageSize != "" {
		return cfg.Inbound.PageSize
	}
	return paper(cfg)
}

var _ httpd.InboundSink = (*jobs.Service)(nil)
