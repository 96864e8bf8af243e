package jobs

import (
	"strings"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/mailparse"
)

// reportAddress decides where a message's report goes, "" for nowhere.
// A report names the fax number and the outcome, so it goes only where the
// sender can be trusted to receive it: the report_to bound to the logged-in
// user or the trusted network, else the message's From if it is in the
// envelope sender's domain (a person behind a shared bounce address), else
// the envelope sender. Never a third party chosen in a header.
//
// RFC 3834: the null sender and automatic or bulk mail (Auto-Submitted,
// Precedence: bulk, list or junk) are never answered, or two robots can
// mail each other forever.
func reportAddress(env faxbridge.Envelope, msg *mailparse.Message) string {
	if env.MailFrom == "" || (msg.AutoSubmitted != "" && msg.AutoSubmitted != "no") {
		return ""
	}
	switch msg.Precedence {
	case "bulk", "list", "junk":
		return ""
	}
	if env.ReportTo != "" {
		return env.ReportTo
	}
	if msg.From != "" && sameDomain(msg.From, env.MailFrom) {
		return msg.From
	}
	return env.MailFrom
}

func sameDomain(a, b string) bool {
	_, da, okA := cutAt(a)
	_, db, okB := cutAt(b)
	return okA && okB && da != "" && strings.EqualFold(da, db)
}

func cutAt(addr string) (string, string, bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}
