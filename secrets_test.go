package faxbridge

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSIPPasswordNeverPrinted(t *testing.T) {
	d := Destination{To: "sip:fax@pbx.example.com", Contact: "office", SipAuthUsername: "faxuser", SipAuthPassword: "hunter2-sip"}
	j := &Job{ID: "j1", Destination: d}
	var texts []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		texts = append(texts, fmt.Sprintf(f, d), fmt.Sprintf(f, *j), fmt.Sprintf(f, j.Destination))
	}
	texts = append(texts, fmt.Sprintf("%+v", j))
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("job", "destination", d, "job_destination", j.Destination)
		texts = append(texts, b.String())
	}
	for _, s := range texts {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password printed: %s", s)
		}
	}
	if !strings.Contains(texts[0], "faxuser") || !strings.Contains(texts[0], "(set)") {
		t.Errorf("the destination should still say who and that a password is set: %s", texts[0])
	}
}
