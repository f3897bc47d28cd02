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
// retires the first, reloads again: each step takes effect at once.
func TestKeyRotationWithoutRestart(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, "--log-level", "debug")
	old := s.APICreds
	next := aws.Credentials{AccessKeyID: "AKABNEXTKEY000000001", SecretAccessKey: "next-secret-0123456789012345678901234567"}
	path := filepath.Join(s.DataDir, "credentials")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	list := func(c aws.Credentials) int { return s.CallAs(c, "POST", "/s3Buckets", map[string]any{}).Status }
	// reload writes the file, signals, and waits for the server to log one
	// more outcome line ("reloaded" or "not reloaded").
	reload := func(body, outcome string) {
		t.Helper()
		before := strings.Count(s.Logs.String(), outcome)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		s.Signal(syscall.SIGHUP)
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(s.Logs.String(), outcome) == before {
			if time.Now().After(deadline) {
				t.Fatalf("no %q logged:\n%s", outcome, s.Logs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if list(next) != 403 {
		t.Fatal("unknown key accepted")
	}
	both := string(raw) + "\n[next]\naws_access_key_id = " + next.AccessKeyID + "\naws_secret_access_key = " + next.SecretAccessKey + "\n"
	reload(both, "API keys reloaded")
	if list(old) != 200 || list(next) != 200 {
		t.Fatalf("during rotation: old=%d next=%d", list(old), list(next))
	}
	retired := strings.Replace(both, old.AccessKeyID, "AKABRETIRED000000000", 1)
	reload(retired, "API keys reloaded")
	if list(old) != 403 || list(next) != 200 {
		t.Fatalf("after retiring: old=%d next=%d", list(old), list(next))
	}
	// A broken file keeps the keys that work.
	reload("[default]\naws_access_key_id = x\n", "API keys not reloaded")
	if list(next) != 200 {
		t.Fatal("a broken credentials file dropped the working key")
	}
	// Secrets never reach the log, whatever happened above.
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
