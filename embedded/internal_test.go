package embedded

import (
	"net"
	"strings"
	"testing"
)

func TestPrivateSocket(t *testing.T) {
	t.Parallel()
	short, err := privateSocket("/var/lib/amplifybackendd/embedded")
	if err != nil || short != "/var/lib/amplifybackendd/embedded/iam.sock" {
		t.Errorf("privateSocket(short dir) = %q, %v", short, err)
	}
	long, err := privateSocket("/" + strings.Repeat("d", 120))
	if err != nil || !strings.HasPrefix(long, "@amplifybackendd-iam-") {
		t.Errorf("privateSocket(long dir) = %q, %v; want an abstract socket", long, err)
	}

	// The abstract fallback really listens and dials on Linux.
	l, err := net.Listen("unix", long)
	if err != nil {
		t.Fatalf("listen on %s: %v", long, err)
	}
	defer l.Close()
	c, err := net.Dial("unix", long)
	if err != nil {
		t.Fatalf("dial %s: %v", long, err)
	}
	c.Close()
}

func TestEndpointURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"127.0.0.1:9000": "http://127.0.0.1:9000",
		":9000":          "http://127.0.0.1:9000",
		"0.0.0.0:9000":   "http://127.0.0.1:9000",
		"[::]:9000":      "http://[::1]:9000",
		"localhost:9000": "http://localhost:9000",
	} {
		if got := endpointURL(in); got != want {
			t.Errorf("endpointURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolvePort(t *testing.T) {
	t.Parallel()
	addr, picked, err := resolvePort("127.0.0.1:0")
	if err != nil || !picked || strings.HasSuffix(addr, ":0") || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("resolvePort(127.0.0.1:0) = %q, %v, %v", addr, picked, err)
	}
	addr, picked, err = resolvePort("127.0.0.1:9000")
	if err != nil || picked || addr != "127.0.0.1:9000" {
		t.Errorf("resolvePort(127.0.0.1:9000) = %q, %v, %v", addr, picked, err)
	}
	// ":0" keeps the empty host (all interfaces) and gets a port.
	addr, picked, err = resolvePort(":0")
	if err != nil || !picked || !strings.HasPrefix(addr, ":") || addr == ":0" {
		t.Errorf("resolvePort(:0) = %q, %v, %v", addr, picked, err)
	}
}
