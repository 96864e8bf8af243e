package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/faxbridge/faxbridge"
)

// Sender-safe messages. They name the job database, never a query or a path.
const (
	msgBusy        = "the job database is busy"
	msgFull        = "the job database is out of space"
	msgUnavailable = "the job database is unavailable"
	msgTimeout     = "the job database did not answer in time"
	msgNotFound    = "no such job"
	msgExists      = "a job with this ID already exists"
	msgInternal    = "the job database failed"
)

// fail translates err into a *faxbridge.Error at the package edge, keeping
// err as the cause. An error that already carries a code keeps it.
func (db *DB) fail(err error) error {
	if err == nil {
		return nil
	}
	var fe *faxbridge.Error
	if errors.As(err, &fe) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return faxbridge.WrapError(faxbridge.ENotFound, err, msgNotFound)
	}
	if code, msg, ok := db.d.classify(err); ok {
		return faxbridge.WrapError(code, err, "%s", msg)
	}
	if code, msg, ok := classifyCommon(err); ok {
		return faxbridge.WrapError(code, err, "%s", msg)
	}
	return faxbridge.WrapError(faxbridge.EInternal, err, msgInternal)
}

// classifyCommon recognises the failures every driver shares: deadlines,
// cancellation and a broken connection.
func classifyCommon(err error) (faxbridge.Code, string, bool) {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return faxbridge.EUnavailable, msgTimeout, true
	case errors.Is(err, context.Canceled):
		return faxbridge.EUnavailable, msgUnavailable, true
	case errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.As(err, &ne):
		return faxbridge.EUnavailable, msgUnavailable, true
	case errors.Is(err, syscall.ENOSPC):
		return faxbridge.EUnavailable, msgFull, true
	}
	return "", "", false
}
