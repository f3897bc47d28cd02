package embedded

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
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
		if got := EndpointURL(in); got != want {
			t.Errorf("EndpointURL(%q) = %q, want %q", in, got, want)
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

// TestTimeouts checks defaults fill only what is unset, negative values are
// refused naming the listener, and apply gives fasthttp the header bound
// for the whole request until HeaderReceived moves it to the body bound.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	c, err := Config{Dir: "/x", AccessKey: "a", SecretKey: "b", S3Timeouts: Timeouts{Read: time.Hour}}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Timeouts{ReadHeader: 10 * time.Second, Read: time.Hour, Write: 10 * time.Minute, Idle: time.Minute}); c.S3Timeouts != want {
		t.Errorf("S3 timeouts %+v, want %+v", c.S3Timeouts, want)
	}
	if c.IAMTimeouts != DefaultIAMTimeouts {
		t.Errorf("IAM timeouts %+v, want the defaults %+v", c.IAMTimeouts, DefaultIAMTimeouts)
	}
	if _, err := (Config{Dir: "/x", AccessKey: "a", SecretKey: "b", IAMTimeouts: Timeouts{Idle: -time.Second}}).normalize(); err == nil ||
		!strings.Contains(err.Error(), "IAM timeouts must be positive") {
		t.Errorf("negative idle timeout: %v", err)
	}

	var srv fasthttp.Server
	Timeouts{ReadHeader: 1 * time.Second, Read: 2 * time.Second, Write: 3 * time.Second, Idle: 4 * time.Second}.apply(&srv)
	if srv.ReadTimeout != time.Second || srv.WriteTimeout != 3*time.Second || srv.IdleTimeout != 4*time.Second ||
		srv.HeaderReceived == nil || srv.HeaderReceived(nil).ReadTimeout != 2*time.Second {
		t.Errorf("applied: read %s, write %s, idle %s, body bound set %v", srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.HeaderReceived != nil)
	}
}

// TestLifecycleConfig checks zero takes the defaults and a negative length
// is refused before anything starts.
func TestLifecycleConfig(t *testing.T) {
	t.Parallel()
	c, err := Config{Dir: "/x", AccessKey: "a", SecretKey: "b"}.normalize()
	if err != nil || c.LifecycleDay != DefaultLifecycleDay || c.LifecycleSweep != DefaultLifecycleSweep || c.Logger == nil {
		t.Errorf("defaults: day %s, sweep %s, logger %v, %v", c.LifecycleDay, c.LifecycleSweep, c.Logger, err)
	}
	if _, err := (Config{Dir: "/x", AccessKey: "a", SecretKey: "b", LifecycleSweep: -time.Second}).normalize(); err == nil ||
		!strings.Contains(err.Error(), "LifecycleSweep") {
		t.Errorf("negative sweep interval: %v", err)
	}
}

// TestAbortRules checks which prefix each form of filter gives the sweeper,
// and that disabled rules and rules without the action are left out.
func TestAbortRules(t *testing.T) {
	t.Parallel()
	const abort = `<AbortIncompleteMultipartUpload><DaysAfterInitiation>%d</DaysAfterInitiation></AbortIncompleteMultipartUpload>`
	doc := `<LifecycleConfiguration>` +
		`<Rule><ID>old</ID><Prefix>legacy/</Prefix><Status>Enabled</Status>` + fmt.Sprintf(abort, 1) + `</Rule>` +
		`<Rule><ID>and</ID><Filter><And><Prefix>and/</Prefix><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status>` + fmt.Sprintf(abort, 2) + `</Rule>` +
		`<Rule><ID>all</ID><Filter></Filter><Status>Enabled</Status>` + fmt.Sprintf(abort, 3) + `</Rule>` +
		`<Rule><ID>off</ID><Filter><Prefix>off/</Prefix></Filter><Status>Disabled</Status>` + fmt.Sprintf(abort, 4) + `</Rule>` +
		`<Rule><ID>expire</ID><Filter><Prefix>x/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>5</Days></Expiration></Rule>` +
		`</LifecycleConfiguration>`
	got, err := abortRules([]byte(doc))
	want := []abortRule{{"legacy/", 1}, {"and/", 2}, {"", 3}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("abortRules = %+v, %v; want %+v", got, err, want)
	}
}
