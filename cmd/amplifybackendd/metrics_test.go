package main

import (
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/keyring"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/metrics"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// TestMetricsReportReloads: the metrics listener says how each reload of
// the API keys went, counted once the keys in use are what it says, and
// answers nothing but GET /metrics.
func TestMetricsReportReloads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cf, err := loadOrCreateCredentials(dir, profileAPI)
	if err != nil {
		t.Fatal(err)
	}
	keys := newAPIKeys(cf)
	m := metrics.New()
	observeState(m, jobs.New(st, nil, jobs.Config{Logger: slog.New(slog.DiscardHandler), Metrics: m}), keys)
	srv := httptest.NewServer(metricsHandler(m))
	t.Cleanup(srv.Close)
	get := func(method, path string) (int, string) {
		t.Helper()
		return httpCall(t, method, srv.URL+path)
	}
	want := func(lines ...string) {
		t.Helper()
		code, body := get("GET", "/metrics")
		if code != 200 {
			t.Fatalf("GET /metrics: %d %s", code, body)
		}
		for _, l := range lines {
			if !strings.Contains(body, "\n"+l+"\n") {
				t.Fatalf("no line %q in:\n%s", l, body)
			}
		}
	}
	want("amplifybackendd_job_retries_total 0",
		`amplifybackendd_api_keys_reloads_total{result="success"} 0`,
		`amplifybackendd_api_keys_reloads_total{result="failure"} 0`,
		"amplifybackendd_api_keys_last_reload_successful 1",
		"# TYPE amplifybackendd_api_keys_reloads_total counter")

	old := cf.profiles[profileAPI]
	if err := os.WriteFile(cf.path, []byte("[default]\naws_access_key_id = x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.reload(); err == nil {
		t.Fatal("a broken credentials file reloaded")
	}
	want(`amplifybackendd_api_keys_reloads_total{result="success"} 0`,
		`amplifybackendd_api_keys_reloads_total{result="failure"} 1`,
		"amplifybackendd_api_keys_last_reload_successful 0")
	if k, ok := lookupKey(keys, old.AccessKey); !ok || k.Secret != old.SecretKey {
		t.Fatal("a failed reload dropped the key that worked")
	}

	next := "[default]\naws_access_key_id = AKABNEXTKEY000000001\naws_secret_access_key = next-secret-0123456789012345678901234567\n"
	if err := os.WriteFile(cf.path, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.reload(); err != nil {
		t.Fatal(err)
	}
	want(`amplifybackendd_api_keys_reloads_total{result="success"} 1`,
		`amplifybackendd_api_keys_reloads_total{result="failure"} 1`,
		"amplifybackendd_api_keys_last_reload_successful 1")
	if _, ok := lookupKey(keys, old.AccessKey); ok {
		t.Fatal("the removed key is still accepted")
	}

	if code, _ := get("GET", "/"); code != 404 {
		t.Fatalf("GET /: %d, want 404", code)
	}
	if code, _ := get("POST", "/metrics"); code != 405 {
		t.Fatalf("POST /metrics: %d, want 405", code)
	}
}

// TestKeysReloadKeepsPoliciesWhenTheirFileIsGone: a key without a policy
// entry is an administrator, so a policies.json that disappears under a
// running server (deleted, a mount or Secret without it) made every
// scoped key an administrator at the next reload. The reload is refused
// instead, and says so on the metrics listener; putting the file back
// reloads.
func TestKeysReloadKeepsPoliciesWhenTheirFileIsGone(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadOrCreateCredentials(dir, profileAPI); err != nil {
		t.Fatal(err)
	}
	scoped := credfile.Keys{AccessKeyID: "AKABSCOPEDKEY0000001", SecretAccessKey: "scoped-secret-01234567890123456789012345"}
	err := keyring.Update(dir, func(r *keyring.Ring) error {
		r.SetKeys("team-a", scoped)
		return r.SetEntry("team-a", keyring.Entry{Policy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"amplifybackend:GetBackendJob","Resource":"*"}]}`)})
	})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := loadOrCreateCredentials(dir, profileAPI)
	if err != nil {
		t.Fatal(err)
	}
	keys := newAPIKeys(cf)
	admin := func() bool {
		k, ok := lookupKey(keys, scoped.AccessKeyID)
		if !ok {
			t.Fatal("the scoped key is unknown")
		}
		return k.Policy == access.Administrator
	}
	if admin() {
		t.Fatal("the scoped key is an administrator")
	}
	pol := filepath.Join(dir, keyring.PoliciesFile)
	saved, err := os.ReadFile(pol)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(pol); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.reload(); err == nil || !strings.Contains(err.Error(), "team-a") {
		t.Fatalf("reload without policies.json: %v", err)
	}
	if admin() {
		t.Fatal("losing policies.json made the scoped key an administrator")
	}
	if !keys.lastReloadFailed.Load() {
		t.Fatal("the refused reload is not reported")
	}
	if err := os.WriteFile(pol, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.reload(); err != nil {
		t.Fatal(err)
	}
	if admin() {
		t.Fatal("the scoped key is an administrator")
	}
}
