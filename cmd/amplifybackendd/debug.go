package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
)

// debugHandler serves Go's runtime profiles (net/http/pprof) on the debug
// listener (--debug-listen) and nothing else. It has a mux of its own, so
// the profiles are never on the API's port, where they would be reachable
// without a signature.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	// pprof's remote symbolization POSTs the addresses to look up.
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// debugServer has no read or write timeout: a CPU profile or a trace is
// answered only after the seconds it asks for, and net/http/pprof refuses
// a duration longer than the write timeout. The header and idle timeouts
// are every listener's.
func debugServer(l limits) *http.Server {
	return &http.Server{Handler: debugHandler(), ReadHeaderTimeout: l.readHeader, IdleTimeout: l.idle}
}

// checkDebugListen refuses a debug address that is not a loopback one:
// the profiles are unsigned and tell a reader much about the process, so
// they are for someone on the machine, never for the network.
func checkDebugListen(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--debug-listen must be host:port, such as 127.0.0.1:6060, not %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--debug-listen must be a loopback address, such as 127.0.0.1:6060 or [::1]:6060, not %q: the profiles it serves are unsigned", addr)
	}
	return nil
}

// checkDebugBound refuses a debug listener bound anywhere but a loopback
// address: checkDebugListen lets the name localhost through, and what a
// name resolves to is the resolver's (a hosts file) to say.
func checkDebugBound(addr string, bound net.Addr) error {
	if tcp, ok := bound.(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--debug-listen %q was bound to %s, which is not a loopback address: the profiles it serves are unsigned", addr, bound)
}
