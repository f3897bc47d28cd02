package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/external"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/store"
)

const app = "chaos"

// op is one change a worker asked for.
type op struct {
	key    store.ResourceKey
	kind   store.Operation
	bucket string // create and import
	perms  store.Permissions
}

// ledger is what the clients know: the jobs answered 200 and what each
// asked for, and every bucket a create or import named.
type ledger struct {
	mu       sync.Mutex
	accepted map[string]op
	buckets  map[string]bool
}

func (l *ledger) accept(id string, o op) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepted[id] = o
}

func (l *ledger) bucket(b string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buckets[b] = true
}

// worker changes one resource, one call at a time: what it believes the
// resource is decides its next call, and every answer corrects the belief.
type worker struct {
	key      store.ResourceKey
	imported bool // the resource is an imported bucket, named after it
	exists   bool
	n        int
	rng      *rand.Rand
}

func (w *worker) run(ctx context.Context, stop <-chan struct{}, c *rotation, l *ledger) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		o, method, path, body := w.choose()
		if o.bucket != "" {
			l.bucket(o.bucket)
		}
		a := c.call(ctx, method, path, body)
		switch {
		case a.status == http.StatusOK:
			id := a.str("jobId")
			l.accept(id, o)
			if o.kind != store.OpDelete && w.rng.IntN(5) == 0 {
				// Cancelled at once: it lands while the job runs on some
				// replica, or is refused because the job already finished.
				c.call(ctx, http.MethodPost, fmt.Sprintf("/backend/%s/job/%s/%s", app, w.key.Env, id),
					map[string]any{"operation": string(o.kind), "status": "CANCELLED"})
			}
			switch status := c.jobStatus(ctx, stop, w.key.Env, id); {
			case status == "COMPLETED":
				w.exists = o.kind != store.OpDelete
			case status != "" && o.kind != store.OpUpdate:
				w.exists = o.kind == store.OpDelete
			}
		case a.status == http.StatusNotFound:
			w.exists = false
		case a.status == http.StatusBadRequest && strings.Contains(a.str("message"), "already exists"):
			w.exists = true
		case a.status == http.StatusBadRequest:
			// Most often a pending job of this resource, from a call whose
			// answer was lost: wait for it as a client would.
			select {
			case <-stop:
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// choose draws the next call from what the worker believes.
func (w *worker) choose() (o op, method, path string, body map[string]any) {
	w.n++
	o.key = w.key
	base := fmt.Sprintf("/backend/%s/storage", app)
	perms := func() []string {
		var p []string
		for _, e := range []string{"READ", "CREATE_AND_UPDATE", "DELETE"} {
			if w.rng.IntN(2) == 0 {
				p = append(p, e)
			}
		}
		// Recorded as the store keeps them, so they compare with Equal.
		p, _ = jobs.NormalizePermissions("", p)
		return p
	}
	permsBody := func() map[string]any {
		o.perms = store.Permissions{Authenticated: perms(), Unauthenticated: perms()}
		return map[string]any{"authenticated": nonNil(o.perms.Authenticated), "unAuthenticated": nonNil(o.perms.Unauthenticated)}
	}
	k := w.rng.IntN(10)
	switch {
	case !w.exists && w.imported:
		o.kind, o.bucket = store.OpImport, w.key.Name
		return o, http.MethodPost, base + "/" + w.key.Env + "/import", map[string]any{"serviceName": "S3", "bucketName": o.bucket}
	case !w.exists:
		o.kind, o.bucket = store.OpCreate, fmt.Sprintf("chaos-%s-%s-%d", w.key.Env, w.key.Name, w.n)
		return o, http.MethodPost, base, map[string]any{"backendEnvironmentName": w.key.Env, "resourceName": w.key.Name,
			"resourceConfig": map[string]any{"bucketName": o.bucket, "serviceName": "S3", "permissions": permsBody()}}
	case k < 7:
		o.kind = store.OpUpdate
		return o, http.MethodPost, base + "/" + w.key.Env, map[string]any{"resourceName": w.key.Name,
			"resourceConfig": map[string]any{"serviceName": "S3", "permissions": permsBody()}}
	default:
		o.kind = store.OpDelete
		return o, http.MethodPost, base + "/" + w.key.Env + "/remove", map[string]any{"resourceName": w.key.Name, "serviceName": "S3"}
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestChaos runs the workload on three replicas while replicas are killed
// and etcd members stopped, checks what the store and the target hold, then
// partitions one replica from etcd (see the package documentation).
func TestChaos(t *testing.T) {
	external.Require(t)
	began := time.Now()
	kills := 12
	if v, err := strconv.Atoi(os.Getenv("CHAOS_KILLS")); err == nil {
		kills = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("CHAOS_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("chaos run: CHAOS_SEED=%d CHAOS_KILLS=%d", seed, kills)
	sched := rand.New(rand.NewPCG(seed, 0))

	c := startCluster(t)
	setup := time.Since(began)
	ctx := t.Context()
	l := &ledger{accepted: map[string]op{}, buckets: map[string]bool{}}
	var workers []*worker
	for e := range 4 {
		for _, name := range []string{"a", "b"} {
			// Two resources per environment: their jobs, on different
			// replicas, share the environment's role documents.
			workers = append(workers, &worker{key: store.ResourceKey{AppID: app, Env: fmt.Sprintf("e%d", e), Name: name}})
		}
	}
	for i := range 2 {
		b := fmt.Sprintf("chaos-import-%d", i)
		if _, err := c.gw.S3Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
		l.bucket(b)
		workers = append(workers, &worker{key: store.ResourceKey{AppID: app, Env: fmt.Sprintf("i%d", i), Name: b}, imported: true})
	}
	client := newRotation(c)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, w := range workers {
		w.rng = rand.New(rand.NewPCG(seed, uint64(i+1)))
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx, stop, client, l) }()
	}

	// The faults, from this goroutine (etcdtest and testserver fail the
	// test on a failed start). Each round kills a replica and starts it
	// again; every fourth round stops an etcd member, and the round after
	// next starts it again, so at most one member is down at a time; every
	// third round also stalls another replica past its lease.
	memberStops, pauses := 0, 0
	stopped := -1
	for k := range kills {
		// Not synchronisation: a kill is meant to land at a moment of the
		// workload nobody chose, and the seeded schedule draws it.
		time.Sleep(time.Duration(200+sched.IntN(600)) * time.Millisecond)
		victim := c.replicas[sched.IntN(nReplicas)]
		victim.srv.Kill()
		switch {
		case k%4 == 1:
			stopped = (k / 4) % nMembers
			c.etcd.Members()[stopped].Stop()
			memberStops++
		case k%4 == 3 && stopped >= 0:
			c.etcd.Members()[stopped].Restart()
			stopped = -1
		}
		victim.srv.Restart()
		if k%3 == 2 {
			// A replica stalls past its lease (SIGSTOP, as a long pause of
			// the process or its machine would) and then goes on: other
			// replicas have taken its jobs, and its writes must be fenced.
			paused := c.replicas[(victim.i+1+sched.IntN(nReplicas-1))%nReplicas]
			paused.srv.Signal(syscall.SIGSTOP)
			time.Sleep(leaseTTL + time.Second) // the length of the stall, not a wait for anything
			paused.srv.Signal(syscall.SIGCONT)
			pauses++
		}
	}
	if stopped >= 0 {
		c.etcd.Members()[stopped].Restart()
	}
	close(stop)
	wg.Wait()
	workload := time.Since(began) - setup
	t.Logf("after the faults, every pending job has a live claim (%d pending)", c.claimedOrDone(t))

	c.settle(t)
	verify(t, c, l)
	if t.Failed() {
		t.Fatalf("invariants broken after the faults (CHAOS_SEED=%d)\n%s", seed, c.logs())
	}

	takeover := partition(t, c, l, seed)
	c.settle(t)
	verify(t, c, l)
	if t.Failed() {
		t.Fatalf("invariants broken after the partition (CHAOS_SEED=%d)\n%s", seed, c.logs())
	}

	wall := time.Since(began)
	summary := summarize(c, l, client.tally, seed, kills, memberStops, pauses, setup, workload, takeover, wall)
	t.Log(summary)
	if err := os.WriteFile(filepath.Join(external.ArtifactsDir(t, "chaos"), "summary.txt"), []byte(summary), 0o644); err != nil {
		t.Fatal(err)
	}
}

// summarize writes the run's figures: what was done to the cluster, what
// the clients saw, how the jobs ended and what the target was asked.
func summarize(c *cluster, l *ledger, tl *tally, seed uint64, kills, memberStops, pauses int,
	setup, workload, takeover, wall time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CHAOS_SEED=%d: %d kill -9s of replicas (each restarted), %d etcd member stops (each restarted), "+
		"%d replicas stopped for %v (SIGSTOP, then SIGCONT), 1 partition\n", seed, kills, memberStops, pauses, leaseTTL+time.Second)
	fmt.Fprintf(&b, "wall %v (setup %v, workload under faults %v); partitioned replica's job taken over %v after the partition began (lease TTL %v)\n",
		wall.Round(time.Second), setup.Round(time.Second), workload.Round(time.Second), takeover.Round(100*time.Millisecond), leaseTTL)
	tl.mu.Lock()
	var codes []int
	for code := range tl.byStatus {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	fmt.Fprintf(&b, "client attempts %d, calls given up %d; answers:", tl.attempts, tl.gaveUp)
	for _, code := range codes {
		name := strconv.Itoa(code)
		if code == 0 {
			name = "no answer"
		}
		fmt.Fprintf(&b, " %s=%d", name, tl.byStatus[code])
	}
	tl.mu.Unlock()
	statuses := map[store.Status]int{}
	c.store.View(context.Background(), func(tx *store.Tx) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		for id := range l.accepted {
			if j, err := tx.Job(id); err == nil {
				statuses[j.Status]++
			}
		}
		return nil
	})
	fmt.Fprintf(&b, "\njobs answered 200: %d (COMPLETED %d, FAILED %d, CANCELLED %d)\ntarget calls (answered 2xx/all):",
		len(l.accepted), statuses[store.StatusCompleted], statuses[store.StatusFailed], statuses[store.StatusCancelled])
	calls := map[string][2]int{}
	for _, r := range c.replicas {
		for _, e := range r.targetLog() {
			n := calls[opName(e)]
			n[1]++
			if e.Status/100 == 2 {
				n[0]++
			}
			calls[opName(e)] = n
		}
	}
	var names []string
	for n := range calls {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, " %s=%d/%d", n, calls[n][0], calls[n][1])
	}
	b.WriteString("\n")
	return b.String()
}
