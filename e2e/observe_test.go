package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestMetricsAndLogsTellWhatHappened runs a scenario (a create and its job,
// reads, a poll, two refused calls), then scrapes the metrics listener,
// parses the exposition with Prometheus's own text parser, and checks that
// every count is what the scenario did; then it reads the JSON log and
// finds each request logged once under the id its client was given, and
// every event of the job carrying the job, operation, app and environment.
func TestMetricsAndLogsTellWhatHappened(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, "--metrics-listen", "127.0.0.1:0", "--log-format", "json")
	const app, env, name, bucket = "obsapp", "dev", "photos", "amplify-e2e-observe"

	var ids []string // request ids the client was given, in order
	call := func(creds aws.Credentials, method, path string, body any) testserver.Response {
		t.Helper()
		r := s.CallAs(creds, method, path, body)
		if id := r.Header.Get("x-amzn-RequestId"); id != "" {
			ids = append(ids, id)
		} else {
			t.Fatalf("%s %s: no x-amzn-RequestId", method, path)
		}
		return r
	}
	created := testserver.MustOK(t, call(s.APICreds, "POST", "/backend/"+app+"/storage",
		storageBody(env, name, bucket, []string{"READ"}, []string{"READ"})))
	createID, jobID := ids[0], created.Str("jobId")
	polls := 0
	s.Until("job still RUNNING", func() bool {
		polls++
		r := testserver.MustOK(t, call(s.APICreds, "GET", fmt.Sprintf("/backend/%s/job/%s/%s", app, env, jobID), nil))
		return r.Str("status") != "RUNNING"
	})
	for range 2 {
		testserver.MustOK(t, call(s.APICreds, "POST", fmt.Sprintf("/backend/%s/storage/%s/details", app, env), map[string]any{"resourceName": name}))
	}
	if r := call(aws.Credentials{}, "POST", "/s3Buckets", map[string]any{}); r.Status != 403 {
		t.Fatalf("unsigned call: %d", r.Status)
	}
	wrong := aws.Credentials{AccessKeyID: s.APICreds.AccessKeyID, SecretAccessKey: "not-the-secret-0123456789012345678901234"}
	if r := call(wrong, "POST", "/s3Buckets", map[string]any{}); r.Status != 403 {
		t.Fatalf("call signed with a wrong secret: %d", r.Status)
	}

	families := scrape(t, s.Metrics)
	wantValue := func(name string, labels map[string]string, want float64) {
		t.Helper()
		if got := value(t, families, name, labels); got != want {
			t.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
	}
	op := func(o, code string) map[string]string { return map[string]string{"operation": o, "code": code} }
	wantValue("amplifybackendd_api_requests_total", op("CreateBackendStorage", "200"), 1)
	wantValue("amplifybackendd_api_requests_total", op("GetBackendJob", "200"), float64(polls))
	wantValue("amplifybackendd_api_requests_total", op("GetBackendStorage", "200"), 2)
	wantValue("amplifybackendd_api_requests_total", op("ListS3Buckets", "403"), 2)
	wantValue("amplifybackendd_api_request_duration_seconds", map[string]string{"operation": "GetBackendStorage"}, 2)
	wantValue("amplifybackendd_api_signature_failures_total", map[string]string{"reason": "no_authorization"}, 1)
	wantValue("amplifybackendd_api_signature_failures_total", map[string]string{"reason": "signature_mismatch"}, 1)
	wantValue("amplifybackendd_jobs_accepted_total", map[string]string{"operation": "CreateBackendStorage"}, 1)
	wantValue("amplifybackendd_jobs_finished_total", map[string]string{"operation": "CreateBackendStorage", "status": "COMPLETED"}, 1)
	wantValue("amplifybackendd_job_duration_seconds", map[string]string{"operation": "CreateBackendStorage"}, 1)
	wantValue("amplifybackendd_jobs_running", nil, 0)
	wantValue("amplifybackendd_job_queue_depth", nil, 0)
	// One job at a time never reaches the starting limit of 2, so it stays.
	wantValue("amplifybackendd_job_concurrency_limit", nil, 2)
	wantValue("amplifybackendd_jobs_oldest_running_age_seconds", nil, 0)
	wantValue("amplifybackendd_job_retries_total", nil, 0)
	wantValue("amplifybackendd_target_requests_total", map[string]string{"service": "s3", "operation": "CreateBucket", "outcome": "success"}, 1)
	wantValue("amplifybackendd_target_requests_total", map[string]string{"service": "s3", "operation": "PutBucketPolicy", "outcome": "success"}, 1)
	wantValue("amplifybackendd_target_request_duration_seconds", map[string]string{"service": "s3", "operation": "CreateBucket"}, 1)
	if n := value(t, families, "amplifybackendd_target_requests_total", map[string]string{"service": "iam", "operation": "PutRolePolicy", "outcome": "success"}); n < 1 {
		t.Errorf("no IAM PutRolePolicy counted")
	}
	// Acceptance and settlement at least; each commit groups one or more.
	commits := value(t, families, "amplifybackendd_store_commit_duration_seconds", nil)
	grouped := families["amplifybackendd_store_commit_transactions"].GetMetric()[0].GetHistogram().GetSampleSum()
	if commits < 2 || grouped < commits {
		t.Errorf("store commits %v grouping %v calls: want at least 2, each of one call or more", commits, grouped)
	}
	for _, f := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if families[f] == nil {
			t.Errorf("no %s: the Go and process collectors are missing", f)
		}
	}
	// Labels are bounded: no app, environment, resource, bucket or job id.
	for fname, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetValue() {
				case app, name, bucket, jobID, s.APICreds.AccessKeyID:
					t.Errorf("%s carries %s=%q", fname, l.GetName(), l.GetValue())
				}
			}
		}
	}

	// The log, read to its end once the server stopped.
	s.Stop()
	logs := s.Logs.String()
	for _, secret := range []string{s.APICreds.SecretAccessKey, s.S3Creds.SecretAccessKey, wrong.SecretAccessKey, "Signature=", "AWS4-HMAC-SHA256"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret or a signature (%.12s…)", secret)
		}
	}
	requests := map[string][]map[string]any{}
	var jobEvents []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("a log line is not JSON: %q", sc.Text())
		}
		if id, ok := line["request_id"].(string); ok && line["msg"] == "request" {
			requests[id] = append(requests[id], line)
		}
		if line["job_id"] == jobID {
			jobEvents = append(jobEvents, line)
		}
	}
	for _, id := range ids {
		if len(requests[id]) != 1 {
			t.Fatalf("request %s logged %d times, want once:\n%s", id, len(requests[id]), logs)
		}
		for _, field := range []string{"operation", "status", "duration_ms", "method", "path"} {
			if _, ok := requests[id][0][field]; !ok {
				t.Errorf("request line without %s: %v", field, requests[id][0])
			}
		}
	}
	create := requests[createID][0]
	if create["operation"] != "CreateBackendStorage" || create["status"] != float64(http.StatusOK) || create["access_key_id"] != s.APICreds.AccessKeyID {
		t.Errorf("create's line: %v", create)
	}
	unsigned, forged := requests[ids[len(ids)-2]][0], requests[ids[len(ids)-1]][0]
	if unsigned["auth_failure"] != "no_authorization" || unsigned["status"] != float64(403) || unsigned["error"] == nil {
		t.Errorf("the unsigned call's line does not say why it was refused: %v", unsigned)
	}
	if forged["auth_failure"] != "signature_mismatch" {
		t.Errorf("the forged call's line does not say why it was refused: %v", forged)
	}
	var states []string
	for _, e := range jobEvents {
		if e["operation"] != "CreateBackendStorage" || e["app_id"] != app || e["env"] != env {
			t.Errorf("a job event without its operation, app and environment: %v", e)
		}
		states = append(states, fmt.Sprint(e["msg"], " ", e["status"]))
	}
	if len(states) < 2 || states[0] != "job accepted <nil>" || states[len(states)-1] != "job state COMPLETED" {
		t.Errorf("job events %q: want its acceptance first and COMPLETED last", states)
	}
}

// scrape reads the metrics listener with Prometheus's text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return families
}

// value is the series of family name whose labels include labels: a
// counter's or gauge's value, a histogram's count. A series that is not
// there is 0, as Prometheus's rate() takes it.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f := families[name]
	if f == nil {
		t.Errorf("no metric family %s", name)
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range labels {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// TestProfilesOnTheDebugListenerOnly: with --debug-listen the running
// binary serves a CPU profile there, and its API port still serves no
// profile to an unsigned caller.
func TestProfilesOnTheDebugListenerOnly(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, "--debug-listen", "127.0.0.1:0")
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := s.HTTP.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// A profile is gzipped protobuf: its first bytes are gzip's magic.
	if code, body := get(s.Debug + "/debug/pprof/profile?seconds=1"); code != 200 || !strings.HasPrefix(body, "\x1f\x8b") {
		t.Fatalf("CPU profile on the debug listener: %d %.100q", code, body)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
		if code, body := get(s.API + path); code == 200 || strings.Contains(body, "goroutine") {
			t.Fatalf("API port %s: %d %.200s", path, code, body)
		}
	}
}
