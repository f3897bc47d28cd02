package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/amplifybackendd/amplifybackendd/handlers"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestKeyRotationWithoutRestart adds a second key, reloads with SIGHUP,
// retires the first, reloads again: each step takes effect at once. Each
// reload is awaited through what it changes (a key accepted or refused);
// the broken file changes no key, so that one is awaited through the reload
// the server counts on its metrics listener.
func TestKeyRotationWithoutRestart(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, "--log-level", "debug", "--metrics-listen", "127.0.0.1:0")
	old := s.APICreds
	next := aws.Credentials{AccessKeyID: "AKABNEXTKEY000000001", SecretAccessKey: "next-secret-0123456789012345678901234567"}
	path := filepath.Join(s.DataDir, "credentials")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	list := func(c aws.Credentials) int { return s.CallAs(c, "POST", "/s3Buckets", map[string]any{}).Status }
	// reload writes the file, signals, and waits until done says the
	// reload happened.
	reload := func(body, what string, done func() bool) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		s.Signal(syscall.SIGHUP)
		s.Until(what, done)
	}
	if list(next) != 403 {
		t.Fatal("unknown key accepted")
	}
	both := string(raw) + "\n[next]\naws_access_key_id = " + next.AccessKeyID + "\naws_secret_access_key = " + next.SecretAccessKey + "\n"
	reload(both, "new key still refused", func() bool { return list(next) == 200 })
	if list(old) != 200 {
		t.Fatalf("during rotation: old=%d", list(old))
	}
	retired := strings.Replace(both, old.AccessKeyID, "AKABRETIRED000000000", 1)
	reload(retired, "retired key still accepted", func() bool { return list(old) == 403 })
	if list(next) != 200 {
		t.Fatalf("after retiring: next=%d", list(next))
	}
	// A broken file keeps the keys that work.
	const failed = `amplifybackendd_api_keys_reloads_total{result="failure"}`
	if n := s.Metric(failed); n != 0 {
		t.Fatalf("%v failed reloads counted before the broken file", n)
	}
	reload("[default]\naws_access_key_id = x\n", "no failed reload counted", func() bool { return s.Metric(failed) == 1 })
	if list(next) != 200 || list(old) != 403 {
		t.Fatalf("after a broken credentials file: next=%d old=%d", list(next), list(old))
	}
	if ok := s.Metric("amplifybackendd_api_keys_last_reload_successful"); ok != 0 {
		t.Fatalf("the failed reload reported as successful: %v", ok)
	}
	if ok := s.Metric(`amplifybackendd_api_keys_reloads_total{result="success"}`); ok != 2 {
		t.Fatalf("%v successful reloads counted, want 2", ok)
	}
	// Secrets never reach the log, whatever happened above. Stopped first,
	// the server's stderr is read to the end.
	s.Stop()
	logs := s.Logs.String()
	for _, secret := range []string{old.SecretAccessKey, next.SecretAccessKey, s.S3Creds.SecretAccessKey} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret appears in the log")
		}
	}
}

// TestEveryRouteNeedsASignature sends every API route unsigned, and signed
// for another service's scope.
func TestEveryRouteNeedsASignature(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	for _, r := range handlers.Routes() {
		path := r.Path
		for _, p := range []string{":appId", ":backendEnvironmentName", ":jobId"} {
			path = strings.ReplaceAll(path, p, "x")
		}
		req := s.NewRequest(r.Method, path, []byte("{}"))
		testserver.WantError(t, testserver.Do(t, req), 403, "MissingAuthenticationTokenException", "")
		req = s.NewRequest(r.Method, path, []byte("{}"))
		testserver.Sign(t, req, []byte("{}"), s.APICreds, time.Now())
		req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "/amplifybackend/", "/s3/", 1))
		resp := testserver.Do(t, req)
		if resp.Status != http.StatusForbidden || resp.Str("__type") != "InvalidSignatureException" {
			t.Fatalf("%s %s signed for s3: %d %s", r.Method, path, resp.Status, resp.Raw)
		}
	}
}
