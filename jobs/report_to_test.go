package jobs

import (
	"testing"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/mailparse"
)

func TestReportAddress(t *testing.T) {
	for _, tt := range []struct {
		name               string
		mailFrom, reportTo string
		from, auto, preced string
		want               string
	}{
		{"envelope sender", "scanner@office.example", "", "", "", "", "scanner@office.example"},
		{"From in the sender's domain", "bounces@office.example", "", "alice@Office.Example", "", "", "alice@Office.Example"},
		{"third party in From", "mallory@evil.example", "", "victim@bank.example", "", "", "mallory@evil.example"},
		{"subdomain is another domain", "a@office.example", "", "b@mail.office.example", "", "", "a@office.example"},
		{"user's report_to wins", "scanner@office.example", "fax-admin@office.example", "alice@office.example", "", "", "fax-admin@office.example"},
		{"null sender", "", "fax-admin@office.example", "alice@office.example", "", "", ""},
		{"auto-submitted", "a@office.example", "", "", "auto-generated", "", ""},
		{"auto-submitted no", "a@office.example", "", "", "no", "", "a@office.example"},
		{"precedence bulk", "a@office.example", "", "", "", "bulk", ""},
		{"precedence list", "a@office.example", "fax-admin@office.example", "", "", "list", ""},
		{"precedence junk", "a@office.example", "", "", "", "junk", ""},
		{"precedence first-class", "a@office.example", "", "", "", "first-class", "a@office.example"},
	} {
		env := faxbridge.Envelope{MailFrom: tt.mailFrom, ReportTo: tt.reportTo}
		msg := &mailparse.Message{From: tt.from, AutoSubmitted: tt.auto, Precedence: tt.preced}
		if got := reportAddress(env, msg); got != tt.want {
			t.Errorf("%s: report to %q, want %q", tt.name, got, tt.want)
		}
	}
}
