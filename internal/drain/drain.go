// Package drain lets HTTP servers stop promptly: when a server stops, it
// closes the connections on which no request has begun, so that stopping
// waits only for the requests in flight.
//
// Both servers in the process wait for such connections. net/http's
// Shutdown closes idle keep-alive connections at once but treats one that
// has not sent its first request as busy for its first 5 seconds (Go issue
// 22682). fasthttp, under Versity's embedded S3 gateway and IAM API, treats
// it as busy until it closes, so Versity's stop ran into its 10 s timeout
// and printed "shutdown api server: context deadline exceeded". HTTP clients
// open such connections all the time: they dial ahead of need and pool the
// connections they did not use, and a client may be part way through
// sending a request when the server stops.
//
// A request whose headers arrive in the instant between the server reading
// them and marking its connection in use can be cut off too; its client sees
// the connection close, as with any server that stops.
package drain

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/valyala/fasthttp"
)

// HTTP makes srv close, on Shutdown, its connections that have not read a
// byte of a request yet (state StateNew). Call it before serving; it
// chains to a ConnState hook already set.
func HTTP(srv *http.Server) {
	u := newUnused()
	hook := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.accepted(c)
		} else {
			u.used(c)
		}
		if hook != nil {
			hook(c, s)
		}
	}
	srv.RegisterOnShutdown(u.closeAll)
}

// FastHTTP makes srv close, once ctx ends, its connections on which no
// request has reached the handler yet: fasthttp's own states cannot tell
// (a connection is "active" from the moment it is accepted), so the handler
// marks them. Call it before serving; it wraps srv.Handler and chains to a
// ConnState hook already set. Let ctx end when the server's shutdown starts.
func FastHTTP(ctx context.Context, srv *fasthttp.Server) {
	u := newUnused()
	handler, hook := srv.Handler, srv.ConnState
	srv.Handler = func(rc *fasthttp.RequestCtx) {
		if rc.ConnRequestNum() == 1 {
			u.used(rc.Conn())
		}
		handler(rc)
	}
	srv.ConnState = func(c net.Conn, s fasthttp.ConnState) {
		switch s {
		case fasthttp.StateNew:
			u.accepted(c)
		case fasthttp.StateClosed, fasthttp.StateHijacked:
			u.used(c)
		}
		if hook != nil {
			hook(c, s)
		}
	}
	context.AfterFunc(ctx, u.closeAll)
}

// unused is the set of a server's connections without a request yet.
type unused struct {
	mu       sync.Mutex
	stopping bool
	conns    map[net.Conn]struct{}
}

func newUnused() *unused { return &unused{conns: map[net.Conn]struct{}{}} }

func (u *unused) accepted(c net.Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopping {
		// Accepted between the stop and the listener closing.
		c.Close()
		return
	}
	u.conns[c] = struct{}{}
}

func (u *unused) used(c net.Conn) {
	u.mu.Lock()
	delete(u.conns, c)
	u.mu.Unlock()
}

func (u *unused) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopping = true
	for c := range u.conns {
		c.Close()
		delete(u.conns, c)
	}
}
