package main

import (
	"flag"
	"fmt"
	"net/http"
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
}

func (l *limits) register(fs *flag.FlagSet) {
	l.registerTimeouts(fs)
	fs.Int64Var(&l.bodyBudget, "request-body-budget", int64(envInt("request-body-budget", caller.DefaultBodyBudget)),
		"bytes of request bodies all API connections together may hold; past it calls get 429 (env "+envName("request-body-budget")+")")
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

// apiServer is the API's HTTP server with the timeouts set.
func (l limits) apiServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.readHeader, ReadTimeout: l.read, WriteTimeout: l.write, IdleTimeout: l.idle}
}

// embedded is the embedded gateway's timeouts, S3 and IAM.
func (l limits) embedded() (s3, iam embedded.Timeouts) {
	return embedded.Timeouts{ReadHeader: l.readHeader, Read: l.s3Read, Write: l.s3Write, Idle: l.idle},
		embedded.Timeouts{ReadHeader: l.readHeader, Read: l.read, Write: l.write, Idle: l.idle}
}
