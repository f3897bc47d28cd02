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
	// A GET pattern also serves HEAD; other methods get 405, other paths 404.
	mux := http.NewServeMux()
	mux.Handle("GET "+metrics.Path, m.Handler())
	return mux
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
