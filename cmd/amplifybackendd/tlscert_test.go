package main

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/testcert"
)

// TestTLSFlags: the pair is given whole or not at all, a CA bundle needs
// the pair, and the paths are made absolute (SIGHUP reads them after the
// working directory may have changed), the bundle defaulting to the cert.
func TestTLSFlags(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key must be given together"},
		{[]string{"--tls-key", "k.pem"}, "--tls-cert and --tls-key must be given together"},
		{[]string{"--tls-ca-bundle", "ca.pem"}, "--tls-ca-bundle needs --tls-cert and --tls-key"},
	} {
		if _, err := parseConfig(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	cfg, err := parseConfig([]string{"--tls-cert", "c.pem", "--tls-key", "k.pem"})
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if cfg.tlsCert != filepath.Join(wd, "c.pem") || cfg.tlsKey != filepath.Join(wd, "k.pem") || cfg.tlsCABundle != cfg.tlsCert {
		t.Errorf("paths: %q %q %q", cfg.tlsCert, cfg.tlsKey, cfg.tlsCABundle)
	}
}

// TestCLIConfigCABundle: with TLS on, profiles default and embedded-s3 get
// the https endpoints and ca_bundle; a later start without TLS takes
// ca_bundle out of both.
func TestCLIConfigCABundle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, err := writeCLIConfig(dir, "us-east-1", clientEndpoints{API: "https://127.0.0.1:8443", CABundle: "/etc/ssl/ours.pem"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	want := "[default]\nregion = us-east-1\nservices = amplifybackendd\nca_bundle = /etc/ssl/ours.pem\n\n[services amplifybackendd]\namplifybackend =\n  endpoint_url = https://127.0.0.1:8443\n"
	if !strings.HasSuffix(string(raw), "\n\n"+want) {
		t.Fatalf("config:\n%s\nwant it to end with:\n%s", raw, want)
	}
	// The embedded gateway serves the same certificate: its profile is
	// given the bundle too.
	tlsEndpoints := clientEndpoints{API: "https://127.0.0.1:8443", S3: "https://127.0.0.1:9000", IAM: "https://127.0.0.1:9001", CABundle: "/etc/ssl/ours.pem"}
	if _, err := writeCLIConfig(dir, "us-east-1", tlsEndpoints); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(path)
	if want := "[profile embedded-s3]\nregion = us-east-1\nservices = amplifybackendd-embedded\nca_bundle = /etc/ssl/ours.pem\n"; !strings.Contains(string(raw), want) {
		t.Fatalf("config:\n%s\nwant it to hold:\n%s", raw, want)
	}
	if _, err := writeCLIConfig(dir, "us-east-1", testEndpoints); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(path); strings.Contains(string(raw), "ca_bundle") {
		t.Fatalf("ca_bundle left after TLS was turned off:\n%s", raw)
	}
}

// TestServingCertReload: a reloaded certificate is served on new
// connections, while a keep-alive connection opened before goes on with
// the certificate it was opened with; a pair that does not load leaves the
// current certificate served.
func TestServingCertReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, certFile, keyFile := testcert.Serving(t, dir)
	cert, err := loadServingCert(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		TLSConfig: cert.config()}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	url := "https://" + ln.Addr().String() + "/"
	newClient := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	}
	serial := func(c *http.Client) int64 {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
			t.Fatalf("body %q", b)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	kept := newClient()
	if s := serial(kept); s != 1 {
		t.Fatalf("first certificate: serial %d", s)
	}

	ca.Issue(t, 200, certFile, keyFile)
	if err := cert.reload(); err != nil {
		t.Fatal(err)
	}
	if s := serial(newClient()); s != 200 {
		t.Errorf("new connection after reload: serial %d, want 200", s)
	}
	if s := serial(kept); s != 1 {
		t.Errorf("keep-alive connection after reload: serial %d, want 1 (the connection was replaced)", s)
	}

	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cert.reload(); err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Errorf("reload of a broken pair: %v", err)
	}
	if s := serial(newClient()); s != 200 {
		t.Errorf("after a failed reload: serial %d, want 200", s)
	}
}
