package faxbridge

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a random 26-character identifier (128 bits, lowercase base32).
// Job IDs and blob keys use it: they appear in URLs the provider fetches, so
// they must be unguessable and must not reveal the sender, number or file name.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics itself).
		panic(err)
	}
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}
