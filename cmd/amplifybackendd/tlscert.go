package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/amplifybackendd/amplifybackendd/metrics"
)

// servingCert is the certificate the API (and the console on it) presents,
// read from --tls-cert and --tls-key. SIGHUP reloads it: each handshake
// takes the certificate current at that moment, so a renewed certificate
// is served on new connections while connections already established keep
// the one they were opened with, and none is dropped.
type servingCert struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
	// Reloads by outcome, and whether the last one failed, for the
	// metrics listener: a renewal that did not take is otherwise only a
	// log line, until the old certificate expires.
	reloaded, reloadFailed atomic.Uint64
	lastReloadFailed       atomic.Bool
}

// noteReload counts a reload of every listener's certificate that ended
// with err.
func (c *servingCert) noteReload(err error) {
	if err != nil {
		c.reloadFailed.Add(1)
		c.lastReloadFailed.Store(true)
		return
	}
	c.reloaded.Add(1)
	c.lastReloadFailed.Store(false)
}

// reloader returns what SIGHUP runs: reload the pair here and with
// others (the embedded gateway's listeners), counting the outcome.
func (c *servingCert) reloader(others ...func() error) func() error {
	return func() error {
		err := c.reload()
		for _, o := range others {
			err = errors.Join(err, o())
		}
		c.noteReload(err)
		return err
	}
}

// state is what the metrics listener reports of the certificate.
func (c *servingCert) state() metrics.TLSState {
	s := metrics.TLSState{Reloads: metrics.KeyReloads{Succeeded: c.reloaded.Load(), Failed: c.reloadFailed.Load(), LastFailed: c.lastReloadFailed.Load()}}
	if leaf := c.cert.Load().Leaf; leaf != nil {
		s.NotAfter = leaf.NotAfter
	}
	return s
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
