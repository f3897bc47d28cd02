package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/testcert"
	"github.com/amplifybackendd/amplifybackendd/metrics"
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

// TestTLSReloadOnMetrics: a SIGHUP whose pair does not load kept the old
// certificate and said so only in the log; the metrics listener reported
// the keys' reload (a success) and nothing of the certificate, so a failed
// renewal showed first when the old certificate expired. It reports the
// certificate's reloads by outcome, whether the last one took, and when
// the certificate served now expires.
func TestTLSReloadOnMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, certFile, keyFile := testcert.Serving(t, dir)
	cert, err := loadServingCert(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := loadOrCreateCredentials(dir, profileAPI)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	m.ObserveTLS(cert.state)
	srv := httptest.NewServer(metricsHandler(m))
	t.Cleanup(srv.Close)
	hup := make(chan os.Signal)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go reloadOnHangup(ctx, hup, newAPIKeys(cf), cert.reloader(), slog.New(slog.DiscardHandler))
	// hangUp sends SIGHUP and waits until the metrics hold lines.
	hangUp := func(lines ...string) {
		t.Helper()
		hup <- syscall.SIGHUP
		var body string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			var code int
			if code, body = httpCall(t, "GET", srv.URL+"/metrics"); code != 200 {
				t.Fatalf("GET /metrics: %d", code)
			}
			missing := false
			for _, l := range lines {
				missing = missing || !strings.Contains(body, "\n"+l+"\n")
			}
			if !missing {
				return
			}
		}
		t.Fatalf("want lines %q in:\n%s", lines, body)
	}
	expiry := fmt.Sprintf("amplifybackendd_tls_certificate_expiry_timestamp_seconds %g", float64(cert.cert.Load().Leaf.NotAfter.Unix()))

	if err := os.WriteFile(keyFile, []byte("half a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	hangUp(`amplifybackendd_tls_reloads_total{result="failure"} 1`, "amplifybackendd_tls_last_reload_successful 0", expiry)

	ca.Issue(t, 2, certFile, keyFile)
	hangUp(`amplifybackendd_tls_reloads_total{result="success"} 1`, "amplifybackendd_tls_last_reload_successful 1")
	if s := cert.cert.Load().Leaf.SerialNumber.Int64(); s != 2 {
		t.Fatalf("serving serial %d after the reload, want 2", s)
	}
}
