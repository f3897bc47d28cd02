package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
