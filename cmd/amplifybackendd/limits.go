package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/embedded"
)

// limits bound what one client can hold of the server: how long each
// listener waits on a connection, and how much memory request bodies may
// take in all. Without them a client that announces a body and stalls, or
// keeps connections idle, holds memory and sockets for as long as it likes.
type limits struct {
	// readHeader and idle apply to every listener; read and write to the
	// API and the embedded IAM endpoint, whose requests are small
	// documents; s3Read and s3Write to the embedded S3 endpoint, whose
	// bodies and answers are objects.
	readHeader, read, write, idle time.Duration
	s3Read, s3Write               time.Duration
	bodyBudget                    int64
	// maxConns bounds the connections the API listener, and the metrics
	// listener apart, hold at once.
	maxConns int
}

// DefaultMaxConnections is --max-connections' default, the embedded
// gateway's own bound on each of its listeners.
const DefaultMaxConnections = 4096

func (l *limits) register(fs *flag.FlagSet) {
	l.registerTimeouts(fs)
	fs.Int64Var(&l.bodyBudget, "request-body-budget", int64(envInt("request-body-budget", caller.DefaultBodyBudget)),
		"bytes of request bodies all API connections together may hold; past it calls get 429 (env "+envName("request-body-budget")+")")
	fs.IntVar(&l.maxConns, "max-connections", envInt("max-connections", DefaultMaxConnections),
		"most connections the API listener holds at once (and the metrics listener, apart); more wait to be accepted (env "+envName("max-connections")+")")
}

// registerTimeouts registers the listeners' timeouts alone: what the
// gateway command, which serves no API, takes of the limits.
func (l *limits) registerTimeouts(fs *flag.FlagSet) {
	dur := envFlags{fs}.dur
	dur(&l.readHeader, "read-header-timeout", embedded.DefaultIAMTimeouts.ReadHeader, "longest a request's headers may take to arrive, on every listener")
	dur(&l.read, "read-timeout", embedded.DefaultIAMTimeouts.Read, "longest a whole API or embedded IAM request may take to arrive")
	dur(&l.write, "write-timeout", embedded.DefaultIAMTimeouts.Write, "longest an API or embedded IAM request may take to be handled and answered")
	dur(&l.idle, "idle-timeout", embedded.DefaultIAMTimeouts.Idle, "longest a keep-alive connection may wait for its next request, on every listener")
	dur(&l.s3Read, "embedded-s3-read-timeout", embedded.DefaultS3Timeouts.Read, "longest an upload's body may take on the embedded S3 endpoint")
	dur(&l.s3Write, "embedded-s3-write-timeout", embedded.DefaultS3Timeouts.Write, "longest a download may take on the embedded S3 endpoint")
}

// validate refuses settings that would switch a bound off or make it
// unreachable.
func (l limits) validate() error {
	if err := l.validateTimeouts(); err != nil {
		return err
	}
	if l.maxConns < 1 {
		return fmt.Errorf("--max-connections must be at least 1, not %d", l.maxConns)
	}
	if l.bodyBudget < caller.MaxBodyBytes {
		return fmt.Errorf("--request-body-budget must be at least %d bytes (the largest request body), not %d", caller.MaxBodyBytes, l.bodyBudget)
	}
	return nil
}

// validateTimeouts is validate for the timeouts alone.
func (l limits) validateTimeouts() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"read-header-timeout", l.readHeader}, {"read-timeout", l.read}, {"write-timeout", l.write}, {"idle-timeout", l.idle},
		{"embedded-s3-read-timeout", l.s3Read}, {"embedded-s3-write-timeout", l.s3Write},
	} {
		if d.v <= 0 {
			return fmt.Errorf("--%s must be a positive duration, not %s", d.name, d.v)
		}
	}
	return nil
}

// maxHeaderBytes bounds a request's headers on the API (and metrics)
// listener. A signed call's are well under 2 KiB, a browser's with its
// cookies a few KiB more; net/http's default, 1 MiB, let each connection
// still sending its headers hold a megabyte (300 such took 235 MiB).
const maxHeaderBytes = 64 << 10

// apiServer is the API's HTTP server with the timeouts set.
func (l limits) apiServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.readHeader, ReadTimeout: l.read, WriteTimeout: l.write, IdleTimeout: l.idle,
		MaxHeaderBytes: maxHeaderBytes}
}

// embedded is the embedded gateway's timeouts, S3 and IAM.
func (l limits) embedded() (s3, iam embedded.Timeouts) {
	return embedded.Timeouts{ReadHeader: l.readHeader, Read: l.s3Read, Write: l.s3Write, Idle: l.idle},
		embedded.Timeouts{ReadHeader: l.readHeader, Read: l.read, Write: l.write, Idle: l.idle}
}

// limitConnections returns ln accepting at most n connections at a time:
// past that, Accept waits for one to close. Without it every connection a
// client opens (idle keep-alive ones last a minute) holds a file
// descriptor of the process, and a client opening tens of thousands left
// none for the store and the embedded gateway, whose S3 requests then
// failed; waiting clients wait in the kernel's backlog instead.
func limitConnections(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close also ends an Accept waiting for a slot, so a server stops even
// while every slot is taken.
func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitedConn gives its slot back once, however often it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
