package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// replicaTTL is the lease life of the replicas in these tests: short, so a
// dead replica's jobs move on quickly.
const replicaTTL = 2 * time.Second

// replicas is n runners, each on its own store over one prefix of one
// etcd cluster, all provisioning on the shared embedded gateway: replicas
// of one service. Its fixture is the first replica's.
type replicas struct {
	*fixture
	cluster *etcdtest.Cluster
	prefix  string
	runners []*Runner
	stores  []*store.Store
	targets []*countingTarget
}

// setupReplicas starts an etcd cluster and makes n replicas; none runs
// until start.
func setupReplicas(t *testing.T, n int) *replicas {
	t.Helper()
	t.Parallel()
	rs := &replicas{cluster: etcdtest.Start(t, 1), prefix: "/" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))}
	for range n {
		rs.add(t, rs.cluster.Endpoints(), &countingTarget{Target: gateway})
	}
	rs.fixture = &fixture{t: t, ctx: context.Background(), store: rs.stores[0], target: rs.targets[0], runner: rs.runners[0],
		app: strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))}
	return rs
}

// add makes one more replica reaching etcd at endpoints and the target
// through tg.
func (rs *replicas) add(t *testing.T, endpoints []string, tg *countingTarget) *Runner {
	t.Helper()
	st, err := store.OpenEtcd(context.Background(), store.EtcdOptions{Endpoints: endpoints, Prefix: rs.prefix,
		LeaseTTL: replicaTTL, RequestTimeout: replicaTTL}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := New(st, tg, Config{Workers: 2, PublicGuestAccess: true,
		Retry:  RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rs.runners, rs.stores, rs.targets = append(rs.runners, r), append(rs.stores, st), append(rs.targets, tg)
	return r
}

// run runs r until the test ends (cleanups run in reverse: before its
// store is closed).
func (rs *replicas) run(r *Runner) {
	ctx, cancel := context.WithCancel(rs.ctx)
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	rs.t.Cleanup(func() { cancel(); <-done })
	<-r.Recovered()
}

// calls counts the calls named name (countingTarget's names) that replica
// i made and that changed something.
func (rs *replicas) calls(i int, name string) int {
	rs.targets[i].mu.Lock()
	defer rs.targets[i].mu.Unlock()
	n := 0
	for _, w := range rs.targets[i].log {
		if w == name {
			n++
		}
	}
	return n
}

// TestReplicasSpreadTheWork: 60 creates accepted through three replicas,
// most through the first, all complete, and the work spreads: the other
// two execute more jobs than were accepted through them, each job once.
func TestReplicasSpreadTheWork(t *testing.T) {
	rs := setupReplicas(t, 3)
	for _, r := range rs.runners {
		rs.run(r)
	}
	const n, others = 60, 3 // others: accepted through each of replicas 1 and 2
	via := func(i int) int {
		if i < 2*others {
			return 1 + i%2
		}
		return 0
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Ten environments: jobs of one environment take turns at its
			// role documents, which is not what this test is about.
			k := store.ResourceKey{AppID: rs.app, Env: fmt.Sprintf("e%d", i%10), Name: fmt.Sprintf("r%02d", i)}
			j, err := rs.runners[via(i)].Create(rs.ctx, CreateInput{Key: k, Bucket: rs.bucket(fmt.Sprintf("s%02d", i)),
				Permissions: store.Permissions{Authenticated: []string{"READ"}}})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = j.ID
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, id := range ids {
		if j := rs.wait(id); j.Status != store.StatusCompleted {
			t.Fatalf("job %s: %+v", id, j)
		}
	}
	// Which replica created each bucket (a CreateBucket retried after a
	// transient error is the same execution).
	by := map[string]int{}
	for i, tg := range rs.targets {
		tg.mu.Lock()
		for _, b := range tg.buckets {
			if o, ok := by[b]; ok && o != i {
				t.Errorf("bucket %s created by replicas %d and %d: its job ran twice", b, o, i)
			}
			by[b] = i
		}
		tg.mu.Unlock()
	}
	executed := make([]int, len(rs.runners))
	for _, i := range by {
		executed[i]++
	}
	for i, c := range executed {
		t.Logf("replica %d executed %d creates", i, c)
		if i > 0 && c <= others {
			t.Errorf("replica %d executed %d jobs, no more than were accepted through it", i, c)
		}
	}
	if len(by) != n {
		t.Errorf("%d buckets created for %d creates", len(by), n)
	}
	if left, err := rs.stores[1].UnclaimedPending(rs.ctx); err != nil || len(left) != 0 {
		t.Fatalf("pending after every job completed: %v, %v", left, err)
	}
}

// stallTarget holds every EnsureTags (the step after CreateBucket, which
// a job lets finish whatever happens) until its context ends, as a target
// that stopped answering would, and says when a call arrives. Only the
// context ending lets it go: a replica whose executions are never
// interrupted stays there.
type stallTarget struct {
	*countingTarget
	arrived chan string
	// left, when set, is told of each call its context ended.
	left chan string
}

func (s *stallTarget) EnsureTags(ctx context.Context, b string, _ map[string]string) (bool, error) {
	s.arrived <- b
	<-ctx.Done()
	if s.left != nil {
		s.left <- b
	}
	return false, context.Cause(ctx)
}

// TestDeadReplicasJobsAreFinishedByOthers: replica A holds three jobs in
// flight when it is cut off from etcd (its connection stalls, so its lease
// is not renewed, as for a replica killed or partitioned). Its executions
// stop within the lease's life, writing nothing; the other replicas find
// the jobs unclaimed once the lease has expired and complete them.
func TestDeadReplicasJobsAreFinishedByOthers(t *testing.T) {
	rs := setupReplicas(t, 2)
	proxy, err := faultproxy.New(rs.cluster.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	stall := &stallTarget{countingTarget: &countingTarget{Target: gateway}, arrived: make(chan string, 8), left: make(chan string, 8)}
	a := rs.add(t, []string{proxy.Addr()}, stall.countingTarget)
	a.target = stall
	t.Cleanup(proxy.Resume) // before a's store closes: it revokes its lease
	rs.run(a)

	// Two jobs in flight on a (its two workers), a third accepted and
	// queued there, not yet claimed: all three must be taken over.
	var ids []string
	for i := range 3 {
		j, err := a.Create(rs.ctx, CreateInput{Key: rs.key(fmt.Sprintf("d%d", i)), Bucket: rs.bucket(fmt.Sprintf("d%d", i)),
			Permissions: storageREAD})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
		if i < 2 {
			<-stall.arrived
		}
	}

	for _, r := range rs.runners[:2] {
		rs.run(r)
	}
	term, err := rs.stores[2].Lease(rs.ctx)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Pause()
	<-term.Done() // a's own word that its lease ended
	for _, id := range ids {
		if j := rs.wait(id); j.Status != store.StatusCompleted || j.Error != "" {
			t.Fatalf("job %s after its replica was cut off: %+v", id, j)
		}
	}
	// a's executions were stopped by its lease's end, not left hanging.
	for range 2 {
		select {
		case <-stall.left:
		case <-time.After(time.Minute): // a guard against a hang, timing nothing
			t.Fatal("a's executions go on after its lease ended")
		}
	}
	// a never tagged a bucket: the others did, each once.
	if n := rs.calls(0, "Tags") + rs.calls(1, "Tags"); n != len(ids) {
		t.Fatalf("the other replicas tagged %d buckets for %d jobs", n, len(ids))
	}
}

// TestCancelThroughAnotherReplica: a job stalled in a call on replica A is
// cancelled through replica B's UpdateBackendJob. A notices (its scan),
// interrupts the call, undoes the create and the job ends CANCELLED with
// nothing left.
func TestCancelThroughAnotherReplica(t *testing.T) {
	rs := setupReplicas(t, 2)
	stall := &stallTarget{countingTarget: rs.targets[0], arrived: make(chan string, 1)}
	a, b := rs.runners[0], rs.runners[1]
	a.target = stall
	rs.run(a) // b only answers API calls
	k := rs.key("cancelled")
	j, err := a.Create(rs.ctx, CreateInput{Key: k, Bucket: rs.bucket("cancelled"), Permissions: storageAll})
	if err != nil {
		t.Fatal(err)
	}
	<-stall.arrived
	c, err := b.UpdateJob(rs.ctx, k.AppID, k.Env, j.ID, "", store.StatusCancelled)
	if err != nil || c.Status != store.StatusCancelled {
		t.Fatalf("cancel through b: %+v, %v", c, err)
	}
	got := rs.wait(j.ID)
	if got.Status != store.StatusCancelled || got.Undo {
		t.Fatalf("job after a cancel through another replica: %+v", got)
	}
	if _, err := rs.resource(k); err == nil {
		t.Fatal("the cancelled create's resource is still recorded")
	}
}

// TestConcurrentJobsOfOneEnvironmentOnReplicas is
// TestConcurrentJobsOfOneEnvironmentKeepEachOthersGrants over three
// replicas: a dozen jobs of one environment spread over them, each
// rewriting the same role documents, and none drops another's grants.
func TestConcurrentJobsOfOneEnvironmentOnReplicas(t *testing.T) {
	rs := setupReplicas(t, 3)
	shared := &countingTarget{Target: gateway} // one log of every replica's writes
	for i, r := range rs.runners {
		r.cfg.Workers = 4
		r.target, rs.targets[i] = shared, shared
		rs.run(r)
	}
	rs.target = shared
	testConcurrentJobsOfOneEnvironment(rs.fixture, func(i int) *Runner { return rs.runners[i%3] })
}
