package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge/config"
)

// Two sessions of one sender under faxes_per_hour = 1 both pass the check
// at RCPT (nothing is used yet) and then send DATA at the same time: the
// quota is taken in the transaction that commits the jobs, so exactly one
// gets 250 and the other 452.
func TestParallelSessionsCannotPassOneQuota(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.SMTP.Networks = []config.Network{{Name: "scanners", CIDRs: []string{"127.0.0.0/8"}, SenderPolicy: config.SenderPolicy{FaxesPerHour: 1}}}
	})
	msg := message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	var clients []*smtp.Client
	for range 2 {
		c, err := smtp.Dial(h.smtp)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("a@example.com", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("15551234567@fax.example.com", nil); err != nil {
			t.Fatalf("RCPT before any commit: %v", err)
		}
		clients = append(clients, c)
	}
	results := make(chan error, 2)
	for _, c := range clients {
		go func() {
			w, err := c.Data()
			if err != nil {
				results <- err
				return
			}
			w.Write(msg)
			results <- w.Close()
		}()
	}
	var accepted, limited int
	for range 2 {
		err := <-results
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &se) && se.Code == 452 && strings.Contains(se.Message, "quota of 1 faxes per hour"):
			limited++
			if strings.Contains(se.Message, "network:") {
				t.Errorf("reply names an internal key: %q", se.Message)
			}
		default:
			t.Errorf("unexpected answer: %v", err)
		}
	}
	if accepted != 1 || limited != 1 {
		t.Errorf("%d accepted and %d refused for quota; want 1 and 1", accepted, limited)
	}
	h.waitReport()
	h.noMoreReports()
}
