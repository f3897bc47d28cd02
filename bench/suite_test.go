// Package bench measures amplifybackendd against the physical limits of the
// machine it runs on, side by side in one run: HTTP reads against the same
// server's /healthz, durable acceptances against a raw bbolt Batch loop on
// the same disk, job completion against the same S3/IAM calls made directly,
// listings in a large store against a small one, and a burst of creates.
//
// It is a benchmark, not a test: it asserts nothing about the figures it
// reports, and `go test ./...` does not run it. `./test.sh` runs it once in
// a short mode only to check that it still works:
//
//	go test -run '^$' -bench Suite -benchtime 1x ./bench
//
// The full run, whose output docs/benchmarks.md records, is
//
//	BENCH_FULL=1 go test -run '^$' -bench Suite -benchtime 1x -v -timeout 60m ./bench
//
// With BENCH_PROFILE=dir, the servers of the reads, writes, cpu and replicas parts
// run with a debug listener, and the suite writes a CPU profile of the
// server over each measured window to dir (`go tool pprof dir/NAME.pprof`).
package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/amplifybackendd/amplifybackendd/internal/load"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// TestMain builds the server only when the suite is asked for, so `go test
// ./...` spends nothing here.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	os.Exit(testserver.Main(m, "../cmd/amplifybackendd", true))
}

// params are the sizes of a run.
type params struct {
	runs                int           // repetitions; medians are reported
	dur                 time.Duration // one throughput measurement
	creates             int           // sequential creates timed end to end
	scaleJobs, scaleRes int           // the large store
	burst               int           // creates sent at once
	stops               int           // SIGTERMs timed
	jobsCPU             int           // creates carried to COMPLETED for their CPU time
}

func sizes() params {
	if os.Getenv("BENCH_FULL") != "" {
		return params{runs: 5, dur: 10 * time.Second, creates: 15, scaleJobs: 1000000, scaleRes: 100000, burst: 1000, stops: 20, jobsCPU: 200}
	}
	return params{runs: 1, dur: time.Second, creates: 2, scaleJobs: 3000, scaleRes: 300, burst: 40, stops: 1, jobsCPU: 10}
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// report collects the markdown the suite prints.
type report struct {
	mu    sync.Mutex
	lines []string
}

func (r *report) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

// rates are one writer's measurements, by name.
type rates struct {
	name  string
	rates []float64
}

// ratios adds a row per writer: its median rate and its ratios to the
// two raw loops' medians a and b, each against the goal.
func (r *report) ratios(a, b, goal float64, rows []rates) {
	for _, row := range rows {
		m := median(row.rates)
		r.add("| %s | %.0f | %.2f× (≥ %g: %s) | %.2f× (≥ %g: %s) |", row.name, m, m/a, goal, verdict(m/a, goal, true), m/b, goal, verdict(m/b, goal, true))
	}
}

// pairRatios lists a[i]/b[i] for measurements taken side by side in one
// run, the spread a shared machine leaves in a ratio.
func pairRatios(a, b []float64) string {
	var out []string
	for i := range min(len(a), len(b)) {
		out = append(out, fmt.Sprintf("%.2f", a[i]/b[i]))
	}
	return strings.Join(out, ", ")
}

func verdict(ratio, bound float64, atLeast bool) string {
	if atLeast == (ratio >= bound) {
		return "meets"
	}
	return "**misses**"
}

func BenchmarkSuite(b *testing.B) {
	if bt := flag.Lookup("test.benchtime"); bt == nil || bt.Value.String() != "1x" {
		b.Fatal("the suite measures with its own clocks and runs once: use -benchtime 1x")
	}
	p := sizes()
	rep := &report{}
	rep.add("Machine: %s, %d runs, medians. Server built without the race detector.", machine(), p.runs)
	b.Run("reads", func(b *testing.B) { benchReads(b, p, rep) })
	b.Run("writes", func(b *testing.B) { benchWrites(b, p, rep) })
	b.Run("cpu", func(b *testing.B) { benchCPU(b, p, rep) })
	b.Run("thin", func(b *testing.B) { benchThin(b, p, rep) })
	b.Run("scale", func(b *testing.B) { benchScale(b, p, rep) })
	b.Run("burst", func(b *testing.B) { benchBurst(b, p, rep) })
	b.Run("stop", func(b *testing.B) { benchStop(b, p, rep) })
	b.Run("replicas", func(b *testing.B) { benchReplicas(b, p, rep) })
	out := strings.Join(rep.lines, "\n") + "\n"
	b.Logf("results:\n%s", out)
	if path := os.Getenv("BENCH_WRITE"); path != "" {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func machine() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return fmt.Sprintf("%s × %d", strings.TrimSpace(v), strings.Count(string(b), "processor\t"))
		}
	}
	return "unknown"
}

func createAndWait(t testing.TB, s *testserver.Server, app, env, name, bucket string) string {
	t.Helper()
	r := testserver.MustOK(t, s.Call("POST", "/backend/"+app+"/storage", map[string]any{"backendEnvironmentName": env, "resourceName": name,
		"resourceConfig": map[string]any{"serviceName": "S3", "bucketName": bucket, "permissions": map[string]any{"authenticated": []string{"READ"}, "unAuthenticated": []string{"READ"}}}}))
	if job := s.WaitJob(app, env, r.Str("jobId")); job.Str("status") != "COMPLETED" {
		t.Fatalf("create: %s", job.Raw)
	}
	return r.Str("jobId")
}

// benchReads: GetBackendStorage and GetBackendJob against /healthz, 32
// keep-alive clients, interleaved per run; reads both replaying one signed
// request per client (the generator's signing off the CPU) and signing
// every request afresh as an SDK does (the generator's signing competing
// with the server on the same two cores).
func benchReads(t testing.TB, p params, rep *report) {
	s := testserver.Start(t, profiled()...)
	jobID := createAndWait(t, s, "bench", "dev", "data", "bench-reads")
	type variant struct {
		op       string
		signEach bool
	}
	variants := []variant{{"healthz", false}, {"GetBackendStorage", false}, {"GetBackendJob", false}, {"GetBackendStorage", true}, {"GetBackendJob", true}}
	rates := map[variant][]float64{}
	p99 := map[variant][]time.Duration{}
	for i := 0; i < p.runs; i++ {
		for _, v := range variants {
			r, err := load.Bench(context.Background(), load.BenchConfig{Endpoint: s.API, Credentials: s.APICreds, Clients: 32, Duration: p.dur,
				Op: v.op, App: "bench", Env: "dev", Resource: "data", JobID: jobID, SignEach: v.signEach,
				Window: profile(t, s, p.dur, fmt.Sprintf("reads-%s-sign-each-%t-%d", v.op, v.signEach, i))})
			if err != nil || r.Errors > 0 {
				t.Fatalf("%+v: %v %+v", v, err, r)
			}
			rates[v] = append(rates[v], r.PerSecond)
			p99[v] = append(p99[v], r.P99)
		}
	}
	base := median(rates[variants[0]])
	rep.add("\n### Reads near the HTTP limit (32 keep-alive clients, SigV4 verified)\n")
	rep.add("| operation | generator signs | requests/s | p99 | ratio to /healthz | goal |")
	rep.add("|---|---|---|---|---|---|")
	rep.add("| /healthz (unsigned) | — | %.0f | %s | 1.00 | |", base, median(p99[variants[0]]).Round(time.Microsecond))
	for _, v := range variants[1:] {
		how := "once per client, replayed"
		if v.signEach {
			how = "every request"
		}
		ratio := median(rates[v]) / base
		rep.add("| %s | %s | %.0f | %s | %.2f | ≥ 0.6: %s |", v.op, how, median(rates[v]), median(p99[v]).Round(time.Microsecond), ratio, verdict(ratio, 0.6, true))
	}
}

// benchWrites: CreateBackendStorage acceptances (64 clients, durable group
// commits) against a raw bbolt Batch loop writing the same number of
// records of the same sizes to the same disk, on two servers: one whose
// target refuses connections, so jobs wait and acceptance is measured alone,
// and one on the default embedded gateway, where jobs execute alongside in
// the same process (the workers yield to API calls in flight); and on a
// third, like the second, with names in random order instead of the
// shared-counter order the raw loop writes its keys in.
func benchWrites(t testing.TB, p params, rep *report) {
	var apiAlone, apiLive, apiRandom, rawDefault, rawTuned []float64
	creates := func(s *testserver.Server, app string, random bool) load.BenchResult {
		r, err := load.Bench(context.Background(), load.BenchConfig{Endpoint: s.API, Credentials: s.APICreds, Clients: 64, Duration: p.dur,
			Op: "CreateBackendStorage", App: app, PresignPerClient: int(p.dur.Seconds()*200) + 50, RandomNames: random,
			Window: profile(t, s, p.dur, app)})
		if err != nil || r.Errors > 0 {
			t.Fatalf("creates: %v %+v", err, r)
		}
		return r
	}
	// Every run starts from an empty store, as the raw loop does, and each
	// server is gone before the next measurement, so no backlog of jobs
	// competes with it.
	for i := 0; i < p.runs; i++ {
		alone := testserver.StartUnready(t, []string{"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench"},
			profiled("--target", "external", "--s3-endpoint", "http://127.0.0.1:1", "--iam-endpoint", "http://127.0.0.1:1", "--retry-base", "5s")...)
		r := creates(alone, fmt.Sprintf("writes-held-%d", i), false)
		alone.Kill()
		apiAlone = append(apiAlone, r.PerSecond)
		live := testserver.Start(t, profiled()...)
		apiLive = append(apiLive, creates(live, fmt.Sprintf("writes-live-%d", i), false).PerSecond)
		live.Kill()
		random := testserver.Start(t, profiled()...)
		apiRandom = append(apiRandom, creates(random, fmt.Sprintf("writes-random-%d", i), true).PerSecond)
		random.Kill()
		rawDefault = append(rawDefault, rawBatch(t, filepath.Join(t.TempDir(), "raw.db"), r.Requests, 0))
		rawTuned = append(rawTuned, rawBatch(t, filepath.Join(t.TempDir(), "raw-tuned.db"), r.Requests, time.Millisecond))
	}
	rep.add("\n### Writes near the disk limit (64 clients, every answer after an fsync)\n")
	rep.add("| writer | accepted per s | to the raw loop at bbolt's defaults | to the raw loop at its fastest (1 ms batches) |")
	rep.add("|---|---|---|---|")
	rep.add("| raw bbolt Batch loop, bbolt's defaults (MaxBatchDelay 10 ms) | %.0f | 1.00 | |", median(rawDefault))
	rep.add("| raw bbolt Batch loop, MaxBatchDelay 1 ms | %.0f | | 1.00 |", median(rawTuned))
	rep.ratios(median(rawDefault), median(rawTuned), 0.6, []rates{
		{"CreateBackendStorage, jobs held (target unreachable)", apiAlone},
		{"CreateBackendStorage, jobs executing on the embedded gateway", apiLive},
		{"CreateBackendStorage, jobs executing, names in random order", apiRandom}})
	ratio := median(apiRandom) / median(apiLive)
	rep.add("\nNames in random order (each create a random environment and resource name, as independent clients send them) against names in shared-counter order, jobs executing: **%.2f×** (goal ≥ 0.8: %s; runs %s).",
		ratio, verdict(ratio, 0.8, true), pairRatios(apiRandom, apiLive))
}

// rawBatch writes n accepts' worth of records (resource, bucket index, job,
// job index, pending index, at the sizes the store writes) with 64 bbolt
// Batch writers and returns records per second. delay is bbolt's
// MaxBatchDelay (0: its default).
func rawBatch(t testing.TB, path string, n int, delay time.Duration) float64 {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if delay > 0 {
		db.MaxBatchDelay = delay
	}
	names := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e")}
	db.Update(func(tx *bolt.Tx) error {
		for _, n := range names {
			tx.CreateBucketIfNotExists(n)
		}
		return nil
	})
	resource, job := make([]byte, 360), make([]byte, 300)
	var seq atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := seq.Add(1)
				if i > int64(n) {
					return
				}
				key := []byte(fmt.Sprintf("app\x00env%08d\x00data", i))
				id := []byte(fmt.Sprintf("%036d", i))
				db.Batch(func(tx *bolt.Tx) error {
					tx.Bucket(names[0]).Put(key, resource)
					tx.Bucket(names[1]).Put([]byte(fmt.Sprintf("bucket-%d", i)), key)
					tx.Bucket(names[2]).Put(id, job)
					tx.Bucket(names[3]).Put(append(key, 1, 2, 3, 4, 5, 6, 7, 8), id)
					return tx.Bucket(names[4]).Put(id, nil)
				})
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// direct returns a target on s's embedded gateway and the job
// configuration the server gives its runner there, for jobs.ApplyCreate:
// the same S3/IAM calls a create job makes, without the job.
func direct(t testing.TB, s *testserver.Server) (*s3iam.Target, jobs.Config) {
	tg, err := s3iam.New(context.Background(), s3iam.Config{S3Endpoint: s.S3, IAMEndpoint: s.IAM,
		AccessKey: s.S3Creds.AccessKeyID, SecretKey: s.S3Creds.SecretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	// The server knows the embedded gateway answers 501 for default
	// encryption and does not try it (Config.KnownGaps); neither does this.
	return tg, jobs.Config{PublicGuestAccess: true, BucketPolicyLimit: 3584, KnownGaps: []jobs.BucketSetting{jobs.SettingDefaultEncryption},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// benchThin: time from CreateBackendStorage's 200 to COMPLETED, against the
// same reconcile steps called directly (jobs.ApplyCreate: same S3/IAM calls,
// no HTTP, no store, no queue); also update and delete through the API.
func benchThin(t testing.TB, p params, rep *report) {
	s := testserver.Start(t)
	tg, cfg := direct(t, s)
	perms := store.Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ"}}
	var viaAPI, direct, update, del []time.Duration
	timed := func(env, path string, body any) time.Duration {
		r := testserver.MustOK(t, s.Call("POST", path, body))
		start := time.Now()
		for {
			j := testserver.MustOK(t, s.Call("GET", "/backend/thin/job/"+env+"/"+r.Str("jobId"), nil))
			if st := j.Str("status"); st != "RUNNING" {
				if st != "COMPLETED" {
					t.Fatalf("%s: %s", path, j.Raw)
				}
				return time.Since(start)
			}
			// Polling is how a client learns the job finished; the short
			// pause bounds what the figure can overstate by.
			time.Sleep(200 * time.Microsecond)
		}
	}
	for i := 0; i < p.creates; i++ {
		// Alternate so both sides see the same gateway state, and give each
		// create an environment of its own on both sides, so both create
		// their roles and no role fills up.
		name, env := "r"+strconv.Itoa(i), "e"+strconv.Itoa(i)
		viaAPI = append(viaAPI, timed(env, "/backend/thin/storage", map[string]any{"backendEnvironmentName": env, "resourceName": name,
			"resourceConfig": map[string]any{"serviceName": "S3", "bucketName": "thin-api-" + strconv.Itoa(i),
				"permissions": map[string]any{"authenticated": perms.Authenticated, "unAuthenticated": perms.Unauthenticated}}}))
		res := store.Resource{ResourceKey: store.ResourceKey{AppID: "direct", Env: env, Name: name}, Bucket: "thin-direct-" + strconv.Itoa(i), Desired: perms}
		start := time.Now()
		if _, err := jobs.ApplyCreate(context.Background(), tg, cfg, res); err != nil {
			t.Fatal(err)
		}
		direct = append(direct, time.Since(start))
		update = append(update, timed(env, "/backend/thin/storage/"+env, map[string]any{"resourceName": name,
			"resourceConfig": map[string]any{"serviceName": "S3", "permissions": map[string]any{"authenticated": []string{"READ", "DELETE"}, "unAuthenticated": []string{}}}}))
		del = append(del, timed(env, "/backend/thin/storage/"+env+"/remove", map[string]any{"resourceName": name, "serviceName": "S3"}))
	}
	ratio := float64(median(viaAPI)) / float64(median(direct))
	rep.add("\n### Thin on top of S3/IAM (embedded gateway)\n")
	rep.add("| path | median | goal |")
	rep.add("|---|---|---|")
	rep.add("| same S3/IAM calls made directly (jobs.ApplyCreate) | %s | |", median(direct).Round(10*time.Microsecond))
	rep.add("| CreateBackendStorage: 200 → COMPLETED | %s (%.2f×) | ≤ 1.25×: %s |", median(viaAPI).Round(10*time.Microsecond), ratio, verdict(ratio, 1.25, false))
	rep.add("| UpdateBackendStorage: 200 → COMPLETED | %s | |", median(update).Round(10*time.Microsecond))
	rep.add("| DeleteBackendStorage: 200 → COMPLETED | %s | |", median(del).Round(10*time.Microsecond))
}

// benchBurst sends many creates at once from 64 senders and waits for all
// to complete on the embedded gateway, then makes the same provisionings
// directly (jobs.ApplyCreate, no API, store or queue) on the same gateway
// from as many goroutines as the runner's ceiling on jobs executing; it
// reports the limit the runner chose from the target's answers.
// Runs alternate which side goes first, so neither always meets the
// gateway fuller.
func benchBurst(t testing.TB, p params, rep *report) {
	const conc = 8 // the server's default --workers
	var accepted, done, direct []time.Duration
	var limits []int64
	for i := 0; i < p.runs; i++ {
		s := testserver.Start(t, "--metrics-listen", "127.0.0.1:0")
		burst := func() {
			a, d := burstOnce(t, s, p.burst)
			accepted, done = append(accepted, a), append(done, d)
			limits = append(limits, int64(s.Metric("amplifybackendd_job_concurrency_limit")))
		}
		if i%2 == 0 {
			burst()
		}
		direct = append(direct, directBurst(t, s, p.burst, conc))
		if i%2 == 1 {
			burst()
		}
		s.Kill()
	}
	ratio := float64(median(done)) / float64(median(direct))
	rep.add("\n### Many jobs at once (embedded gateway; direct: the same provisionings from %d goroutines)\n", conc)
	rep.add("Jobs at once as the runner chose them (up to --workers %d), at the end of each burst: %v.\n", conc, limits)
	rep.add("| creates | all accepted after | all COMPLETED after (range) | jobs per second | same calls made directly (range) | ratio | goal |")
	rep.add("|---|---|---|---|---|---|---|")
	rep.add("| %d | %s | %s (%s–%s) | %.0f | %s (%s–%s) | %.2f× | ≤ 1.25×: %s |", p.burst, median(accepted).Round(time.Millisecond),
		median(done).Round(time.Millisecond), slices.Min(done).Round(time.Millisecond), slices.Max(done).Round(time.Millisecond),
		float64(p.burst)/median(done).Seconds(),
		median(direct).Round(time.Millisecond), slices.Min(direct).Round(time.Millisecond), slices.Max(direct).Round(time.Millisecond),
		ratio, verdict(ratio, 1.25, false))
}

// burstOnce sends n creates at once, each in an environment of its own,
// and returns when all were accepted and when all were COMPLETED.
func burstOnce(t testing.TB, s *testserver.Server, n int) (accepted, done time.Duration) {
	app := "burst" + strconv.FormatInt(time.Now().UnixNano(), 36)
	start := time.Now()
	ids := make([]string, n)
	var failed atomic.Int64
	parallel(64, n, func(i int) {
		r, err := s.TryCall("POST", "/backend/"+app+"/storage", map[string]any{"backendEnvironmentName": fmt.Sprintf("e%04d", i), "resourceName": "data",
			"resourceConfig": map[string]any{"serviceName": "S3", "permissions": map[string]any{"authenticated": []string{"READ"}, "unAuthenticated": []string{"READ"}}}})
		if err != nil || r.Status != http.StatusOK {
			failed.Add(1)
			return
		}
		ids[i] = r.Str("jobId")
	})
	accepted = time.Since(start)
	if failed.Load() > 0 {
		t.Fatalf("%d creates refused", failed.Load())
	}
	for i, id := range ids {
		if job := s.WaitJob(app, fmt.Sprintf("e%04d", i), id); job.Str("status") != "COMPLETED" {
			t.Fatalf("burst job %d: %s", i, job.Raw)
		}
	}
	return accepted, time.Since(start)
}

// directBurst makes n creates' S3/IAM calls with jobs.ApplyCreate from conc
// goroutines on s's gateway, each in an environment and bucket of its own
// as the burst's, and returns how long all took.
func directBurst(t testing.TB, s *testserver.Server, n, conc int) time.Duration {
	tg, cfg := direct(t, s)
	app := "direct" + strconv.FormatInt(time.Now().UnixNano(), 36)
	perms := store.Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ"}}
	var failed atomic.Pointer[error]
	start := time.Now()
	parallel(conc, n, func(i int) {
		res := store.Resource{ResourceKey: store.ResourceKey{AppID: app, Env: fmt.Sprintf("e%04d", i), Name: "data"},
			Bucket: fmt.Sprintf("%s-e%04d", app, i), Desired: perms}
		if _, err := jobs.ApplyCreate(context.Background(), tg, cfg, res); err != nil {
			failed.Store(&err)
		}
	})
	took := time.Since(start)
	if err := failed.Load(); err != nil {
		t.Fatalf("direct create: %v", *err)
	}
	return took
}

// parallel calls fn(0) … fn(n-1) from conc goroutines and returns when all
// have returned.
func parallel(conc, n int, fn func(i int)) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// benchStop times SIGTERM to exit, after a job and with connections held
// open to every port (testserver.HoldIdleConnections): the case that used to
// wait out Versity's 10 s shutdown timeout.
func benchStop(t testing.TB, p params, rep *report) {
	var took []time.Duration
	for i := range p.stops {
		s := testserver.Start(t)
		createAndWait(t, s, "stop", "dev", "data", fmt.Sprintf("bench-stop-%d", i))
		s.HoldIdleConnections()
		code, d := s.Terminate()
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, s.Logs)
		}
		took = append(took, d)
	}
	rep.add("\n### Stopping (SIGTERM to exit, idle and never-used keep-alive connections open to the API, S3 and IAM ports)\n")
	rep.add("| stops | median | slowest | goal ≤ 1 s |")
	rep.add("|---|---|---|---|")
	rep.add("| %d | %s | %s | %s |", len(took), median(took).Round(time.Millisecond), slices.Max(took).Round(time.Millisecond),
		verdict(slices.Max(took).Seconds(), 1, false))
}
