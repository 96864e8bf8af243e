package smtpd

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Password hash algorithms accepted in the configuration and produced by
// HashPassword.
const (
	Bcrypt   = "bcrypt"
	Argon2id = "argon2id"
)

// bcryptCost is the work factor for new bcrypt hashes: about a quarter of a
// second on a small server, which a scanner logging in once per message does
// not notice and a password guesser does.
const bcryptCost = 12

// Parameters for new argon2id hashes (the OWASP minimum for argon2id). The
// memory is small on purpose: verifications run on the SMTP server, several
// at once, and a large memory cost per login would let a flood of AUTH
// attempts exhaust the machine.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Limits on argon2id parameters read from a configured hash, so that a
// pasted hash with an absurd cost cannot stall or exhaust the server.
const (
	maxArgonTime   = 16
	maxArgonMemory = 256 * 1024 // KiB
)

var errBadHash = errors.New("not a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$v=19$...) password hash")

// HashPassword returns a hash of password for a [[users]] entry, with alg
// Bcrypt or Argon2id.
func HashPassword(password, alg string) (string, error) {
	return hashPassword(password, alg, bcryptCost, argonTime, argonMemory)
}

// hashPassword takes the costs as arguments so that tests can make cheap
// hashes: the race detector slows bcrypt down twentyfold.
func hashPassword(password, alg string, cost int, argonT, argonM uint32) (string, error) {
	if password == "" {
		return "", errors.New("the password is empty")
	}
	switch alg {
	case Bcrypt, "":
		h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
		if errors.Is(err, bcrypt.ErrPasswordTooLong) {
			return "", errors.New("bcrypt uses only the first 72 bytes of a password; choose a shorter one or use argon2id")
		}
		if err != nil {
			return "", fmt.Errorf("bcrypt: %w", err)
		}
		return string(h), nil
	case Argon2id:
		salt := make([]byte, argonSaltLen)
		rand.Read(salt)
		key := argon2.IDKey([]byte(password), salt, argonT, argonM, argonThreads, argonKeyLen)
		enc := base64.RawStdEncoding
		return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonM, argonT, argonThreads,
			enc.EncodeToString(salt), enc.EncodeToString(key)), nil
	}
	return "", fmt.Errorf("unknown hash algorithm %q: use %s or %s", alg, Bcrypt, Argon2id)
}

// CheckPasswordHash reports whether hash is a password hash faxbridge can
// verify. Its error never repeats the hash.
func CheckPasswordHash(hash string) error {
	_, err := parsePasswordHash(hash)
	return err
}

// passwordHash is a parsed hash: either bcrypt or argon2id.
type passwordHash struct {
	bcrypt []byte

	salt, key    []byte
	time, memory uint32
	threads      uint8
}

func parsePasswordHash(s string) (passwordHash, error) {
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		if _, err := bcrypt.Cost([]byte(s)); err != nil || len(s) != 60 {
			return passwordHash{}, errBadHash
		}
		return passwordHash{bcrypt: []byte(s)}, nil
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	}
	return passwordHash{}, errBadHash
}

// parseArgon2id reads the PHC string format:
// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<key>, base64 without padding.
func parseArgon2id(s string) (passwordHash, error) {
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return passwordHash{}, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(f[2], "v=%d", &v); err != nil || v != argon2.Version {
		return passwordHash{}, fmt.Errorf("argon2id hash: only version %d is supported", argon2.Version)
	}
	var h passwordHash
	var threads uint32
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &threads); err != nil {
		return passwordHash{}, errBadHash
	}
	if h.time < 1 || h.time > maxArgonTime || h.memory < 8*threads || h.memory > maxArgonMemory || threads < 1 || threads > 255 {
		return passwordHash{}, fmt.Errorf("argon2id hash: parameters out of range (t 1-%d, m up to %d KiB, p 1-255)", maxArgonTime, maxArgonMemory)
	}
	h.threads = uint8(threads)
	var err error
	enc := base64.RawStdEncoding
	if h.salt, err = enc.DecodeString(f[4]); err != nil || len(h.salt) < 8 {
		return passwordHash{}, errBadHash
	}
	if h.key, err = enc.DecodeString(f[5]); err != nil || len(h.key) < 16 {
		return passwordHash{}, errBadHash
	}
	return h, nil
}

// verify reports whether password matches, in time independent of where
// the two differ.
func (h passwordHash) verify(password string) bool {
	if h.bcrypt != nil {
		return bcrypt.CompareHashAndPassword(h.bcrypt, []byte(password)) == nil
	}
	if h.key == nil {
		return false
	}
	got := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}
