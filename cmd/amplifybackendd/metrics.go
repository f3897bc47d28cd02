package main

import (
	"fmt"
	"io"
	"net/http"

	"github.com/amplifybackendd/amplifybackendd/jobs"
)

// metricsPath is where the metrics listener answers, as Prometheus expects.
const metricsPath = "/metrics"

// metricsHandler serves, in Prometheus's text format, what an operator
// cannot see from the API: whether the target keeps failing the jobs'
// calls (their retries), and whether a SIGHUP reloaded the API keys. It
// listens on its own address (--metrics-listen), unsigned as scrapers
// expect, and gives away no names, keys or paths. Values are read at each
// scrape; nothing is kept for it.
func metricsHandler(runner *jobs.Runner, keys *apiKeys) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != metricsPath {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		lastOK := 1
		if keys.lastReloadFailed.Load() {
			lastOK = 0
		}
		family(w, "amplifybackendd_job_retries_total", "counter",
			"Attempts of job steps that failed transiently (the target refused, throttled or answered 5xx) and were retried.",
			sample{value: runner.Retries()})
		family(w, "amplifybackendd_api_keys_reloads_total", "counter",
			"Reloads of the API keys from the credentials file (SIGHUP), by result.",
			sample{labels: `result="success"`, value: keys.reloaded.Load()},
			sample{labels: `result="failure"`, value: keys.reloadFailed.Load()})
		family(w, "amplifybackendd_api_keys_last_reload_successful", "gauge",
			"Whether the last reload of the API keys succeeded (1 until one fails); a failed reload keeps the keys that worked.",
			sample{value: uint64(lastOK)})
	})
}

// sample is one value of a metric family, with its labels as written
// between the braces.
type sample struct {
	labels string
	value  uint64
}

// family writes one metric family in the text exposition format.
func family(w io.Writer, name, kind, help string, samples ...sample) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
	for _, s := range samples {
		if s.labels != "" {
			fmt.Fprintf(w, "%s{%s} %d\n", name, s.labels, s.value)
		} else {
			fmt.Fprintf(w, "%s %d\n", name, s.value)
		}
	}
}
