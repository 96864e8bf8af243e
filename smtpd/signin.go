package smtpd

import (
	"errors"
	"net/netip"

	"github.com/faxbridge/faxbridge"
)

// SignIn checks a user name and password for another transport (the web
// console) under the same lockouts as SMTP AUTH: its failures count toward
// them and a locked-out address or user is refused before the password is
// checked. It returns nil, EUnauthorized for a wrong name or password, or
// ELimit with the time to wait during a lockout.
func (s *Server) SignIn(remote netip.Addr, name, password, via string) error {
	attrs := []any{"remote_addr", remote.String(), "user", logName(name), "via", via}
	_, err := s.authenticate(remote, name, password, attrs)
	var lo *lockedOut
	if errors.As(err, &lo) {
		return faxbridge.WrapError(faxbridge.ELimit, err, "too many failed sign-ins; try again in %s", waitText(lo.wait))
	}
	return err
}
