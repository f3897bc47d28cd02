package drain

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// clients are the connections a stopping server finds: one that never sent
// a byte (a client's spare), one part way through its first request, one
// idle after a completed request, and one whose request is in the handler.
type clients struct {
	spare, partial, idle, busy net.Conn
	busyReader                 *bufio.Reader
}

// connect opens the four; entered reports the busy request's arrival in the
// handler, which then waits for the test.
func connect(t *testing.T, addr string, entered <-chan struct{}) clients {
	t.Helper()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var cs clients
	cs.spare = dial()
	cs.partial = dial()
	fmt.Fprintf(cs.partial, "GET /quick HTTP/1.1\r\nHost: x\r\n")
	cs.idle = dial()
	fmt.Fprintf(cs.idle, "GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(cs.idle), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cs.busy = dial()
	fmt.Fprintf(cs.busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	cs.busyReader = bufio.NewReader(cs.busy)
	<-entered
	return cs
}

// closedByServer waits for c to be closed by the server. The bound only
// turns a regression into a failure instead of a hang: a server without
// this package closes a spare connection after 5 s (net/http) or never
// (fasthttp); with it, at once.
func closedByServer(t *testing.T, name string, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(4 * time.Second))
	_, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s connection still open after the server began to stop", name)
		c.Close() // so that the stop can complete and the test report
	}
}

// finishes releases the busy request and checks its answer arrives whole.
func finishes(t *testing.T, cs clients, release chan<- struct{}) {
	t.Helper()
	close(release)
	resp, err := http.ReadResponse(cs.busyReader, nil)
	if err != nil {
		t.Fatalf("the request in flight was cut off: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(body) != "slow" {
		t.Fatalf("in-flight answer: %d %q %v", resp.StatusCode, body, err)
	}
}

// stopWithClients serves on a loopback port, opens the clients, stops the
// server with shutdown, and checks what each client sees: the unused and
// idle connections closed while the busy request is still held, then that
// request answered in full and the stop complete.
func stopWithClients(t *testing.T, serve func(net.Listener) error, shutdown func() error, entered <-chan struct{}, release chan<- struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go serve(ln)
	cs := connect(t, ln.Addr().String(), entered)
	stopped := make(chan error, 1)
	go func() { stopped <- shutdown() }()
	closedByServer(t, "spare", cs.spare)
	closedByServer(t, "partial", cs.partial)
	closedByServer(t, "idle", cs.idle)
	finishes(t, cs, release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func TestHTTPClosesUnusedConnectionsOnShutdown(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var hooked atomic.Int32
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				close(entered)
				<-release
			}
			io.WriteString(w, r.URL.Path[1:])
		}),
		ConnState: func(net.Conn, http.ConnState) { hooked.Add(1) }, // a hook already set keeps running
	}
	HTTP(srv)
	stopWithClients(t, srv.Serve, func() error { return srv.Shutdown(context.Background()) }, entered, release)
	if hooked.Load() == 0 {
		t.Fatal("the earlier ConnState hook was dropped")
	}
}

func TestFastHTTPClosesUnusedConnectionsWhenStopping(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	srv := &fasthttp.Server{
		Handler: func(rc *fasthttp.RequestCtx) {
			if string(rc.Path()) == "/slow" {
				close(entered)
				<-release
			}
			rc.SetBodyString(string(rc.Path()[1:]))
		},
		Logger: quiet{}, // as under fiber: closed connections are no news
	}
	stopping, stop := context.WithCancel(context.Background())
	FastHTTP(stopping, srv)
	// As Versity stops: the context ends, then the graceful shutdown.
	stopWithClients(t, srv.Serve, func() error {
		stop()
		return srv.ShutdownWithContext(context.Background())
	}, entered, release)
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
