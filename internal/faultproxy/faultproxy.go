// Package faultproxy is a TCP proxy for tests that need a target to stall on
// demand, which a real S3 or IAM server cannot be asked to do. While paused
// it forwards no bytes in either direction, on new and existing connections
// alike, so a job's call to the target hangs exactly where it is.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Proxy forwards connections from its own loopback address to a backend.
type Proxy struct {
	ln      net.Listener
	backend string

	mu     sync.Mutex
	paused bool
	resume chan struct{}
	// stalled is closed once traffic has stopped at the gate since the
	// last Pause.
	stalled chan struct{}
	conns   map[net.Conn]bool
	closed  bool
	wg      sync.WaitGroup
}

// New starts a proxy to backend ("host:port") on a free loopback port.
func New(backend string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, backend: backend, resume: make(chan struct{}), stalled: make(chan struct{}), conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's "host:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy as an http:// endpoint.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Pause stops all forwarding until Resume.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.paused {
		p.paused = true
		p.resume = make(chan struct{})
		p.stalled = make(chan struct{})
	}
}

// Stalled is closed once a connection or a transfer has stopped at the
// paused proxy, so a test knows its traffic is held rather than merely
// slow (it is never closed if nothing arrives). Each Pause starts anew.
func (p *Proxy) Stalled() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

// Resume lets traffic flow again.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		p.paused = false
		close(p.resume)
	}
}

// gate blocks while the proxy is paused; false means it was closed.
func (p *Proxy) gate() bool {
	p.mu.Lock()
	ch, paused, closed := p.resume, p.paused, p.closed
	if paused && !closed {
		select {
		case <-p.stalled:
		default:
			close(p.stalled)
		}
	}
	p.mu.Unlock()
	if closed {
		return false
	}
	if paused {
		<-ch
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closed
}

// Drop closes every connection the proxy carries, as a network that cut
// them would; it keeps accepting new ones (held while paused). A client
// then knows at once its streams are gone, and the server does too.
func (p *Proxy) Drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Close stops the proxy and drops every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	if p.paused {
		p.paused = false
		close(p.resume)
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.closed {
			return false
		}
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client, true) {
		client.Close()
		return
	}
	defer func() { p.track(client, false); client.Close() }()
	if !p.gate() {
		return
	}
	backend, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	if !p.track(backend, true) {
		backend.Close()
		return
	}
	defer func() { p.track(backend, false); backend.Close() }()
	done := make(chan struct{}, 2)
	go func() { p.pipe(backend, client); done <- struct{}{} }()
	go func() { p.pipe(client, backend); done <- struct{}{} }()
	<-done
}

func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}
			return
		}
	}
}
