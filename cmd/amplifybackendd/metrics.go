package main

import (
	"context"
	"net/http"
	"time"

	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/metrics"
)

// metricsHandler serves m on the metrics listener (--metrics-listen):
// GET /metrics, unsigned as scrapers expect, and nothing else. The series
// give away no names, keys or paths (package metrics).
func metricsHandler(m *metrics.Metrics) http.Handler {
	h := m.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != metrics.Path {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// scrapeTimeout bounds the store read one scrape makes for the jobs'
// state; a scrape must not wait on a store that is stuck.
const scrapeTimeout = 5 * time.Second

// observeState makes each scrape read what the process already keeps: the
// runner's jobs and queue, and how the API keys' reloads went.
func observeState(m *metrics.Metrics, runner *jobs.Runner, keys *apiKeys) {
	m.ObserveJobs(func() metrics.JobsState {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		defer cancel()
		// A store that cannot be read reports what was read: the damage
		// is logged and answered where it is met.
		s, _ := runner.State(ctx)
		return s
	})
	m.ObserveKeyReloads(func() metrics.KeyReloads {
		return metrics.KeyReloads{Succeeded: keys.reloaded.Load(), Failed: keys.reloadFailed.Load(), LastFailed: keys.lastReloadFailed.Load()}
	})
}
