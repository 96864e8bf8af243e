package jobs

import (
	"net/url"
	"strings"
	"time"
)

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// roundDuration prints a duration the way a person would say it.
func roundDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Hour).String(), "0m0s")
	case d >= time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	case d >= time.Minute:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return d.Round(time.Second).String()
}

// sameHost reports whether two URLs are served by the same scheme and host:
// a media URL on our own storage host belongs to one of our jobs.
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil || ua.Host == "" {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host)
}

// sameNumber compares two fax numbers as a provider may spell them: E.164
// with or without the plus, or a SIP URI in any case.
func sameNumber(a, b string) bool {
	norm := func(n string) string {
		n = strings.ToLower(strings.TrimSpace(n))
		n = strings.TrimPrefix(n, "tel:")
		if strings.HasPrefix(n, "sip:") || strings.HasPrefix(n, "sips:") {
			return n
		}
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, n)
	}
	return norm(a) == norm(b)
}
