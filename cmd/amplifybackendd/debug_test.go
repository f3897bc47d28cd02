package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestDebugListenIsLoopbackOnly: the unsigned profiles are served only on
// an address of this machine; any other is refused naming the flag and
// the rule, before anything is bound.
func TestDebugListenIsLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"127.0.0.1:6060", "[::1]:0", "localhost:6060", "127.0.0.2:0"} {
		if c, err := parseConfig([]string{"--debug-listen", ok}); err != nil || c.debugListen != ok {
			t.Errorf("--debug-listen %s: %v", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:6060", ":6060", "10.0.0.1:6060", "[::]:6060", "example.com:6060", "6060"} {
		_, err := parseConfig([]string{"--debug-listen", bad})
		if err == nil || !strings.Contains(err.Error(), "--debug-listen must be") {
			t.Errorf("--debug-listen %q: %v, want a refusal naming the flag", bad, err)
		}
	}
	if c, err := parseConfig(nil); err != nil || c.debugListen != "" {
		t.Fatalf("default: %q, %v; want no debug listener", c.debugListen, err)
	}
}

// TestDebugHandlerServesProfilesOnly: the debug listener answers the
// runtime's profiles and nothing else.
func TestDebugHandlerServesProfilesOnly(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(debugHandler())
	t.Cleanup(srv.Close)
	get := func(method, path string) (int, string) {
		t.Helper()
		return httpCall(t, method, srv.URL+path)
	}
	if code, body := get("GET", "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("GET /debug/pprof/: %d %.200s", code, body)
	}
	if code, body := get("GET", "/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Fatalf("GET /debug/pprof/heap: %d %.200s", code, body)
	}
	if code, _ := get("GET", "/"); code != 404 {
		t.Fatalf("GET /: %d, want 404", code)
	}
	if code, _ := get("POST", "/debug/pprof/profile"); code != 405 {
		t.Fatalf("POST /debug/pprof/profile: %d, want 405", code)
	}
	// pprof looks symbols up by POSTing addresses (its remote symbolization
	// protocol); GET only says whether the lookup is served.
	if code, body := get("POST", "/debug/pprof/symbol"); code != 200 || !strings.Contains(body, "num_symbols") {
		t.Fatalf("POST /debug/pprof/symbol: %d %.200s", code, body)
	}
}

// TestDebugServerTakesListenerTimeouts: --read-header-timeout and
// --idle-timeout apply to every listener, the debug one included.
func TestDebugServerTakesListenerTimeouts(t *testing.T) {
	t.Parallel()
	c, err := parseConfig([]string{"--read-header-timeout", "3s", "--idle-timeout", "7s"})
	if err != nil {
		t.Fatal(err)
	}
	srv := debugServer(c.limits)
	if srv.ReadHeaderTimeout != 3*time.Second || srv.IdleTimeout != 7*time.Second {
		t.Fatalf("debug server read-header %s, idle %s; want 3s and 7s", srv.ReadHeaderTimeout, srv.IdleTimeout)
	}
	if srv.ReadTimeout != 0 || srv.WriteTimeout != 0 {
		t.Fatalf("debug server read %s, write %s; want none, so a profile may take its seconds", srv.ReadTimeout, srv.WriteTimeout)
	}
}

// TestDebugListenerBoundToLoopback: a name the flag's check lets through
// (localhost) is held to what it was bound to, so a resolver mapping it
// elsewhere cannot put the profiles on the network.
func TestDebugListenerBoundToLoopback(t *testing.T) {
	t.Parallel()
	for _, ok := range []net.Addr{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6060}, &net.TCPAddr{IP: net.IPv6loopback, Port: 6060}} {
		if err := checkDebugBound("localhost:6060", ok); err != nil {
			t.Errorf("bound to %s: %v", ok, err)
		}
	}
	for _, bad := range []net.Addr{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 6060}, &net.TCPAddr{IP: net.IPv6unspecified, Port: 6060}} {
		err := checkDebugBound("localhost:6060", bad)
		if err == nil || !strings.Contains(err.Error(), "--debug-listen") || !strings.Contains(err.Error(), bad.String()) {
			t.Errorf("bound to %s: %v, want a refusal naming the flag and the address", bad, err)
		}
	}
}

// httpCall makes one request with no body and returns the status and body.
func httpCall(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
