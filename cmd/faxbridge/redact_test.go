package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/faxbridge/faxbridge"
)

// Job listings go to terminals and tickets: the signed document links (of
// the job and of every attempt) and SIP passwords never appear in them.
func TestRedactHidesCapabilities(t *testing.T) {
	j := &faxbridge.Job{
		MediaURL:    "https://gw.example/media/doc?sig=secret-1",
		Destination: faxbridge.Destination{To: "sip:desk@pbx.example", SipAuthPassword: "secret-2"},
		Attempts:    []faxbridge.Attempt{{Number: 1, MediaURL: "https://gw.example/media/doc?sig=secret-3"}},
	}
	redact(j)
	out, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "secret") {
		t.Errorf("redacted job still shows a secret: %s", out)
	}
}
