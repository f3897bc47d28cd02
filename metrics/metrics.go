package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// namespace prefixes every series of our own.
const namespace = "amplifybackendd"

// Path is where the metrics listener answers, as Prometheus expects.
const Path = "/metrics"

// Metrics holds every series. Its methods observe; a nil *Metrics ignores
// them.
type Metrics struct {
	reg *prometheus.Registry

	apiRequests     *prometheus.CounterVec
	apiDuration     *prometheus.HistogramVec
	signatureFails  *prometheus.CounterVec
	accessDenied    *prometheus.CounterVec
	jobsAccepted    *prometheus.CounterVec
	jobsFinished    *prometheus.CounterVec
	jobDuration     *prometheus.HistogramVec
	jobRetries      prometheus.Counter
	targetCalls     *prometheus.CounterVec
	targetDuration  *prometheus.HistogramVec
	commitDuration  prometheus.Histogram
	commitBatchSize prometheus.Histogram
	commitsLost     prometheus.Counter
	commitsFailed   prometheus.Counter

	mu   sync.Mutex
	jobs func() JobsState
	keys func() KeyReloads
	tls  func() TLSState
}

// JobsState is what ObserveJobs reads at each scrape.
type JobsState struct {
	// Running is how many jobs are RUNNING (pending) in the store.
	Running int
	// OldestRunning is when the oldest of them was accepted (zero if none).
	OldestRunning time.Time
	// Queued is how many jobs wait in the runner's queue for a worker.
	Queued int
	// Limit is how many jobs may execute at once now, as the runner chose
	// it from the target's answers (up to --workers).
	Limit int
}

// KeyReloads is what ObserveKeyReloads reads at each scrape.
type KeyReloads struct {
	Succeeded, Failed uint64
	// LastFailed is whether the latest reload failed.
	LastFailed bool
}

// TLSState is what ObserveTLS reads at each scrape: the reloads of the
// served certificate (SIGHUP) and when the one served now expires.
type TLSState struct {
	Reloads KeyReloads
	// NotAfter is the expiry of the certificate new connections get.
	NotAfter time.Time
}

// New returns the metrics, registered in a registry of their own along
// with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	seconds := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "api_requests_total",
		Help: "API requests answered, by operation and HTTP status code."}, []string{"operation", "code"})
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "api_request_duration_seconds",
		Help: "Time from a request's arrival to its answer, by operation.", Buckets: seconds}, []string{"operation"})
	m.signatureFails = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "api_signature_failures_total",
		Help: "Requests refused by the signature check, by the check that failed."}, []string{"reason"})
	m.accessDenied = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "api_access_denied_total",
		Help: "Signed requests the caller's policy refused (AccessDeniedException), by operation."}, []string{"operation"})
	m.jobsAccepted = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "jobs_accepted_total",
		Help: "Jobs accepted (committed RUNNING), by operation."}, []string{"operation"})
	m.jobsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "jobs_finished_total",
		Help: "Jobs that reached their final status, by operation and status."}, []string{"operation", "status"})
	m.jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "job_duration_seconds",
		Help:    "Time from a job's acceptance to its final status, by operation.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 600}}, []string{"operation"})
	m.jobRetries = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "job_retries_total",
		Help: "Attempts of job steps that failed transiently (the target refused, throttled or answered 5xx) and were retried."})
	m.targetCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "target_requests_total",
		Help: "Calls to the target's S3 and IAM APIs (SDK retries included in one call), by service, operation and outcome."},
		[]string{"service", "operation", "outcome"})
	m.targetDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "target_request_duration_seconds",
		Help: "Time of calls to the target, SDK retries included, by service and operation.", Buckets: seconds},
		[]string{"service", "operation"})
	m.commitDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "store_commit_duration_seconds",
		Help: "Time of one group commit of the store, fsync included.", Buckets: seconds})
	m.commitBatchSize = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "store_commit_transactions",
		Help:    "Write calls (API acceptances, job settlements) grouped into one commit.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}})
	m.commitsLost = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "store_commits_lost_total",
		Help: "Store transactions on etcd that ran again because another replica changed what they read first."})
	m.commitsFailed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "store_commits_failed_total",
		Help: "Group commits of the store that failed to write (disk full, I/O error, the file gone, damage, etcd not answering or contended); every call they carried got the error."})
	m.reg.MustRegister(m.apiRequests, m.apiDuration, m.signatureFails, m.accessDenied, m.jobsAccepted, m.jobsFinished, m.jobDuration,
		m.jobRetries, m.targetCalls, m.targetDuration, m.commitDuration, m.commitBatchSize, m.commitsLost, m.commitsFailed,
		stateCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in Prometheus's exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Gather returns every series as it would be scraped now, for tests and
// tools that read values without going through the listener.
func (m *Metrics) Gather() ([]*dto.MetricFamily, error) { return m.reg.Gather() }

// Request records one answered API request.
func (m *Metrics) Request(operation string, code int, took time.Duration) {
	if m == nil {
		return
	}
	m.apiRequests.WithLabelValues(operation, strconv.Itoa(code)).Inc()
	m.apiDuration.WithLabelValues(operation).Observe(took.Seconds())
}

// SignatureFailure records a request the signature check refused; reason
// is one of a fixed set of check names.
func (m *Metrics) SignatureFailure(reason string) {
	if m == nil {
		return
	}
	m.signatureFails.WithLabelValues(reason).Inc()
}

// AccessDenied records a call the caller's policy refused; operation is
// an operation name, never a key or resource, so the label set stays
// bounded.
func (m *Metrics) AccessDenied(operation string) {
	if m == nil {
		return
	}
	m.accessDenied.WithLabelValues(operation).Inc()
}

// JobAccepted records a job committed RUNNING.
func (m *Metrics) JobAccepted(operation string) {
	if m == nil {
		return
	}
	m.jobsAccepted.WithLabelValues(operation).Inc()
}

// JobFinished records a job that reached its final status after took.
func (m *Metrics) JobFinished(operation, status string, took time.Duration) {
	if m == nil {
		return
	}
	m.jobsFinished.WithLabelValues(operation, status).Inc()
	m.jobDuration.WithLabelValues(operation).Observe(took.Seconds())
}

// JobRetry records one failed attempt of a job step that will be retried.
func (m *Metrics) JobRetry() {
	if m == nil {
		return
	}
	m.jobRetries.Inc()
}

// TargetCall records one SDK call to the target.
func (m *Metrics) TargetCall(service, operation, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.targetCalls.WithLabelValues(service, operation, outcome).Inc()
	m.targetDuration.WithLabelValues(service, operation).Observe(took.Seconds())
}

// Commit records one group commit of n write calls.
func (m *Metrics) Commit(n int, took time.Duration) {
	if m == nil {
		return
	}
	m.commitDuration.Observe(took.Seconds())
	m.commitBatchSize.Observe(float64(n))
}

// CommitLost records a store transaction that runs again because another
// writer changed what it read (etcd).
func (m *Metrics) CommitLost() {
	if m == nil {
		return
	}
	m.commitsLost.Inc()
}

// CommitFailed records a group commit the engine could not write: the
// store's clients get 500s then, and this is where an operator sees why
// before they report it.
func (m *Metrics) CommitFailed() {
	if m == nil {
		return
	}
	m.commitsFailed.Inc()
}

// ObserveJobs makes each scrape read the jobs' state from f.
func (m *Metrics) ObserveJobs(f func() JobsState) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.jobs = f
	m.mu.Unlock()
}

// ObserveKeyReloads makes each scrape read the API keys' reloads from f.
func (m *Metrics) ObserveKeyReloads(f func() KeyReloads) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.keys = f
	m.mu.Unlock()
}

// ObserveTLS makes each scrape read the served certificate's state from f;
// a server without TLS never calls it, and reports no such series.
func (m *Metrics) ObserveTLS(f func() TLSState) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.tls = f
	m.mu.Unlock()
}

var (
	jobsRunningDesc = prometheus.NewDesc(namespace+"_jobs_running",
		"Jobs RUNNING in the store (accepted, not yet final).", nil, nil)
	oldestRunningDesc = prometheus.NewDesc(namespace+"_jobs_oldest_running_age_seconds",
		"Age of the oldest RUNNING job (0 when none): a job stuck RUNNING shows here.", nil, nil)
	queueDepthDesc = prometheus.NewDesc(namespace+"_job_queue_depth",
		"Jobs waiting in the runner's queue for a worker.", nil, nil)
	jobLimitDesc = prometheus.NewDesc(namespace+"_job_concurrency_limit",
		"Jobs that may execute at once now, chosen from how the target answers (at most --workers).", nil, nil)
	keyReloadsDesc = prometheus.NewDesc(namespace+"_api_keys_reloads_total",
		"Reloads of the API keys from the key files (a change seen, or SIGHUP), by result.", []string{"result"}, nil)
	keyLastOKDesc = prometheus.NewDesc(namespace+"_api_keys_last_reload_successful",
		"Whether the last reload of the API keys succeeded (1 until one fails); a failed reload keeps the keys that worked.", nil, nil)
	tlsReloadsDesc = prometheus.NewDesc(namespace+"_tls_reloads_total",
		"Reloads of the TLS certificate and key (SIGHUP), by result.", []string{"result"}, nil)
	tlsLastOKDesc = prometheus.NewDesc(namespace+"_tls_last_reload_successful",
		"Whether the last reload of the TLS certificate succeeded on every listener (1 until one fails); a failed reload keeps the certificate served before.", nil, nil)
	tlsExpiryDesc = prometheus.NewDesc(namespace+"_tls_certificate_expiry_timestamp_seconds",
		"When the certificate served on new API connections expires, in seconds since the epoch.", nil, nil)
)

// stateCollector reports, at each scrape, the state read through the funcs
// given to ObserveJobs and ObserveKeyReloads.
type stateCollector struct{ m *Metrics }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{jobsRunningDesc, oldestRunningDesc, queueDepthDesc, jobLimitDesc, keyReloadsDesc, keyLastOKDesc,
		tlsReloadsDesc, tlsLastOKDesc, tlsExpiryDesc} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	jobs, keys, tls := c.m.jobs, c.m.keys, c.m.tls
	c.m.mu.Unlock()
	if jobs != nil {
		s := jobs()
		age := 0.0
		if !s.OldestRunning.IsZero() {
			age = max(time.Since(s.OldestRunning).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(jobsRunningDesc, prometheus.GaugeValue, float64(s.Running))
		ch <- prometheus.MustNewConstMetric(oldestRunningDesc, prometheus.GaugeValue, age)
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(s.Queued))
		ch <- prometheus.MustNewConstMetric(jobLimitDesc, prometheus.GaugeValue, float64(s.Limit))
	}
	if keys != nil {
		reloads(ch, keyReloadsDesc, keyLastOKDesc, keys())
	}
	if tls != nil {
		t := tls()
		reloads(ch, tlsReloadsDesc, tlsLastOKDesc, t.Reloads)
		ch <- prometheus.MustNewConstMetric(tlsExpiryDesc, prometheus.GaugeValue, float64(t.NotAfter.Unix()))
	}
}

// reloads reports r as a counter by result and a last-successful gauge.
func reloads(ch chan<- prometheus.Metric, total, lastOK *prometheus.Desc, r KeyReloads) {
	ok := 1.0
	if r.LastFailed {
		ok = 0
	}
	ch <- prometheus.MustNewConstMetric(total, prometheus.CounterValue, float64(r.Succeeded), "success")
	ch <- prometheus.MustNewConstMetric(total, prometheus.CounterValue, float64(r.Failed), "failure")
	ch <- prometheus.MustNewConstMetric(lastOK, prometheus.GaugeValue, ok)
}
