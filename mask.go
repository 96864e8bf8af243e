package faxbridge

import "regexp"

var digitRun = regexp.MustCompile(`\+?[0-9][0-9 ().-]{5,}[0-9]`)

// MaskNumbers hides the middle of every phone-number-like run of digits in
// s ("+15551234567" becomes "+155*****67"), for logs kept where the numbers
// a practice faxes are not everyone's business. Enough is kept to tell
// countries and retries apart.
func MaskNumbers(s string) string {
	return digitRun.ReplaceAllStringFunc(s, func(m string) string {
		b := []byte(m)
		digits := 0
		for _, c := range b {
			if c >= '0' && c <= '9' {
				digits++
			}
		}
		seen := 0
		for i, c := range b {
			if c < '0' || c > '9' {
				continue
			}
			seen++
			if seen > 3 && seen <= digits-2 {
				b[i] = '*'
			}
		}
		return string(b)
	})
}
