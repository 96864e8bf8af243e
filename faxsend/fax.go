package faxsend

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
)

// fax is the fax resource as SignalWire returns it. Every field is read
// leniently: the documentation and the servers disagree on types and
// nullability, and a field we cannot read must not lose us the SID.
type fax struct {
	SID              text  `json:"sid"`
	Status           text  `json:"status"`
	To               text  `json:"to"`
	From             text  `json:"from"`
	Direction        text  `json:"direction"`
	MediaURL         text  `json:"media_url"`
	OriginalMediaURL text  `json:"original_media_url"`
	NumPages         text  `json:"num_pages"`
	Duration         text  `json:"duration"`
	ErrorCode        text  `json:"error_code"`
	ErrorMessage     text  `json:"error_message"`
	RemoteStationID  text  `json:"remote_station_id"`
	Created          stamp `json:"date_created"`
}

// list is one page of the Faxes list.
type list struct {
	Faxes       []fax `json:"faxes"`
	NextPageURI text  `json:"next_page_uri"`
	// Twilio-style servers put paging under meta; accept either.
	Meta struct {
		NextPageURL text `json:"next_page_url"`
	} `json:"meta"`
}

func (f fax) status() faxbridge.FaxStatus {
	st := faxbridge.FaxStatus{
		SID:             f.SID.s,
		Status:          f.Status.s,
		To:              f.To.s,
		MediaURL:        f.MediaURL.s,
		Pages:           count(f.NumPages.s),
		Duration:        count(f.Duration.s),
		RemoteStationID: f.RemoteStationID.s,
		ErrorCode:       f.ErrorCode.s,
		ErrorMessage:    f.ErrorMessage.s,
		CreatedAt:       f.Created.Time,
		From:            f.From.s,
		Direction:       faxbridge.Direction(f.Direction.s),
	}
	if st.MediaURL == "" {
		st.MediaURL = f.OriginalMediaURL.s
	}
	st.Reason = Reason(st.Status, st.ErrorCode, st.ErrorMessage)
	return st
}

// text is a JSON value read as a string: a string as is, a number in its
// literal form, a boolean as true/false, null or anything else as "".
type text struct{ s string }

func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	t.s = ""
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		t.s = s
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || bytes.Equal(b, []byte("true")) || bytes.Equal(b, []byte("false")):
		t.s = string(b)
	}
	// Objects and arrays where a scalar belongs are ignored, not fatal.
	return nil
}

// count reads a non-negative whole number such as "2", "2.0" or 2; anything
// else is 0.
func count(s string) int {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	if n, err := strconv.Atoi(s); err == nil {
		return max(n, 0)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > math.MaxInt32 {
		return 0
	}
	return int(math.Round(f))
}

// stamp is a date as SignalWire writes it: RFC 1123 with a numeric zone in
// the LaML API ("Mon, 02 Jan 2006 15:04:05 +0000"), RFC 3339 elsewhere. An
// unreadable date is the zero time.
type stamp struct{ time.Time }

func (d *stamp) UnmarshalJSON(b []byte) error {
	var t text
	if err := t.UnmarshalJSON(b); err != nil {
		return nil
	}
	d.Time = parseStamp(t.s)
	return nil
}

func parseStamp(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC1123Z, time.RFC1123, time.RFC3339Nano, time.DateTime} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
