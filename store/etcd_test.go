package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/metrics"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// setupEtcd is setup for a store kept in etcd under a new prefix of the
// cluster at endpoints.
func setupEtcd(t *testing.T, endpoints []string) *fixture {
	t.Helper()
	t.Parallel()
	prefix := newEtcdPrefix()
	s := openEtcd(t, endpoints, prefix)
	return &fixture{t: t, path: s.Path(), s: s, ctx: context.Background(),
		reopen: func(o Options) (*Store, error) {
			return OpenEtcd(context.Background(), EtcdOptions{Endpoints: endpoints, Prefix: prefix}, o)
		}}
}

// openEtcd opens the store under prefix, closed at cleanup.
func openEtcd(t testing.TB, endpoints []string, prefix string) *Store {
	t.Helper()
	s, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: endpoints, Prefix: prefix}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStoreOnEtcdReplicas: two stores over one prefix, as two replicas,
// open together (the migrations commit once) and write concurrently: a
// bucket is claimed by one resource only, and every job gets its own
// place in the newest-first index, as with one bbolt writer.
func TestStoreOnEtcdReplicas(t *testing.T) {
	t.Parallel()
	endpoints, prefix := sharedEtcd(t), newEtcdPrefix()
	replicas := make([]*Store, 2)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { replicas[i] = openEtcd(t, endpoints, prefix) })
	}
	wg.Wait()
	if replicas[0] == nil || replicas[1] == nil {
		t.FailNow()
	}
	if string(replicas[0].TokenKey()) != string(replicas[1].TokenKey()) {
		t.Fatal("replicas opened the same prefix with different token keys")
	}

	const perReplica = 8
	errs := make(chan error, 2*perReplica)
	ctx := context.Background()
	for i, s := range replicas {
		for n := range perReplica {
			wg.Go(func() {
				name := fmt.Sprintf("r%d-%d", i, n)
				errs <- s.Batch(ctx, func(tx *Tx) error {
					if err := tx.InsertJob(newJob("job-"+name, "app", "dev", name, StatusCompleted)); err != nil {
						return err
					}
					return tx.CreateResource(newResource("app", "dev", name, "shared-bucket"))
				})
			})
		}
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		var taken *BucketTakenError
		switch {
		case err == nil:
			won++
		case !errors.As(err, &taken):
			t.Errorf("a losing claim: %v, want BucketTakenError", err)
		}
	}
	if won != 1 {
		t.Errorf("%d resources claimed the bucket, want 1", won)
	}
	// Only the winner's job committed (a failed call's writes are dropped
	// with it), in the index the other replica reads.
	var jobs []Job
	if err := replicas[1].View(ctx, func(tx *Tx) (err error) {
		jobs, _, err = tx.Jobs("app", "dev", nil, 25, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Fatalf("%d jobs listed, want the winner's", len(jobs))
	}

	// Without the claim, every job lands, each at its own index place.
	errs = make(chan error, 2*perReplica)
	for i, s := range replicas {
		for n := range perReplica {
			wg.Go(func() {
				errs <- s.Batch(ctx, func(tx *Tx) error {
					return tx.InsertJob(newJob(fmt.Sprintf("more-%d-%d", i, n), "app", "dev", "x", StatusCompleted))
				})
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := replicas[0].View(ctx, func(tx *Tx) (err error) {
		jobs, _, err = tx.Jobs("app", "dev", nil, 25, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := 1 + 2*perReplica; len(jobs) != want {
		t.Fatalf("%d jobs listed, want %d", len(jobs), want)
	}
}

// TestEtcdGroupCommitSplits: a group of calls whose writes together pass
// etcd's limit on operations per Txn (128 by default) commits in parts,
// every call applied, and each call runs at most twice (once in the Txn
// it did not fit in); a call too large alone fails alone.
func TestEtcdGroupCommitSplits(t *testing.T) {
	f := setupEtcd(t, sharedEtcd(t))
	const calls = 100 // a job's insert is several writes: far past 128
	batch := make([]*commit, calls+1)
	runs := make([]int, calls)
	for i := range calls {
		batch[i] = &commit{done: make(chan error, 1), fn: func(tx *Tx) error {
			runs[i]++
			return tx.InsertJob(newJob(fmt.Sprintf("job-%03d", i), "app", "dev", "r", StatusRunning))
		}}
	}
	batch[calls] = &commit{done: make(chan error, 1), fn: func(tx *Tx) error {
		for i := range 200 {
			if err := tx.InsertJob(newJob(fmt.Sprintf("big-%03d", i), "app", "dev", "r", StatusRunning)); err != nil {
				return err
			}
		}
		return nil
	}}
	f.s.commitBatch(batch)
	for i, c := range batch[:calls] {
		if err := <-c.done; err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if runs[i] > 2 {
			t.Errorf("call %d ran %d times", i, runs[i])
		}
	}
	if err := <-batch[calls].done; !errors.Is(err, errTxnTooLarge) {
		t.Errorf("a call past the limit alone: %v, want errTxnTooLarge", err)
	}
	var pending []string
	f.mustUpdate(func(tx *Tx) error { pending = tx.PendingJobs(); return nil })
	if len(pending) != calls {
		t.Fatalf("%d jobs committed, want %d", len(pending), calls)
	}
}

// TestOpenEtcdRefusesBadOptions: options that cannot name a store are
// refused, naming the option and its rule, before anything connects.
func TestOpenEtcdRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		opts EtcdOptions
		want string
	}{
		{EtcdOptions{}, "etcd endpoints: at least one is required"},
		{EtcdOptions{Endpoints: []string{"127.0.0.1:1"}, Prefix: "/a/"}, `etcd prefix "/a/": must not end in /`},
	} {
		_, err := OpenEtcd(context.Background(), c.opts, Options{})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want ErrInvalid saying %q", c.opts, err, c.want)
		}
	}
}

// TestOpenEtcdRefusesNestedPrefixes: a store under P/jobs keeps its keys
// in the range of the jobs bucket of a store under P, so whichever opens
// second is refused, naming both prefixes, and the first store keeps
// working (it used to open, and the outer store then failed its checks).
func TestOpenEtcdRefusesNestedPrefixes(t *testing.T) {
	t.Parallel()
	endpoints := sharedEtcd(t)
	ctx := context.Background()
	for _, c := range []struct{ first, second string }{
		{"", "/jobs"}, // the outer store first
		{"/jobs", ""}, // the inner one first
		{"", "/x/y"},  // not a bucket's name, two levels down
	} {
		prefix := newEtcdPrefix()
		s := openEtcd(t, endpoints, prefix+c.first)
		if err := s.Update(ctx, func(tx *Tx) error { return tx.InsertJob(newJob("j1", "app", "dev", "r", StatusRunning)) }); err != nil {
			t.Fatal(err)
		}
		_, err := OpenEtcd(ctx, EtcdOptions{Endpoints: endpoints, Prefix: prefix + c.second}, Options{})
		inner, outer := prefix+c.second, prefix+c.first
		if c.first != "" {
			inner, outer = outer, inner
		}
		want := fmt.Sprintf("etcd under %s is inside the store under %s", inner, outer)
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s then %s: %v, want ErrConflict saying %q", c.first, c.second, err, want)
		}
		if err := s.Update(ctx, func(tx *Tx) error { return tx.InsertJob(newJob("j2", "app", "dev", "r", StatusRunning)) }); err != nil {
			t.Fatalf("the store opened first no longer writes: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s, err = OpenEtcd(ctx, EtcdOptions{Endpoints: endpoints, Prefix: prefix + c.first}, Options{Check: CheckFull}); err != nil {
			t.Fatalf("the store opened first does not open again: %v", err)
		}
		s.Close()
	}
}

// TestOpenEtcdRefusesForeignKeys: a prefix holding another program's keys
// and no store is refused, naming a key, and nothing is written there (it
// used to be taken for a new store: the migrations wrote beside the keys,
// then failed reading one as a job).
func TestOpenEtcdRefusesForeignKeys(t *testing.T) {
	t.Parallel()
	endpoints := sharedEtcd(t)
	ctx := context.Background()
	cli := sharedClient(t)
	for _, key := range []string{"/config/x", "/jobs/abc"} {
		prefix := newEtcdPrefix()
		if _, err := cli.Put(ctx, prefix+key, "not a record"); err != nil {
			t.Fatal(err)
		}
		_, err := OpenEtcd(ctx, EtcdOptions{Endpoints: endpoints, Prefix: prefix}, Options{})
		want := fmt.Sprintf("etcd under %s holds keys that are not an amplifybackendd store (%s%s)", prefix, prefix, key)
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want ErrConflict saying %q", key, err, want)
		}
		resp, err := cli.Get(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || resp.Count != 1 {
			t.Fatalf("%s: the prefix holds %d keys (%v), want only the foreign one", key, resp.Count, err)
		}
	}
}

// TestOpenEtcdWithRoleOnItsPrefix: an etcd user whose role grants the
// store's prefix alone opens it, though it may not read the prefixes
// around it for another store (etcd answers those reads "permission
// denied").
func TestOpenEtcdWithRoleOnItsPrefix(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1)
	ctx := context.Background()
	cli := cluster.Client(t)
	const prefix = "/team/amp"
	for _, step := range []func() error{
		func() (err error) { _, err = cli.RoleAdd(ctx, "root"); return err },
		func() (err error) { _, err = cli.UserAdd(ctx, "root", "root-secret"); return err },
		func() (err error) { _, err = cli.UserGrantRole(ctx, "root", "root"); return err },
		func() (err error) { _, err = cli.RoleAdd(ctx, "amp"); return err },
		func() (err error) {
			_, err = cli.RoleGrantPermission(ctx, "amp", prefix+"/", clientv3.GetPrefixRangeEnd(prefix+"/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() (err error) { _, err = cli.UserAdd(ctx, "amp", "amp-secret"); return err },
		func() (err error) { _, err = cli.UserGrantRole(ctx, "amp", "amp"); return err },
		func() (err error) { _, err = cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := OpenEtcd(ctx, EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: prefix, Username: "amp", Password: "amp-secret"}, Options{})
	if err != nil {
		t.Fatalf("open with a role on %s/ alone: %v", prefix, err)
	}
	s.Close()
}

// TestEtcdReplicasTakingOneJobNumber: two replicas whose clocks hand out
// the same job number (NextSequence on etcd) each keep their job, at its
// own place in the newest-first index, the later one first.
func TestEtcdReplicasTakingOneJobNumber(t *testing.T) {
	t.Parallel()
	endpoints, prefix := sharedEtcd(t), newEtcdPrefix()
	a, b := openEtcd(t, endpoints, prefix), openEtcd(t, endpoints, prefix)
	ctx := context.Background()
	// Far ahead of the clock, so both hand out from here.
	const from = 1 << 62
	for _, s := range []*Store{a, b} {
		s.kv.etcd.clock.last.Store(from)
	}
	for i, s := range []*Store{a, b} {
		must(t, s.Batch(ctx, func(tx *Tx) error {
			return tx.InsertJob(newJob(fmt.Sprintf("job-%d", i), "app", "dev", "r", StatusCompleted))
		}))
	}
	for _, s := range []*Store{a, b} {
		must(t, s.View(ctx, func(tx *Tx) error {
			jobs, _, err := tx.Jobs("app", "dev", nil, 10, nil)
			if err != nil {
				return err
			}
			var got []string
			for _, j := range jobs {
				got = append(got, fmt.Sprintf("%s@%d", j.ID, j.seq-from))
			}
			if fmt.Sprint(got) != "[job-1@2 job-0@1]" {
				t.Errorf("listed %v, want job-1 (number 2) then job-0 (number 1)", got)
			}
			return nil
		}))
	}
}

// TestEtcdCommitsLostAreCounted: a Batch that runs again because another
// replica changed what it read counts once in
// amplifybackendd_store_commits_lost_total; one that did not, never.
func TestEtcdCommitsLostAreCounted(t *testing.T) {
	t.Parallel()
	endpoints, prefix := sharedEtcd(t), newEtcdPrefix()
	m := metrics.New()
	a, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: endpoints, Prefix: prefix}, Options{Metrics: m})
	must(t, err)
	t.Cleanup(func() { a.Close() })
	b := openEtcd(t, endpoints, prefix)
	ctx := context.Background()
	lost := func() float64 {
		families, err := m.Gather()
		must(t, err)
		for _, f := range families {
			if f.GetName() == "amplifybackendd_store_commits_lost_total" {
				return f.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatal("no amplifybackendd_store_commits_lost_total")
		return 0
	}
	must(t, a.Batch(ctx, func(tx *Tx) error { return tx.InsertJob(newJob("job-a", "app", "dev", "r", StatusRunning)) }))
	runs := 0
	must(t, a.Batch(ctx, func(tx *Tx) error {
		runs++
		j, err := tx.Job("job-a")
		if err != nil {
			return err
		}
		if runs == 1 {
			must(t, b.Batch(ctx, func(tx *Tx) error {
				j, err := tx.Job("job-a")
				j.Status = StatusFailed
				return errors.Join(err, tx.PutJob(j))
			}))
		}
		j.Status = StatusCompleted
		return tx.PutJob(j)
	}))
	if runs != 2 || lost() != 1 {
		t.Errorf("ran %d times, %v commits counted lost; want 2 and 1", runs, lost())
	}
}

// TestOpenEtcdChecksBehindTheOpening: --check-store background on etcd
// reads the records behind the opening as it does in a file: a record
// that does not verify is found, and writes then fail naming the damage
// (the mode used to check nothing on etcd).
func TestOpenEtcdChecksBehindTheOpening(t *testing.T) {
	t.Parallel()
	endpoints := sharedEtcd(t)
	ctx := context.Background()
	prefix := newEtcdPrefix()
	s := openEtcd(t, endpoints, prefix)
	if err := s.Update(ctx, func(tx *Tx) error { return tx.InsertJob(newJob("j1", "app", "dev", "r", StatusRunning)) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cli := sharedClient(t)
	resp, err := cli.Get(ctx, prefix+"/jobs/", clientv3.WithPrefix(), clientv3.WithLimit(1))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the job's key: %v, %v", resp, err)
	}
	kv := resp.Kvs[0]
	bad := append([]byte(nil), kv.Value...)
	bad[len(bad)-1] ^= 0xff
	if _, err := cli.Put(ctx, string(kv.Key), string(bad)); err != nil {
		t.Fatal(err)
	}

	s, err = OpenEtcd(ctx, EtcdOptions{Endpoints: endpoints, Prefix: prefix}, Options{Check: CheckBackground})
	if err != nil {
		t.Fatalf("the check behind the opening held up the opening: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	<-s.Checked()
	err = s.Update(ctx, func(tx *Tx) error { return tx.InsertJob(newJob("j2", "app", "dev", "r2", StatusRunning)) })
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("a write after the check met a damaged record: %v, want ErrDamaged", err)
	}
}
