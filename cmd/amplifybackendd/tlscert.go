package main

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// servingCert is the certificate the API (and the console on it) presents,
// read from --tls-cert and --tls-key. SIGHUP reloads it: each handshake
// takes the certificate current at that moment, so a renewed certificate
// is served on new connections while connections already established keep
// the one they were opened with, and none is dropped.
type servingCert struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// loadServingCert reads the pair, refusing a start on a missing or
// mismatched one rather than serving without TLS.
func loadServingCert(certFile, keyFile string) (*servingCert, error) {
	c := &servingCert{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the pair again. On failure the certificate served so far
// stays: a renewal caught half-written must not take the API down.
func (c *servingCert) reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s and --tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	return nil
}

// config is the server TLS configuration handing out the current certificate.
func (c *servingCert) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cert.Load(), nil
		},
	}
}
