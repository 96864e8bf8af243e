// Package storage keeps fax documents where the fax provider can fetch them:
// in an S3-compatible bucket (S3) or on local disk served by faxbridge's own
// HTTP server (Local). Both hand out URLs that work with a plain GET for a
// limited time and cannot be guessed or altered.
package storage

import (
	"time"

	"github.com/faxbridge/faxbridge"
)

// pdfType is what every URL serves: the fax provider only accepts documents
// it recognises by content type, and the pipeline only ever stores PDFs.
const pdfType = "application/pdf"

// validKey reports whether key is acceptable to both stores. Keys are
// generated (faxbridge.NewID), so the narrow alphabet costs nothing and rules
// out path traversal, hidden files and URL escaping in one place. Both stores
// apply it so a deployment can move between them without surprises.
func validKey(key string) bool {
	if key == "" || len(key) > 200 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func checkKey(key string) error {
	if !validKey(key) {
		return faxbridge.Errorf(faxbridge.EInvalid, "invalid document key")
	}
	return nil
}

// checkTTL rejects lifetimes that would produce a URL dead on arrival.
func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return faxbridge.Errorf(faxbridge.EInvalid, "document URL lifetime must be positive")
	}
	return nil
}

// ceilSeconds rounds d up to whole seconds: both stores express expiry in
// seconds, and rounding down would break "valid for at least ttl".
func ceilSeconds(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}

func unavailable(err error, format string, args ...any) error {
	return faxbridge.WrapError(faxbridge.EUnavailable, err, format, args...)
}
