package smtpd

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/faxbridge/faxbridge"
)

// Console sign-ins and SMTP AUTH share one lockout: failures in either
// count toward it, and a lockout earned in one holds in the other.
func TestSignInSharesLockout(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	lan := Listener{Name: "lan", Auth: AuthRequired, InsecureAuth: true}
	as := startAuth(t, Config{AuthMaxFailures: 3, AuthUserMaxFailures: 6, AuthLockout: 15 * time.Minute, Now: clock.Now}, &fakeBackend{}, lan)
	guesser := netip.MustParseAddr("127.0.0.2")

	if err := as.srv.SignIn(guesser, "alice", "alice-secret", "console"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := as.srv.SignIn(guesser, "alice", "nope", "console"); faxbridge.ErrorCode(err) != faxbridge.EUnauthorized {
			t.Fatalf("wrong password %d: %v, want unauthorized", i+1, err)
		}
	}
	// The third failure comes over SMTP and locks the address out of both.
	c := dial(t, as, "lan", "127.0.0.2")
	if se := smtpErr(t, c.Auth(sasl.NewPlainClient("", "alice", "nope"))); se.Code != 535 {
		t.Fatalf("SMTP failure: %d %q", se.Code, se.Message)
	}
	err := as.srv.SignIn(guesser, "alice", "alice-secret", "console")
	if faxbridge.ErrorCode(err) != faxbridge.ELimit || !strings.Contains(faxbridge.ErrorMessage(err), "15 minutes") {
		t.Fatalf("sign-in while locked out: %v, want a limit with the wait", err)
	}
	// Unknown names cost the same and are refused the same way.
	if err := as.srv.SignIn(netip.MustParseAddr("127.0.0.9"), "mallory", "x", "console"); faxbridge.ErrorCode(err) != faxbridge.EUnauthorized {
		t.Fatalf("unknown user: %v", err)
	}
	clock.Add(16 * time.Minute)
	if err := as.srv.SignIn(guesser, "alice", "alice-secret", "console"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
}
