package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// faultyTarget is a gateway server and an API server whose S3 and IAM calls
// go through fault-injecting proxies.
type faultyTarget struct {
	gw, api *testserver.Server
	s3, iam *faultproxy.HTTP
}

func newFaultyTarget(t *testing.T, unready bool, extra ...string) *faultyTarget {
	t.Helper()
	gw := testserver.Start(t)
	s3p, err := faultproxy.NewHTTP(gw.S3)
	if err != nil {
		t.Fatal(err)
	}
	iamp, err := faultproxy.NewHTTP(gw.IAM)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3p.Close(); iamp.Close() })
	f := &faultyTarget{gw: gw, s3: s3p, iam: iamp}
	if unready {
		if err := s3p.Set(faultproxy.Fault{Kind: faultproxy.Refuse}); err != nil {
			t.Fatal(err)
		}
		if err := iamp.Set(faultproxy.Fault{Kind: faultproxy.Refuse}); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"AWS_ACCESS_KEY_ID=" + gw.S3Creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + gw.S3Creds.SecretAccessKey}
	args := append([]string{"--target", "external", "--s3-endpoint", s3p.URL(), "--iam-endpoint", iamp.URL(),
		"--public-guest-access", "true", "--retry-base", "50ms", "--retry-max", "400ms", "--retry-attempts", "6",
		"--metrics-listen", "127.0.0.1:0"}, extra...)
	if unready {
		f.api = testserver.StartUnready(t, env, args...)
	} else {
		f.api = testserver.StartEnv(t, env, args...)
	}
	f.api.S3, f.api.IAM, f.api.S3Creds = gw.S3, gw.IAM, gw.S3Creds
	return f
}

// awaitRetry starts a job with start while the target fails it, and
// returns the job's id once the server has counted a retry (no job of f's
// may be running before) and the job is still RUNNING: it has met the fault
// and is waiting it out.
func (f *faultyTarget) awaitRetry(t *testing.T, start func() string) string {
	t.Helper()
	const retries = "amplifybackendd_job_retries_total"
	before := f.api.Metric(retries)
	id := start()
	f.api.Until("no retry counted while the target failed", func() bool { return f.api.Metric(retries) > before })
	if job := testserver.MustOK(t, f.api.Call("GET", "/backend/faults/job/dev/"+id, nil)); job.Str("status") != "RUNNING" {
		t.Fatalf("job finished while the target failed: %s", job.Raw)
	}
	return id
}

func (f *faultyTarget) create(t *testing.T, name string) string {
	t.Helper()
	r := testserver.MustOK(t, f.api.Call("POST", "/backend/faults/storage",
		storageBody("dev", name, "fault-"+strings.ToLower(name), []string{"READ"}, []string{"READ"})))
	return r.Str("jobId")
}

// TestTransientFaultsAreRidden injects each kind of transient failure into
// the target's answers; every job still finishes COMPLETED once the fault
// clears, and the bucket is really there.
func TestTransientFaultsAreRidden(t *testing.T) {
	t.Parallel()
	f := newFaultyTarget(t, false)
	cases := []struct {
		name  string
		proxy *faultproxy.HTTP
		fault faultproxy.Fault
	}{
		{"S3-SlowDown-503", f.s3, faultproxy.Fault{Kind: faultproxy.Status, Status: 503, Code: "SlowDown", Count: 6}},
		{"S3-InternalError-500", f.s3, faultproxy.Fault{Kind: faultproxy.Status, Status: 500, Code: "InternalError", Count: 6}},
		{"IAM-Throttling-400", f.iam, faultproxy.Fault{Kind: faultproxy.Status, Status: 400, Code: "Throttling", Count: 6}},
		{"IAM-ServiceUnavailable-503", f.iam, faultproxy.Fault{Kind: faultproxy.Status, Status: 503, Code: "ServiceUnavailable", Count: 6}},
		{"S3-stall-5s", f.s3, faultproxy.Fault{Kind: faultproxy.Stall, Delay: 5 * time.Second, Count: 1}},
		{"S3-dropped-mid-response", f.s3, faultproxy.Fault{Kind: faultproxy.Drop, Count: 4}},
		{"IAM-dropped-mid-response", f.iam, faultproxy.Fault{Kind: faultproxy.Drop, Count: 4}},
	}
	for _, c := range cases {
		before := c.proxy.Injected.Load()
		if err := c.proxy.Set(c.fault); err != nil {
			t.Fatal(err)
		}
		id := f.create(t, c.name)
		job := f.api.WaitJob("faults", "dev", id)
		c.proxy.Clear()
		if job.Str("status") != "COMPLETED" {
			t.Fatalf("%s: %s\n%s", c.name, job.Raw, f.api.Logs)
		}
		if n := c.proxy.Injected.Load() - before; n == 0 {
			t.Fatalf("%s: no fault was injected", c.name)
		}
		if !bucketExists(t, f.gw, "fault-"+strings.ToLower(c.name)) {
			t.Fatalf("%s: bucket missing", c.name)
		}
		t.Logf("%-28s survived %d injected faults", c.name, c.proxy.Injected.Load()-before)
	}
	// Refused connections: the job waits them out and completes after. The
	// target comes back only once the job has met the refusals: the earlier
	// jobs are settled, so the next retry the server counts is this job's.
	if err := f.s3.Set(faultproxy.Fault{Kind: faultproxy.Refuse}); err != nil {
		t.Fatal(err)
	}
	id := f.awaitRetry(t, func() string { return f.create(t, "refused") })
	if err := f.s3.Clear(); err != nil {
		t.Fatal(err)
	}
	if job := f.api.WaitJob("faults", "dev", id); job.Str("status") != "COMPLETED" {
		t.Fatalf("after refusals: %s", job.Raw)
	}
}

// TestPermanentFaultsFailClearly keeps the target failing: the job fails
// once its retries are spent (or its deadline passes) with an error naming
// the step and the target's answer, and leaves no bucket behind.
func TestPermanentFaultsFailClearly(t *testing.T) {
	t.Parallel()
	t.Run("retries spent", func(t *testing.T) {
		t.Parallel()
		f := newFaultyTarget(t, false, "--retry-attempts", "2")
		if err := f.iam.Set(faultproxy.Fault{Kind: faultproxy.Status, Status: 500, Code: "ServiceFailure"}); err != nil {
			t.Fatal(err)
		}
		job := f.api.WaitJob("faults", "dev", f.create(t, "iam-down"))
		msg := job.Str("error")
		if job.Str("status") != "FAILED" || !strings.Contains(msg, "failed: ServiceFailure: injected by the fault proxy") || !strings.Contains(msg, "gave up after 2 attempts") {
			t.Fatalf("IAM failing for good: %s", job.Raw)
		}
		if bucketExists(t, f.gw, "fault-iam-down") {
			t.Fatal("the failed create left its bucket")
		}
	})
	t.Run("deadline passed", func(t *testing.T) {
		t.Parallel()
		f := newFaultyTarget(t, false, "--job-timeout", "3s")
		if err := f.s3.Set(faultproxy.Fault{Kind: faultproxy.Stall, Delay: time.Minute}); err != nil {
			t.Fatal(err)
		}
		job := f.api.WaitJob("faults", "dev", f.create(t, "stalled"))
		if job.Str("status") != "FAILED" || !strings.Contains(job.Str("error"), "did not finish within 3s") {
			t.Fatalf("stalled target: %s", job.Raw)
		}
	})
}

// TestTargetDownAtStartup starts the API while S3 and IAM refuse
// connections: reads and new calls are answered, /readyz says 503 while
// /healthz says the process lives, and once the target comes up the
// accepted job completes and /readyz says ready.
func TestTargetDownAtStartup(t *testing.T) {
	t.Parallel()
	f := newFaultyTarget(t, true)
	for path, want := range map[string]int{"/readyz": http.StatusServiceUnavailable, "/healthz": http.StatusOK} {
		resp, err := http.Get(f.api.API + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s with the target down: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if out, err := testserver.Command("ready", "--endpoint", f.api.API).CombinedOutput(); err == nil || !strings.Contains(string(out), "not ready") {
		t.Errorf("ready command with the target down: %v: %s", err, out)
	}
	testserver.WantError(t, f.api.Call("POST", "/backend/faults/job/dev", map[string]any{}), 404, "NotFoundException", "faults")
	id := f.awaitRetry(t, func() string { return f.create(t, "early") })
	testserver.MustOK(t, f.api.Call("POST", "/backend/faults/storage/dev/details", map[string]any{"resourceName": "early"}))
	if err := f.s3.Clear(); err != nil {
		t.Fatal(err)
	}
	if err := f.iam.Clear(); err != nil {
		t.Fatal(err)
	}
	if job := f.api.WaitJob("faults", "dev", id); job.Str("status") != "COMPLETED" {
		t.Fatalf("after the target came up: %s", job.Raw)
	}
	f.api.Until("readyz not ready", func() bool {
		resp, err := http.Get(f.api.API + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}
