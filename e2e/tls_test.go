package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/testcert"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestTLSAndCertificateReload serves the API, the console and the embedded
// gateway over HTTPS with a certificate from a CA the client is given:
// signed calls verify (the signed host is the https one), a job provisions
// through the gateway's https endpoints, the written config points clients
// at https:// with the CA bundle, and after the certificate is renewed and
// SIGHUP sent, new connections to every listener get the new certificate
// while a keep-alive connection opened before keeps working.
func TestTLSAndCertificateReload(t *testing.T) {
	t.Parallel()
	ca, certFile, keyFile := testcert.Serving(t, t.TempDir())
	s := testserver.Start(t, "--tls-cert", certFile, "--tls-key", keyFile, "--tls-ca-bundle", ca.File)
	for _, u := range []string{s.API, s.S3, s.IAM} {
		if !strings.HasPrefix(u, "https://") {
			t.Fatalf("endpoint %s", u)
		}
	}
	testserver.MustOK(t, s.Call("POST", "/s3Buckets", map[string]any{}))
	created := testserver.MustOK(t, s.Call("POST", "/backend/tls/storage", map[string]any{
		"backendEnvironmentName": "dev", "resourceName": "secure",
		"resourceConfig": map[string]any{"bucketName": "tls-secure", "serviceName": "S3", "permissions": map[string]any{
			"authenticated": []string{"READ"}}},
	}))
	if j := s.WaitJob("tls", "dev", created.Str("jobId")); j.Str("status") != "COMPLETED" {
		t.Fatalf("create over the gateway's https endpoints: %s", j.Raw)
	}
	if _, err := s.S3Client().HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String("tls-secure")}); err != nil {
		t.Fatalf("the bucket through the https S3 endpoint: %v", err)
	}

	config, err := os.ReadFile(filepath.Join(s.DataDir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ca_bundle = " + ca.File, "endpoint_url = " + s.API, "endpoint_url = " + s.S3, "endpoint_url = " + s.IAM} {
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
	// A server given --tls-cert on its command line leaves nothing in the
	// environment: ready and backup take the CA bundle as a flag, and say
	// so when the system's CAs do not verify the server.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AMPLIFYBACKENDD_") {
			env = append(env, kv)
		}
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"ready", "--endpoint", s.API}, false},
		{[]string{"backup", "--endpoint", s.API, "--data-dir", s.DataDir, backup}, false},
		{[]string{"ready", "--endpoint", s.API, "--tls-ca-bundle", ca.File}, true},
		{[]string{"backup", "--endpoint", s.API, "--data-dir", s.DataDir, "--tls-ca-bundle", ca.File, backup}, true},
	} {
		cmd := testserver.Command(c.args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if c.ok && err != nil {
			t.Errorf("%v: %v: %s", c.args, err, out)
		}
		if !c.ok && (err == nil || !strings.Contains(string(out), "give --tls-ca-bundle")) {
			t.Errorf("%v without the CA bundle: %v: %s; want a refusal that names --tls-ca-bundle", c.args, err, out)
		}
	}
	if _, err := os.Stat(backup); err != nil {
		t.Errorf("the backup over https: %v", err)
	}

	serial := func(c *http.Client, url string) int64 {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		// Read to the end, so the connection goes back to the pool.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s: %d", url, resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	fresh := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}},
			// The gateway sends a browser at its root to Versity's site.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	kept := fresh()
	if n := serial(kept, s.API+"/console/"); n != 1 {
		t.Fatalf("console served certificate %d", n)
	}
	ca.Issue(t, 2, certFile, keyFile)
	s.Signal(syscall.SIGHUP)
	s.Until("renewed certificate not served", func() bool { return serial(fresh(), s.API+"/healthz") == 2 })
	if n := serial(kept, s.API+"/healthz"); n != 1 {
		t.Errorf("the keep-alive connection got certificate %d: it was replaced, not kept", n)
	}
	// The gateway's listeners were reloaded by the same signal (an
	// unsigned request is refused, over the new certificate).
	for _, u := range []string{s.S3 + "/", s.IAM + "/"} {
		if n := serial(fresh(), u); n != 2 {
			t.Errorf("%s served certificate %d after the reload, want 2", u, n)
		}
	}
	testserver.MustOK(t, s.Call("POST", "/s3Buckets", map[string]any{}))
}
