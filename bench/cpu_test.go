package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/load"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// profileDir is where the suite writes a CPU profile of the server over
// each measured window (BENCH_PROFILE=dir); empty: no profiles.
func profileDir() string { return os.Getenv("BENCH_PROFILE") }

// profiled adds a debug listener to a server's arguments when profiles are
// asked for, so the suite can profile it over a measured window.
func profiled(args ...string) []string {
	if profileDir() == "" {
		return args
	}
	return append(args, "--debug-listen", "127.0.0.1:0")
}

// profile returns a load.BenchConfig.Window that writes a CPU profile of
// s over the measured window, of length d, to BENCH_PROFILE/name.pprof;
// nil when no profiles are asked for. The profile is the server's own
// (net/http/pprof on its debug listener), so it holds only the server's
// work, not the load generator's.
func profile(t testing.TB, s *testserver.Server, d time.Duration, name string) func() func() {
	dir := profileDir()
	if dir == "" {
		return nil
	}
	if s.Debug == "" {
		t.Fatal("profiled server started without profiled()")
	}
	return func() func() {
		var wg sync.WaitGroup
		var body []byte
		var err error
		wg.Add(1)
		go func() {
			defer wg.Done()
			secs := int(math.Ceil(d.Seconds()))
			var resp *http.Response
			if resp, err = http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.Debug, secs)); err != nil {
				return
			}
			defer resp.Body.Close()
			if body, err = io.ReadAll(resp.Body); err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s: %s", resp.Status, body)
			}
		}()
		return func() {
			wg.Wait()
			if err == nil {
				err = os.MkdirAll(dir, 0o755)
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, name+".pprof"), body, 0o644)
			}
			if err != nil {
				t.Fatalf("profile %s: %v", name, err)
			}
		}
	}
}

// benchCPU measures the server's own CPU time per request (from
// /proc/PID/stat, the server being a process of its own) for /healthz, a
// signed GetBackendStorage and an accepted CreateBackendStorage, and per
// create carried through to COMPLETED, so the job's share shows apart.
// The load generator runs in this process, on the same cores.
func benchCPU(t testing.TB, p params, rep *report) {
	per := map[string][]float64{} // µs per request, by row
	var rows []string
	add := func(row string, r load.BenchResult) {
		if r.Errors > 0 || r.Requests == 0 {
			t.Fatalf("%s: %+v", row, r)
		}
		if _, ok := per[row]; !ok {
			rows = append(rows, row)
		}
		per[row] = append(per[row], float64(r.CPUPerRequest())/float64(time.Microsecond))
	}
	bench := func(s *testserver.Server, name string, run int, cfg load.BenchConfig) load.BenchResult {
		cfg.Endpoint, cfg.Credentials, cfg.Duration, cfg.ServerPID = s.API, s.APICreds, p.dur, s.PID()
		cfg.Window = profile(t, s, p.dur, fmt.Sprintf("cpu-%s-%d", name, run))
		r, err := load.Bench(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r
	}
	const (
		healthz = "/healthz (unsigned), 32 clients"
		read    = "GetBackendStorage, signed (once per client, replayed), 32 clients"
		held    = "CreateBackendStorage accepted, 64 clients, jobs held (target unreachable: one refused connection per job)"
		live    = "CreateBackendStorage accepted, 64 clients, jobs executing on the embedded gateway (the jobs run in the window included)"
		whole   = "CreateBackendStorage accepted and its job COMPLETED on the embedded gateway, 8 senders"
	)
	for i := range p.runs {
		s := testserver.Start(t, profiled()...)
		createAndWait(t, s, "cpu", "dev", "data", fmt.Sprintf("bench-cpu-%d", i))
		add(healthz, bench(s, "healthz", i, load.BenchConfig{Op: "healthz", Clients: 32}))
		add(read, bench(s, "GetBackendStorage", i, load.BenchConfig{Op: "GetBackendStorage", Clients: 32, App: "cpu", Env: "dev", Resource: "data"}))
		add(whole, createsToCompletion(t, s, p.jobsCPU, i))
		s.Kill()

		creates := load.BenchConfig{Op: "CreateBackendStorage", Clients: 64, App: "cpu", PresignPerClient: int(p.dur.Seconds()*200) + 50}
		h := testserver.StartUnready(t, []string{"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench"}, profiled("--target", "external",
			"--s3-endpoint", "http://127.0.0.1:1", "--iam-endpoint", "http://127.0.0.1:1", "--retry-base", "5s")...)
		add(held, bench(h, "create-held", i, creates))
		h.Kill()
		l := testserver.Start(t, profiled()...)
		add(live, bench(l, "create-live", i, creates))
		l.Kill()
	}
	base := median(per[healthz])
	rep.add("\n### Server CPU per request (the server's own CPU time from /proc/PID/stat; %d runs of %s, interleaved)\n", p.runs, p.dur)
	rep.add("| request | µs of server CPU (median, range) | to /healthz | goal |")
	rep.add("|---|---|---|---|")
	goals := map[string]float64{read: 1.3, live: 2.5, held: 2.5}
	for _, row := range rows {
		m := median(per[row])
		goal := ""
		if g, ok := goals[row]; ok {
			goal = fmt.Sprintf("≤ %g×: %s", g, verdict(m/base, g, false))
		}
		rep.add("| %s | %.1f (%.1f–%.1f) | %.2f× | %s |", row, m, slices.Min(per[row]), slices.Max(per[row]), m/base, goal)
	}
}

// createsToCompletion sends n creates, each to an environment of its own,
// from 8 senders, waits until every job is COMPLETED, and returns the
// server's CPU time over all of it: acceptance, the job's store writes
// and S3/IAM calls on the embedded gateway (in the same process), and the
// polling that learns the outcome (one GetBackendJob per job per 20 ms).
func createsToCompletion(t testing.TB, s *testserver.Server, n, run int) load.BenchResult {
	cpu0, err := load.ReadCPU(s.PID())
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				r, err := s.TryCall("POST", "/backend/cpu/storage", map[string]any{"backendEnvironmentName": fmt.Sprintf("j%d-%04d", run, i), "resourceName": "data",
					"resourceConfig": map[string]any{"serviceName": "S3", "permissions": map[string]any{"authenticated": []string{"READ"}, "unAuthenticated": []string{"READ"}}}})
				if err == nil && r.Status == http.StatusOK {
					ids[i] = r.Str("jobId")
				}
			}
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id == "" {
			t.Fatalf("create %d refused", i)
		}
		if job := s.WaitJob("cpu", fmt.Sprintf("j%d-%04d", run, i), id); job.Str("status") != "COMPLETED" {
			t.Fatalf("job %d: %s", i, job.Raw)
		}
	}
	cpu1, err := load.ReadCPU(s.PID())
	if err != nil {
		t.Fatal(err)
	}
	return load.BenchResult{Requests: n, ServerCPU: cpu1 - cpu0}
}
