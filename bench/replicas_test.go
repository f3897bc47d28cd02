package bench

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
	"github.com/amplifybackendd/amplifybackendd/internal/load"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// replicaTTL is the lease life the replicas of the resume measurement run
// with: short, so the figure is seconds, and long enough that a busy
// two-core machine renews it in time.
const replicaTTL = 3 * time.Second

// benchReplicas measures several replicas on etcd (issue 19): acceptances
// with one and three replicas on a three-member etcd cluster, beside raw
// loops of etcd transactions of the same size issued by one Go client
// with the same concurrency; signed reads on each replica beside its
// /healthz; and the time from kill -9 of the replica executing a job to
// the job COMPLETED by another. The cluster runs in this process
// (go.etcd.io/etcd/server/v3/embed), the shared target is `amplifybackendd
// gateway`, and the replicas are the real binary.
func benchReplicas(t testing.TB, p params, rep *report) {
	cluster := etcdtest.Start(t, 3)
	gw := testserver.StartGateway(t)
	keys := t.TempDir()
	endpoints := strings.Join(cluster.Endpoints(), ",")
	onEtcd := func(prefix string) []string {
		return []string{"--store", "etcd", "--etcd-endpoints", endpoints, "--etcd-prefix", prefix,
			"--keys-dir", keys, "--etcd-lease-ttl", replicaTTL.String(), "--metrics-listen", "127.0.0.1:0"}
	}
	replica := func(prefix string, extra ...string) *testserver.Server {
		args := append(append(gw.ServerArgs(), onEtcd(prefix)...), extra...)
		return testserver.StartEnv(t, gw.ServerEnv(), profiled(args...)...)
	}
	// held is a replica whose target refuses connections: its jobs wait,
	// and acceptance is measured alone, as the raw loops do nothing else
	// (the single-process figures have the same pair).
	held := func(prefix string) *testserver.Server {
		args := append([]string{"--target", "external", "--s3-endpoint", "http://127.0.0.1:1", "--iam-endpoint", "http://127.0.0.1:1",
			"--retry-base", "5s"}, onEtcd(prefix)...)
		return testserver.StartUnready(t, []string{"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench"}, profiled(args...)...)
	}
	// creates runs the accept load on s, writing a CPU profile of s over
	// the window named after app when profiles are asked for.
	creates := func(s *testserver.Server, app string, clients int) load.BenchResult {
		r, err := load.Bench(context.Background(), load.BenchConfig{Endpoint: s.API, Credentials: s.APICreds, Clients: clients, Duration: p.dur,
			Op: "CreateBackendStorage", App: app, PresignPerClient: int(p.dur.Seconds()*100) + 50,
			Window: profile(t, s, p.dur, "replicas-"+app)})
		if err != nil || r.Errors > 0 {
			t.Fatalf("creates: %v %+v", err, r)
		}
		return r
	}
	cli := cluster.Client(t)

	// together runs the accept load on replicas, 64 clients in all
	// (22 + 21 + 21 on three), and returns their sum and how often a
	// transaction ran again because another replica changed what it read,
	// over how many group commits: what the replicas' commits cost each
	// other.
	together := func(rs []*testserver.Server, app string) (sum, lost, commits float64) {
		var total atomic.Int64
		var wg sync.WaitGroup
		for k, s := range rs {
			wg.Go(func() {
				clients := 64 / len(rs)
				if k < 64%len(rs) {
					clients++
				}
				r := creates(s, fmt.Sprintf("%s-%d", app, k), clients)
				total.Add(int64(r.PerSecond))
			})
		}
		wg.Wait()
		for _, s := range rs {
			lost += s.Metric("amplifybackendd_store_commits_lost_total")
			commits += s.Metric("amplifybackendd_store_commit_transactions_count")
			s.Kill()
		}
		return float64(total.Load()), lost, commits
	}

	var one, three, oneHeld, threeHeld, guarded, plain, lost, commits []float64
	for i := range p.runs {
		n, _, _ := together([]*testserver.Server{replica(fmt.Sprintf("/bench-one-%d", i))}, fmt.Sprintf("one%d", i))
		one = append(one, n)
		prefix := fmt.Sprintf("/bench-three-%d", i)
		n, l, c := together([]*testserver.Server{replica(prefix), replica(prefix), replica(prefix)}, fmt.Sprintf("three%d", i))
		three, lost, commits = append(three, n), append(lost, l), append(commits, c)

		n, _, _ = together([]*testserver.Server{held(fmt.Sprintf("/bench-one-held-%d", i))}, fmt.Sprintf("oneheld%d", i))
		oneHeld = append(oneHeld, n)
		prefix = fmt.Sprintf("/bench-three-held-%d", i)
		n, _, _ = together([]*testserver.Server{held(prefix), held(prefix), held(prefix)}, fmt.Sprintf("threeheld%d", i))
		threeHeld = append(threeHeld, n)

		guarded = append(guarded, rawEtcd(t, cli, fmt.Sprintf("/raw-guarded-%d", i), p.dur, true))
		plain = append(plain, rawEtcd(t, cli, fmt.Sprintf("/raw-plain-%d", i), p.dur, false))
	}

	rep.add("\n### Several replicas on a three-member etcd cluster (64 clients in all)\n")
	rep.add("| writer | accepted per s | to the raw loop guarded as the store's commits | to the raw loop without a guard |")
	rep.add("|---|---|---|---|")
	rep.add("| raw loop, one Go client: one Txn of 6 puts compared on 5 keys being absent, as an accept's commit compares what it read | %.0f | 1.00 | |", median(guarded))
	rep.add("| raw loop, one Go client: one Txn of the same 6 puts, no compare | %.0f | | 1.00 |", median(plain))
	rep.ratios(median(guarded), median(plain), 0.5, []rates{
		{"CreateBackendStorage, 1 replica, jobs executing on `amplifybackendd gateway`", one},
		{"CreateBackendStorage, 3 replicas (21–22 clients each), jobs executing on the gateway", three},
		{"CreateBackendStorage, 1 replica, jobs held (target unreachable)", oneHeld},
		{"CreateBackendStorage, 3 replicas, jobs held", threeHeld}})
	rep.add("\nWith 3 replicas, transactions that ran again because another replica changed what they read: %.0f over %.0f group commits (median run).",
		median(lost), median(commits))

	// Reads: each replica of a three-replica store against its own /healthz.
	prefix := "/bench-reads"
	rs := []*testserver.Server{replica(prefix), replica(prefix), replica(prefix)}
	jobID := createAndWait(t, rs[0], "bench", "dev", "data", "bench-replica-reads")
	rep.add("\n| replica | /healthz per s | GetBackendStorage per s (signed once per client) | ratio | GetBackendJob per s | ratio |")
	rep.add("|---|---|---|---|---|---|")
	for k, s := range rs {
		rates := map[string][]float64{}
		for range p.runs {
			for _, op := range []string{"healthz", "GetBackendStorage", "GetBackendJob"} {
				r, err := load.Bench(context.Background(), load.BenchConfig{Endpoint: s.API, Credentials: s.APICreds, Clients: 32, Duration: p.dur,
					Op: op, App: "bench", Env: "dev", Resource: "data", JobID: jobID})
				if err != nil || r.Errors > 0 {
					t.Fatalf("%s on replica %d: %v %+v", op, k, err, r)
				}
				rates[op] = append(rates[op], r.PerSecond)
			}
		}
		h := median(rates["healthz"])
		gs, gj := median(rates["GetBackendStorage"])/h, median(rates["GetBackendJob"])/h
		rep.add("| %d | %.0f | %.0f | %.2f (≥ 0.6: %s) | %.0f | %.2f (≥ 0.6: %s) |", k+1, h, median(rates["GetBackendStorage"]), gs, verdict(gs, 0.6, true),
			median(rates["GetBackendJob"]), gj, verdict(gj, 0.6, true))
	}
	for _, s := range rs {
		s.Kill()
	}

	var resumed []time.Duration
	for i := range p.runs {
		resumed = append(resumed, resumeAfterKill(t, replica, gw, fmt.Sprintf("/bench-resume-%d", i)))
	}
	rep.add("\n| lease TTL | kill -9 of the replica executing a job → COMPLETED by another (median of %d) | slowest | goal ≤ TTL + 1 s |", len(resumed))
	rep.add("|---|---|---|---|")
	rep.add("| %s | %s | %s | %s |", replicaTTL, median(resumed).Round(time.Millisecond), slices.Max(resumed).Round(time.Millisecond),
		verdict(slices.Max(resumed).Seconds(), (replicaTTL+time.Second).Seconds(), false))
}

// resumeAfterKill starts replica a, then holds its calls to the target at
// a paused proxy, has it accept a create, and once the job's first call
// hangs there kills a with SIGKILL; replica b, started after a held the
// job, finishes it. It returns the time from the kill to the job read as
// COMPLETED through b (polled every 10 ms), which includes the job's own
// execution, a few tens of milliseconds.
func resumeAfterKill(t testing.TB, replica func(string, ...string) *testserver.Server, gw *testserver.Gateway, prefix string) time.Duration {
	var proxies []*faultproxy.Proxy
	for _, endpoint := range []string{gw.S3, gw.IAM} {
		u, err := url.Parse(endpoint)
		if err != nil {
			t.Fatal(err)
		}
		px, err := faultproxy.New(u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer px.Close()
		proxies = append(proxies, px)
	}
	// a is ready (its target answered) before its calls are held.
	a := replica(prefix, "--s3-endpoint", proxies[0].URL(), "--iam-endpoint", proxies[1].URL())
	for _, px := range proxies {
		px.Pause()
	}
	job := testserver.MustOK(t, a.Call("POST", "/backend/resume/storage", map[string]any{"backendEnvironmentName": "dev", "resourceName": "data",
		"resourceConfig": map[string]any{"serviceName": "S3", "permissions": map[string]any{"authenticated": []string{"READ"}, "unAuthenticated": []string{"READ"}}}}))
	select {
	case <-proxies[0].Stalled():
	case <-proxies[1].Stalled():
	case <-time.After(time.Minute):
		t.Fatalf("replica a never called the target; log:\n%s", a.Logs)
	}
	b := replica(prefix)
	defer b.Kill()
	killed := time.Now()
	a.Kill()
	for {
		r := b.Call("GET", "/backend/resume/job/dev/"+job.Str("jobId"), nil)
		if r.Str("status") == "COMPLETED" {
			return time.Since(killed)
		}
		if r.Status != 200 || r.Str("status") != "RUNNING" {
			t.Fatalf("job read through b: %s", r.Raw)
		}
		if time.Since(killed) > time.Minute {
			t.Fatalf("job not resumed a minute after the kill; b's log:\n%s", b.Logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawEtcd issues acceptances' worth of etcd transactions for d from 64
// goroutines sharing one client: records of the sizes an acceptance
// writes (resource, bucket index, job, job index, pending index) and the
// commit key. guarded compares each record's key absent (its mod
// revision 0) in the Txn, as the store's commit compares the keys an
// accept read; otherwise the puts go in one Txn with no compare, etcd's
// own ceiling for that write set. Each Txn is one acceptance: the loop
// batches nothing. It returns acceptances per second.
func rawEtcd(t testing.TB, cli *clientv3.Client, prefix string, d time.Duration, guarded bool) float64 {
	ctx := context.Background()
	commitKey := prefix + "/"
	resource, job := strings.Repeat("r", 360), strings.Repeat("j", 300)
	var seq, done atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	end := start.Add(d)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				i := seq.Add(1)
				key := fmt.Sprintf("%s/by-env/app\x00env%08d\x00rdata", prefix, i)
				id := fmt.Sprintf("%036d", i)
				puts := []clientv3.Op{
					clientv3.OpPut(key, resource),
					clientv3.OpPut(fmt.Sprintf("%s/buckets/bucket-%d", prefix, i), key),
					clientv3.OpPut(prefix+"/jobs/"+id, job),
					clientv3.OpPut(fmt.Sprintf("%s/by-env/app\x00env%08d\x00j%s", prefix, i, id), id),
					clientv3.OpPut(prefix+"/pending/"+id, ""),
					clientv3.OpPut(commitKey, id),
				}
				for {
					txn := cli.Txn(ctx)
					if guarded {
						var cmps []clientv3.Cmp
						for _, op := range puts[:len(puts)-1] {
							cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(string(op.KeyBytes())), "=", 0))
						}
						txn = txn.If(cmps...)
					}
					resp, err := txn.Then(puts...).Commit()
					if err != nil {
						failed.Store(err)
						return
					}
					if resp.Succeeded {
						done.Add(1)
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("raw etcd loop: %v", err)
	}
	return float64(done.Load()) / time.Since(start).Seconds()
}
