package faultproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxLoggedForm bounds the form body a logged request keeps: IAM's query
// API sends its parameters (Action, RoleName, PolicyDocument) that way, and
// its documents are a few KiB.
const maxLoggedForm = 1 << 20

// Request is one request an HTTP proxy took while keeping its log: enough
// to tell which S3 or IAM operation it was and what the target answered, so
// a test can count effects (two successful CreateBucket calls for one bucket
// mean a job ran twice) and attribute them to the client behind this proxy.
type Request struct {
	Method string
	// Path is the unescaped URL path: /bucket for S3's bucket operations.
	Path  string
	Query url.Values
	// Form holds the parameters of a form-encoded body (IAM's Action and
	// its arguments); nil for other bodies.
	Form url.Values
	// Forwarded is false while a Stall holds the request, and stays false
	// when an injected fault answered it or its client gave up first.
	Forwarded bool
	// Status is the answer's status code; 0 while in flight or when the
	// client gave up before any answer.
	Status int
	// Done is set once the proxy has finished with the request.
	Done bool
	// Start and End are when the proxy took the request and finished it.
	Start, End time.Time
}

// Bucket is the first segment of an S3 request's path: the bucket in
// path-style addressing.
func (r Request) Bucket() string {
	b, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
	return b
}

// KeepLog starts keeping a record of every request from now on; Requests
// reads it.
func (p *HTTP) KeepLog() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logging = true
}

// Requests returns a copy of the log, in the order the proxy took the
// requests.
func (p *HTTP) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Request, len(p.log))
	for i, r := range p.log {
		out[i] = *r
	}
	return out
}

// logged records r when the log is kept, reading a form body into the
// record and handing r on with an identical body. It returns the entry to
// complete (nil when no log is kept).
func (p *HTTP) logged(r *http.Request) *Request {
	p.mu.Lock()
	on := p.logging
	p.mu.Unlock()
	if !on {
		return nil
	}
	e := &Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Start: time.Now()}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxLoggedForm))
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err == nil {
			e.Form, _ = url.ParseQuery(string(body))
		}
	}
	p.mu.Lock()
	p.log = append(p.log, e)
	p.mu.Unlock()
	return e
}

// update changes a logged entry under the proxy's lock; e may be nil.
func (p *HTTP) update(e *Request, fn func(*Request)) {
	if e == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(e)
}

// statusWriter notes the status an answer was sent with.
type statusWriter struct {
	http.ResponseWriter
	p *HTTP
	e *Request
}

func (s *statusWriter) WriteHeader(code int) {
	s.p.update(s.e, func(e *Request) {
		if e.Status == 0 {
			e.Status = code
		}
	})
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.p.update(s.e, func(e *Request) {
		if e.Status == 0 {
			e.Status = http.StatusOK
		}
	})
	return s.ResponseWriter.Write(b)
}

// Flush keeps streaming answers streaming through the wrapper.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (Hijack for Drop).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
