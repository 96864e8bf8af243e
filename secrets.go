package faxbridge

import (
	"fmt"
	"log/slog"
)

// A SIP contact's password travels with its destination (the provider needs
// it for every attempt), so Destination keeps it out of every text made from
// it: log attributes and %v of a Job or a Destination show that one is set,
// never what it is. The job store keeps it (JSON), and `faxbridge jobs`
// redacts it from what it prints.

// String is the destination as logs and %v show it.
func (d Destination) String() string {
	s := d.To
	if d.Contact != "" {
		s = d.Contact + " <" + d.To + ">"
	}
	if d.SipAuthUsername != "" || d.SipAuthPassword != "" {
		s += fmt.Sprintf(" (SIP user %q, password %s)", d.SipAuthUsername, setOrNot(d.SipAuthPassword))
	}
	return s
}

// GoString covers %#v, which would otherwise print every field.
func (d Destination) GoString() string { return "faxbridge.Destination{" + d.String() + "}" }

// LogValue is the destination as a structured log attribute.
func (d Destination) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("to", d.To)}
	if d.Contact != "" {
		attrs = append(attrs, slog.String("contact", d.Contact))
	}
	if d.SipAuthUsername != "" || d.SipAuthPassword != "" {
		attrs = append(attrs, slog.String("sip_auth_username", d.SipAuthUsername), slog.String("sip_auth_password", setOrNot(d.SipAuthPassword)))
	}
	return slog.GroupValue(attrs...)
}

func setOrNot(secret string) string {
	if secret == "" {
		return "(none)"
	}
	return "(set)"
}
