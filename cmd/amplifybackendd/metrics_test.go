package main

import (
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if k, ok := keys.Lookup(old.AccessKey); !ok || k.Secret != old.SecretKey {
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
	if _, ok := keys.Lookup(old.AccessKey); ok {
		t.Fatal("the removed key is still accepted")
	}

	if code, _ := get("GET", "/"); code != 404 {
		t.Fatalf("GET /: %d, want 404", code)
	}
	if code, _ := get("POST", "/metrics"); code != 405 {
		t.Fatalf("POST /metrics: %d, want 405", code)
	}
}
