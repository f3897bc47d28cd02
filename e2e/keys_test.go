package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/amplifybackendd/amplifybackendd/handlers"
	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestKeyRotationWithoutRestart edits the credentials file by hand: adds a
// second key, reloads with SIGHUP, retires the first, reloads again: each
// step takes effect at once. Each reload is awaited through what it
// changes (a key accepted or refused); the broken file changes no key, so
// that one is awaited through the reload the server counts on its metrics
// listener. The server also notices the changes by itself (see
// TestScopedKeysWithoutRestart), so a change may be counted twice.
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
	reload("[default]\naws_access_key_id = x\n", "no failed reload counted", func() bool { return s.Metric(failed) >= 1 })
	if list(next) != 200 || list(old) != 403 {
		t.Fatalf("after a broken credentials file: next=%d old=%d", list(next), list(old))
	}
	if ok := s.Metric("amplifybackendd_api_keys_last_reload_successful"); ok != 0 {
		t.Fatalf("the failed reload reported as successful: %v", ok)
	}
	// Each change was read by the poll, by the signal, or by both.
	if ok := s.Metric(`amplifybackendd_api_keys_reloads_total{result="success"}`); ok < 2 {
		t.Fatalf("%v successful reloads counted, want at least 2", ok)
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

// accessKeyID finds the id the keys command prints on a line of its own.
var accessKeyID = regexp.MustCompile(`(?m)^AKAB[A-Z2-7]{16}$`)

// TestScopedKeysWithoutRestart drives the keys command against a running
// server, which follows every change by itself, without a signal: a
// created key signs in, a rotated key's old pair is refused and its new
// one accepted, a broken policies.json keeps the keys in use, a revoked
// key is refused.
func TestScopedKeysWithoutRestart(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, "--metrics-listen", "127.0.0.1:0")
	handed := filepath.Join(t.TempDir(), "team-credentials")
	// keys runs the command and returns the access key id it printed.
	keys := func(args ...string) string {
		t.Helper()
		out, code := testserver.Run(t, append(append([]string{"keys"}, args...), "--data-dir", s.DataDir)...)
		if code != 0 {
			t.Fatalf("keys %v: exit %d\n%s", args, code, out)
		}
		return accessKeyID.FindString(out)
	}
	team := func() aws.Credentials {
		t.Helper()
		c, err := credfile.Profile(handed, "team")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	list := func(c aws.Credentials) testserver.Response {
		return s.CallAs(c, "POST", "/s3Buckets", map[string]any{})
	}
	accepted := func(c aws.Credentials) func() bool { return func() bool { return list(c).Status == 200 } }
	refused := func(c aws.Credentials) func() bool {
		return func() bool { r := list(c); return r.Status == 403 && r.Str("__type") == "UnrecognizedClientException" }
	}

	id := keys("create", "team", "--app", "myapp", "--env", "dev", "--credentials-file", handed)
	first := team()
	if first.AccessKeyID != id {
		t.Fatalf("printed %s, handed over %s", id, first.AccessKeyID)
	}
	s.Until("created key refused", accepted(first))

	keys("rotate", "team", "--credentials-file", handed)
	second := team()
	s.Until("rotated key's old pair still accepted", refused(first))
	if !accepted(second)() {
		t.Fatalf("rotated key's new pair refused: %s", list(second).Raw)
	}

	// A broken policies.json: the server keeps the keys it has, and the
	// keys command refuses to work on it, naming the key.
	const failed = `amplifybackendd_api_keys_reloads_total{result="failure"}`
	policies := filepath.Join(s.DataDir, "policies.json")
	good, err := os.ReadFile(policies)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policies, []byte(`{"keys":{"team":{"policy":{"Statement":"everything"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Until("broken policies.json not noticed", func() bool { return s.Metric(failed) >= 1 })
	if !accepted(second)() || !accepted(s.APICreds)() {
		t.Fatal("a broken policies.json cost the keys in use")
	}
	if out, code := testserver.Run(t, "keys", "revoke", "team", "--data-dir", s.DataDir); code != 1 || !strings.Contains(out, `key "team"`) {
		t.Fatalf("keys revoke on a broken policies.json: exit %d\n%s", code, out)
	}
	if err := os.WriteFile(policies, good, 0o600); err != nil {
		t.Fatal(err)
	}

	keys("revoke", "team")
	s.Until("revoked key still accepted", refused(second))
	if !accepted(s.APICreds)() {
		t.Fatal("the default key was refused")
	}
	if out, code := testserver.Run(t, "keys", "revoke", "default", "--data-dir", s.DataDir); code != 1 || !strings.Contains(out, "always an administrator") {
		t.Fatalf("keys revoke default: exit %d\n%s", code, out)
	}
	if out, code := testserver.Run(t, "keys", "create", "--data-dir", s.DataDir); code != 2 {
		t.Fatalf("keys create without a name: exit %d\n%s", code, out)
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
