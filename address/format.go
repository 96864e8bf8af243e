package address

import "github.com/nyaruka/phonenumbers"

// Format writes an E.164 number the way people read it ("+1 555-123-4567",
// "+49 30 123456"); anything else (a SIP URI) comes back unchanged.
func Format(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return e164
	}
	return phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
}
