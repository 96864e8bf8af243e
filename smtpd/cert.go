package smtpd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
)

// Certificate is a TLS certificate and key read from two PEM files. Reload
// reads them again and swaps the pair atomically, so certificates renewed by
// an ACME client take effect on SIGHUP without dropping sessions: each new
// handshake sees the newest pair, and a failed reload keeps the old one.
type Certificate struct {
	certFile, keyFile string
	pair              atomic.Pointer[tls.Certificate]
}

// LoadCertificate reads the pair for the first time.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On error the certificate in use stays.
func (c *Certificate) Reload() error {
	// The error of LoadX509KeyPair names what is wrong (no PEM data, a key
	// that does not match) without quoting the key.
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s with key %s: %w", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("parse TLS certificate %s: %w", c.certFile, err)
		}
	}
	c.pair.Store(&pair)
	return nil
}

// Leaf is the certificate in use, for logging its names and expiry.
func (c *Certificate) Leaf() *x509.Certificate { return c.pair.Load().Leaf }

// GetCertificate is for tls.Config.GetCertificate.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if p := c.pair.Load(); p != nil {
		return p, nil
	}
	return nil, errors.New("no TLS certificate loaded")
}

// TLSConfig returns a server configuration that always serves the current
// pair. minVersion 0 means TLS 1.2; old scanners may need tls.VersionTLS10.
func (c *Certificate) TLSConfig(minVersion uint16) *tls.Config {
	if minVersion == 0 {
		minVersion = tls.VersionTLS12
	}
	return &tls.Config{MinVersion: minVersion, GetCertificate: c.GetCertificate}
}
