package embedded

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Timeouts bounds how long one listener of the gateway waits on a client,
// so that connections which stall or idle are closed instead of held
// forever. A zero field takes the listener's default.
type Timeouts struct {
	// ReadHeader is how long a request's headers may take to arrive.
	ReadHeader time.Duration
	// Read is how long a request's body may take once its headers are in.
	Read time.Duration
	// Write is how long sending one answer may take.
	Write time.Duration
	// Idle is how long a keep-alive connection may wait for its next
	// request.
	Idle time.Duration
}

// DefaultS3Timeouts are the S3 endpoint's: bodies and answers are objects,
// up to 5 GiB in one PUT, which takes minutes on a slow link; the gateway
// streams them, so a slow transfer holds a connection, not memory.
var DefaultS3Timeouts = Timeouts{ReadHeader: 10 * time.Second, Read: 10 * time.Minute, Write: 10 * time.Minute, Idle: time.Minute}

// DefaultIAMTimeouts are the IAM endpoint's: its requests and answers are
// small documents, and Versity reads a body whole before handling it.
var DefaultIAMTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: time.Minute, Idle: time.Minute}

// or fills t's zero fields from def.
func (t Timeouts) or(def Timeouts) Timeouts {
	return Timeouts{ReadHeader: cmp.Or(t.ReadHeader, def.ReadHeader), Read: cmp.Or(t.Read, def.Read),
		Write: cmp.Or(t.Write, def.Write), Idle: cmp.Or(t.Idle, def.Idle)}
}

// validate refuses negative durations, which fasthttp would read as "none".
func (t Timeouts) validate(name string) error {
	if t.ReadHeader < 0 || t.Read < 0 || t.Write < 0 || t.Idle < 0 {
		return fmt.Errorf("embedded: %s timeouts must be positive, got %+v", name, t)
	}
	return nil
}

// apply sets t on srv before it serves. fasthttp has one ReadTimeout for a
// whole request; it is given the header bound, and HeaderReceived, which
// runs once the headers are in, moves the deadline to the body bound.
//
// A connection whose request did not arrive in time is closed without an
// answer, as net/http closes one: fasthttp answers it with a 500, unasked,
// on a connection a pooling client (Go's http.Transport dials one more
// than it uses) may take for its next request and read that 500 as the
// answer to it.
func (t Timeouts) apply(srv *fasthttp.Server) {
	srv.ReadTimeout = t.ReadHeader
	srv.WriteTimeout = t.Write
	srv.IdleTimeout = t.Idle
	body := fasthttp.RequestConfig{ReadTimeout: t.Read}
	if srv.StreamRequestBody && t.ReadHeader < t.Read {
		// A streaming server reads up to 8 KiB of the body before the
		// handler, and so before any signature or policy check, runs:
		// under the body bound an unsigned client that announced a body
		// and stalled held a connection for the whole of it (4,096 such
		// connections, 10 minutes each on the S3 endpoint, and every
		// other client got 503). That first piece gets the header bound;
		// the handler, once it runs, gives the rest the body bound.
		body.ReadTimeout = t.ReadHeader
		next, rest := srv.Handler, t.Read
		srv.Handler = func(ctx *fasthttp.RequestCtx) {
			_ = ctx.Conn().SetReadDeadline(time.Now().Add(rest))
			next(ctx)
		}
	}
	srv.HeaderReceived = func(*fasthttp.RequestHeader) fasthttp.RequestConfig { return body }
	answer := srv.ErrorHandler
	srv.ErrorHandler = func(ctx *fasthttp.RequestCtx, err error) {
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			// The answer fasthttp writes next fails on the closed
			// connection, and it drops that error.
			_ = ctx.Conn().Close()
			return
		}
		if answer != nil {
			answer(ctx, err)
			return
		}
		ctx.Error("Error when parsing request", fasthttp.StatusBadRequest)
	}
}
