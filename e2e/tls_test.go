package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/testcert"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestTLSAndCertificateReload serves the API and console over HTTPS with
// a certificate from a CA the client is given: signed calls verify (the
// signed host is the https one), the written config points clients at
// https:// with the CA bundle, and after the certificate is renewed and
// SIGHUP sent, new connections get the new certificate while a keep-alive
// connection opened before keeps working.
func TestTLSAndCertificateReload(t *testing.T) {
	t.Parallel()
	ca, certFile, keyFile := testcert.Serving(t, t.TempDir())
	s := testserver.Start(t, "--tls-cert", certFile, "--tls-key", keyFile, "--tls-ca-bundle", ca.File)
	if !strings.HasPrefix(s.API, "https://") {
		t.Fatalf("API on %s", s.API)
	}
	testserver.MustOK(t, s.Call("POST", "/s3Buckets", map[string]any{}))

	config, err := os.ReadFile(filepath.Join(s.DataDir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ca_bundle = " + ca.File, "endpoint_url = " + s.API} {
		if !strings.Contains(string(config), want) {
			t.Errorf("config lacks %q:\n%s", want, config)
		}
	}
	// The image's HEALTHCHECK: the ready command finds the server from the
	// server's own settings.
	ready := testserver.Command("ready")
	ready.Env = append(os.Environ(), "AMPLIFYBACKENDD_LISTEN="+strings.TrimPrefix(s.API, "https://"),
		"AMPLIFYBACKENDD_TLS_CERT="+certFile, "AMPLIFYBACKENDD_TLS_CA_BUNDLE="+ca.File)
	if out, err := ready.CombinedOutput(); err != nil {
		t.Errorf("ready command: %v: %s", err, out)
	}
	if _, err := http.Get(s.API + "/healthz"); err == nil {
		t.Error("a client without the CA trusted the certificate")
	}

	serial := func(c *http.Client, path string) int64 {
		t.Helper()
		resp, err := c.Get(s.API + path)
		if err != nil {
			t.Fatal(err)
		}
		// Read to the end, so the connection goes back to the pool.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	fresh := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	}
	kept := fresh()
	if n := serial(kept, "/console/"); n != 1 {
		t.Fatalf("console served certificate %d", n)
	}
	ca.Issue(t, 2, certFile, keyFile)
	s.Signal(syscall.SIGHUP)
	s.Until("renewed certificate not served", func() bool { return serial(fresh(), "/healthz") == 2 })
	if n := serial(kept, "/healthz"); n != 1 {
		t.Errorf("the keep-alive connection got certificate %d: it was replaced, not kept", n)
	}
	testserver.MustOK(t, s.Call("POST", "/s3Buckets", map[string]any{}))
}
