package faxbridge

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error so that each protocol can translate it once, at its
// edge, without knowing where it came from.
type Code string

const (
	EInvalid      Code = "invalid"      // bad input; retrying the same input cannot help
	EBadAddress   Code = "bad_address"  // a recipient address that is not a usable fax number
	EBadContent   Code = "bad_content"  // a message with nothing that can be faxed
	EDenied       Code = "denied"       // not allowed: relaying, untrusted client, barred destination
	ETooLarge     Code = "too_large"    // over a configured size or page limit
	ELimit        Code = "limit"        // a temporary limit: too many recipients, sessions, quota
	EUnauthorized Code = "unauthorized" // credentials refused (by us or by the provider)
	ENotFound     Code = "not_found"    // no such job, fax or object
	EConflict     Code = "conflict"     // someone else changed the record first
	EUnavailable  Code = "unavailable"  // a dependency is down or busy; try again later
	EInternal     Code = "internal"     // a bug or an unexpected failure
)

// Error is a domain error. Message is written for the person at the other end
// (the sender, or an operator) and never carries internal detail; Err keeps
// the cause for logs.
type Error struct {
	Code    Code
	Message string
	Err     error
	// RetryAfter, when set on a temporary error, is how long the other side
	// asked us to wait (an HTTP Retry-After).
	RetryAfter time.Duration
}

// ErrAccount marks a provider refusal of our account rather than of the
// fax: credentials rotated or lacking a scope, or a balance run dry. An
// operator fixes it; the faxes wait for that (until they give up) instead of
// failing.
var ErrAccount = errors.New("the fax provider refused this gateway's account")

// ErrFaxTaken marks a job store's refusal to record a fax SID that another
// job already recorded: one fax can be only one job's.
var ErrFaxTaken = errors.New("the fax belongs to another job")

// ErrAmbiguous marks a failed call whose effect is unknown: the request may
// have reached the provider and been acted on (a timeout or reset after the
// request was written). Callers must reconcile before repeating it.
var ErrAmbiguous = errors.New("the outcome of the request is unknown")

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Message + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted, sender-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error that keeps err as its cause.
func WrapError(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for
// any other error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the sender-safe message of the first *Error in err's
// chain that has one, or a generic sentence.
func ErrorMessage(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			break
		}
		if e.Message != "" {
			return e.Message
		}
		err = e.Err
	}
	return "internal error"
}

// Temporary reports whether retrying later may succeed.
func Temporary(err error) bool {
	switch ErrorCode(err) {
	case EUnavailable, ELimit, EConflict, EInternal:
		return true
	}
	return false
}

// RetryAfter returns the wait a temporary error asked for, or zero.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
