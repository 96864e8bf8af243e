package faxsend

import (
	"strings"
	"unicode"
)

// Reason explains in plain words, for the sender, why a fax with the given
// provider status was not delivered. It returns "" for delivered faxes and
// for statuses that are not final.
func Reason(status, errorCode, errorMessage string) string {
	switch status {
	case "busy":
		return "The line was busy."
	case "no-answer":
		return "The fax machine at the number did not answer."
	case "canceled":
		return "The fax was canceled."
	case "failed":
		return failure(errorCode, errorMessage)
	}
	return ""
}

// failure explains a failed transmission from SignalWire's error message,
// matched loosely because its wording and punctuation are not documented as
// stable, and quotes the message when it is not one we know.
func failure(code, msg string) string {
	m := strings.ToLower(msg)
	switch {
	case code == "34004" || strings.Contains(m, "dropped prematurely"):
		return "The call dropped before the fax was complete."
	case strings.Contains(m, "resolution"):
		return "The receiving machine could not accept the image resolution."
	case strings.Contains(m, "transmission not established"):
		return "A call was made, but no fax connection could be set up with the receiving machine."
	case strings.Contains(m, "timed out waiting for initial communication"):
		return "The receiving fax machine did not respond."
	case strings.Contains(m, "fax expired"), strings.Contains(m, "ttl"):
		// The fax's Ttl ran out before it could be sent.
		return "The fax service gave up because the fax could not be sent in the time allowed."
	case strings.Contains(m, "busy"):
		return "The line was busy."
	case strings.Contains(m, "no answer"), strings.Contains(m, "not answer"):
		return "The fax machine at the number did not answer."
	}
	if q := quote(msg); q != "" {
		return "The fax could not be sent. The fax service said: \"" + q + "\""
	}
	if code != "" {
		return "The fax could not be sent (fax service error " + quote(code) + ")."
	}
	return "The fax could not be sent."
}

// quote makes provider text safe to show: one line, no control characters,
// no more than 200 characters.
func quote(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	s = strings.TrimSuffix(s, ".")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
