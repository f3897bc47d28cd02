// Package metrics defines every Prometheus series amplifybackendd exports,
// in one place, so their names, types, labels and buckets are reviewed
// together and documented once (README, "Operations").
//
// One *Metrics, made by New in main, is handed to the packages that
// observe: handlers (API requests and signature failures), jobs (jobs
// accepted and finished, their duration, retries), s3iam (calls to the
// target) and store (group commits). Each observing method is safe on a
// nil *Metrics and then does nothing, so tests and tools that build those
// packages without metrics need no registry. State the process already
// keeps (jobs RUNNING, the queue, the API keys' reloads) is read at scrape
// time through the funcs given to ObserveJobs and ObserveKeyReloads rather
// than copied into gauges that could drift.
//
// Labels are bounded: operation names from the service model and the
// SDKs, status codes, job states, outcome classes. App ids, environment
// names, job ids, bucket names and access keys never become labels.
//
// Handler serves the registry on the metrics listener only, never on the
// API's port.
package metrics
