package faxbridge

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// jobIDEncoding is base32 with the extended hex alphabet, 0-9 then a-v,
// whose order is the order of the bytes it encodes.
var jobIDEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// NewID returns a random 26-character identifier (128 bits, lowercase base32)
// for things that must be unguessable and must not reveal the sender, number
// or file name, such as tokens in URLs the provider calls.
func NewID() string {
	var b [16]byte
	randomFill(b[:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// NewJobID returns the identifier of a job created at now: 36 characters of
// lowercase base32 (extended hex alphabet), 48 bits of Unix milliseconds and
// then 128 random bits. Job IDs sort in the order jobs were created.
//
// The time comes first for the database's sake. Random IDs put each new job
// on a random page of every index keyed by job (the jobs themselves, the
// search index's keys, fax SIDs by job): on a database of a million jobs
// every commit dirtied pages that the page cache seldom held and that each
// checkpoint then copied, so accepting mail cost more the older the
// database (an accept's p99 two to three times a fresh database's).
// Ordered, a new job's keys land beside the last job's, on the same few
// pages at any age, as with UUIDv7 or ULID. The random part keeps the ID,
// and the document key made from it, as unguessable as NewID's; what it
// adds to them is when the job was created.
func NewJobID(now time.Time) string {
	var b [22]byte
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(now.UnixMilli()))
	copy(b[:6], ms[2:])
	randomFill(b[6:])
	return strings.ToLower(jobIDEncoding.EncodeToString(b[:]))
}

func randomFill(b []byte) {
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics itself).
		panic(err)
	}
}
