package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is a failure an HTTP proxy injects.
type Kind int

const (
	// None forwards requests untouched.
	None Kind = iota
	// Refuse closes the listening socket, so connections are refused.
	Refuse
	// Stall holds each request for Fault.Delay before forwarding it.
	Stall
	// Status answers with Fault.Status and an AWS XML error of Fault.Code
	// (e.g. 503 SlowDown, 400 Throttling, 500 InternalError).
	Status
	// Drop forwards the request, then cuts the connection after the
	// response headers and part of the body.
	Drop
)

// Fault says what to inject and for how many requests.
type Fault struct {
	Kind   Kind
	Delay  time.Duration // Stall
	Status int           // Status
	Code   string        // Status: the AWS error code in the body
	// Count is how many requests get the fault before it clears by itself;
	// 0 means until Clear. Refuse ignores it.
	Count int
}

// HTTP is a reverse proxy in front of an S3 or IAM endpoint that injects
// faults a real server cannot produce on demand. It keeps the client's Host
// header, so SigV4 signatures made for the proxy's address still verify.
type HTTP struct {
	addr    string
	backend *httputil.ReverseProxy

	mu    sync.Mutex
	fault Fault
	left  int
	// logging and log: see KeepLog.
	logging bool
	log     []*Request
	ln      net.Listener
	srv     *http.Server
	served  sync.WaitGroup
	// Injected counts requests that got a fault.
	Injected atomic.Int64
}

// NewHTTP starts a proxy to backend (an http:// URL) on a free loopback port.
func NewHTTP(backend string) (*HTTP, error) {
	u, err := url.Parse(backend)
	if err != nil {
		return nil, err
	}
	p := &HTTP{backend: httputil.NewSingleHostReverseProxy(u)}
	p.backend.ErrorLog = nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	return p, nil
}

// URL is the proxy's endpoint.
func (p *HTTP) URL() string { return "http://" + p.addr }

func (p *HTTP) serve(ln net.Listener) {
	p.ln = ln
	p.srv = &http.Server{Handler: http.HandlerFunc(p.handle), ReadHeaderTimeout: 10 * time.Second}
	p.served.Add(1)
	go func(srv *http.Server) {
		defer p.served.Done()
		_ = srv.Serve(ln)
	}(p.srv)
}

// Set injects f from now on.
func (p *HTTP) Set(f Fault) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.left = f, f.Count
	if f.Kind == Refuse && p.ln != nil {
		srv := p.srv
		p.ln, p.srv = nil, nil
		p.mu.Unlock()
		err := srv.Close()
		p.served.Wait()
		p.mu.Lock()
		return err
	}
	return nil
}

// Clear stops injecting; a refusing proxy listens again on its address.
func (p *HTTP) Clear() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = Fault{}
	if p.ln == nil {
		var ln net.Listener
		var err error
		for i := 0; i < 50; i++ { // the port was just released; take it back
			if ln, err = net.Listen("tcp", p.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("listen again on %s: %w", p.addr, err)
		}
		p.serve(ln)
	}
	return nil
}

// Close stops the proxy.
func (p *HTTP) Close() error {
	p.mu.Lock()
	srv := p.srv
	p.srv, p.ln = nil, nil
	p.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Close()
	p.served.Wait()
	return err
}

// take returns the fault for this request, counting it down.
func (p *HTTP) take() Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fault
	if f.Kind == None || f.Kind == Refuse {
		return Fault{}
	}
	if f.Count > 0 {
		p.left--
		if p.left <= 0 {
			p.fault = Fault{}
		}
	}
	p.Injected.Add(1)
	return f
}

func (p *HTTP) handle(w http.ResponseWriter, r *http.Request) {
	e := p.logged(r)
	if e != nil {
		w = &statusWriter{ResponseWriter: w, p: p, e: e}
		defer p.update(e, func(e *Request) { e.Done, e.End = true, time.Now() })
	}
	forward := func(w http.ResponseWriter) {
		p.update(e, func(e *Request) { e.Forwarded = true })
		p.backend.ServeHTTP(w, r)
	}
	switch f := p.take(); f.Kind {
	case Stall:
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
		forward(w)
	case Status:
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(f.Status)
		// IAM's answer is <ErrorResponse><Error><Code>; S3's is <Error><Code>,
		// and the S3 client reads Code and Message from whatever the root
		// element is. One body carries both, so either client reads the code.
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Type>Sender</Type><Code>%[1]s</Code><Message>%[2]s</Message></Error>`+
			`<Code>%[1]s</Code><Message>%[2]s</Message><RequestId>fault</RequestId></ErrorResponse>`, f.Code, "injected by the fault proxy")
	case Drop:
		forward(&dropWriter{ResponseWriter: w})
	default:
		forward(w)
	}
}

// dropWriter lets the headers and a few body bytes through, then kills the
// connection, as a network that fails mid-response would.
type dropWriter struct {
	http.ResponseWriter
	dropped bool
}

var errDropped = errors.New("connection dropped by the fault proxy")

func (d *dropWriter) WriteHeader(code int) {
	// A length the client will never see in full.
	d.ResponseWriter.Header().Set("Content-Length", "100000")
	d.ResponseWriter.WriteHeader(code)
}

func (d *dropWriter) Write(b []byte) (int, error) {
	if d.dropped {
		return 0, errDropped
	}
	n := min(len(b), 8)
	d.ResponseWriter.Write(b[:n])
	// Through the controller, which finds the connection under a logging
	// proxy's status writer too.
	rc := http.NewResponseController(d.ResponseWriter)
	_ = rc.Flush()
	if conn, _, err := rc.Hijack(); err == nil {
		conn.Close()
	}
	d.dropped = true
	return 0, errDropped
}
