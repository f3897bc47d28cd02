package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMirrorReadsCostNoRoundTrip: once a View has asked the cluster
// where it stands, its reads come from the mirror: a walk of many pages
// and reads of other buckets answer with the cluster cut off.
func TestMirrorReadsCostNoRoundTrip(t *testing.T) {
	t.Parallel()
	s, proxy := proxiedStore(t)
	ctx := context.Background()
	const n = 4 * etcdFirstPage // several pages of a cursor
	for i := range n {
		must(t, s.Batch(ctx, func(tx *Tx) error {
			return tx.InsertJob(newJob(fmt.Sprintf("job-%03d", i), "app", "dev", "r", StatusCompleted))
		}))
	}
	err := s.View(ctx, func(tx *Tx) error {
		proxy.Pause() // after the View's one request
		jobs, _, err := tx.Jobs("app", "dev", nil, 2*n, nil)
		if err != nil {
			return err
		}
		if len(jobs) != n {
			t.Errorf("listed %d jobs, want %d", len(jobs), n)
		}
		_, err = tx.Job("job-000")
		return err
	})
	proxy.Resume()
	if err != nil {
		t.Fatalf("reads with the cluster cut off after the View began: %v", err)
	}
}

// TestMirrorViewSeesOtherStoresWrites: a write answered through one
// store is read by the next View through another, at once: the View
// waits for its mirror to hold the cluster's last commit.
func TestMirrorViewSeesOtherStoresWrites(t *testing.T) {
	t.Parallel()
	endpoints, prefix := sharedEtcd(t), newEtcdPrefix()
	a, b := openEtcd(t, endpoints, prefix), openEtcd(t, endpoints, prefix)
	ctx := context.Background()
	for i := range 20 {
		writer, reader := a, b
		if i%2 == 1 {
			writer, reader = b, a
		}
		id := fmt.Sprintf("job-%02d", i)
		must(t, writer.Batch(ctx, func(tx *Tx) error { return tx.InsertJob(newJob(id, "app", "dev", "r", StatusCompleted)) }))
		if err := reader.View(ctx, func(tx *Tx) error { _, err := tx.Job(id); return err }); err != nil {
			t.Fatalf("write %d, read through the other store right after: %v", i, err)
		}
	}
}

// TestMirrorConcurrentWritersOnThreeStores: 16 writers on three stores
// insert jobs at once; every job takes the jobs' sequence, so commits
// conflict and the losers run again on newer copies. Every write is
// there at the end, with a sequence of its own, through every store.
func TestMirrorConcurrentWritersOnThreeStores(t *testing.T) {
	t.Parallel()
	endpoints, prefix := sharedEtcd(t), newEtcdPrefix()
	stores := []*Store{openEtcd(t, endpoints, prefix), openEtcd(t, endpoints, prefix), openEtcd(t, endpoints, prefix)}
	const writers, each = 16, 10
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range writers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("job-%02d-%02d", w, i)
				if err := s.Batch(ctx, func(tx *Tx) error { return tx.InsertJob(newJob(id, "app", "dev", "r", StatusRunning)) }); err != nil {
					t.Errorf("%s: %v", id, err)
				}
			}
		})
	}
	wg.Wait()
	for i, s := range stores {
		must(t, s.View(ctx, func(tx *Tx) error {
			jobs, _, err := tx.Jobs("app", "dev", nil, 2*writers*each, nil)
			if err != nil {
				return err
			}
			seqs := map[uint64]string{}
			for _, j := range jobs {
				if other, ok := seqs[j.seq]; ok {
					t.Errorf("store %d: jobs %s and %s share sequence %d", i, other, j.ID, j.seq)
				}
				seqs[j.seq] = j.ID
			}
			if len(jobs) != writers*each || len(tx.PendingJobs()) != writers*each {
				t.Errorf("store %d: %d jobs listed, %d pending, want %d", i, len(jobs), len(tx.PendingJobs()), writers*each)
			}
			return nil
		}))
	}
}

// TestMirrorReloadsAfterCompaction: a store whose member stops misses
// writes and a delete made through the others, and etcd compacts them
// away; when the member is back the watch cannot resume, so the mirror
// is loaded anew, and the store reads what the cluster holds.
func TestMirrorReloadsAfterCompaction(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 3)
	members, endpoints := cluster.Members(), cluster.Endpoints()
	// The store reaches the first member alone, through a proxy that
	// keeps it from reconnecting until the member has caught up.
	proxy, err := faultproxy.New(endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	prefix := newEtcdPrefix()
	a := openEtcd(t, []string{proxy.Addr()}, prefix)
	b := openEtcd(t, endpoints[1:], prefix)
	ctx := context.Background()
	insert := func(s *Store, id string) {
		t.Helper()
		must(t, s.Batch(ctx, func(tx *Tx) error { return tx.InsertJob(newJob(id, "app", "dev", "r", StatusCompleted)) }))
	}
	insert(a, "job-kept")
	res := newResource("app", "dev", "data", "bucket-1")
	must(t, a.Batch(ctx, func(tx *Tx) error { return tx.CreateResource(res) }))

	// Cut off first: the member's stop would otherwise wait for the
	// store's watch stream to end.
	proxy.Pause()
	proxy.Drop()
	members[0].Stop()
	insert(b, "job-new")
	must(t, b.Batch(ctx, func(tx *Tx) error { return tx.DeleteResource(res.ResourceKey) }))
	cli := clientOf(t, endpoints[1:])
	resp, err := cli.Get(ctx, prefix+"/", clientv3.WithKeysOnly())
	must(t, err)
	compacted := resp.Header.Revision
	_, err = cli.Compact(ctx, compacted, clientv3.WithCompactPhysical())
	must(t, err)
	members[0].Restart()
	// The member has applied the compaction once it refuses the
	// revision before it.
	first := clientOf(t, endpoints[:1])
	etcdtest.WaitFor(t, "the restarted member to apply the compaction", func() bool {
		_, err := first.Get(ctx, prefix+"/", clientv3.WithRev(compacted-1), clientv3.WithSerializable())
		return errors.Is(err, rpctypes.ErrCompacted)
	})
	loads := a.kv.etcd.mirror.loadCount()
	proxy.Resume()
	etcdtest.WaitFor(t, "the mirror to be loaded anew", func() bool { return a.kv.etcd.mirror.loadCount() > loads })
	must(t, a.View(ctx, func(tx *Tx) error {
		for _, id := range []string{"job-kept", "job-new"} {
			if _, err := tx.Job(id); err != nil {
				t.Errorf("%s after the reload: %v", id, err)
			}
		}
		if _, err := tx.Resource(res.ResourceKey); !errors.Is(err, ErrNotFound) {
			t.Errorf("the resource deleted meanwhile, after the reload: %v, want not found", err)
		}
		return nil
	}))
	insert(a, "job-after")
	must(t, b.View(ctx, func(tx *Tx) error { _, err := tx.Job("job-after"); return err }))
}

// clientOf returns a client of endpoints, closed at cleanup.
func clientOf(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestMirrorLaggingCopyAnswersNothing: what a write transaction draws from
// its copy of the store alone (an error, or that there is nothing to
// write) is answered only if no commit came after the copy. A store whose
// mirror lags (here it does not follow at all) waits for it instead,
// failing with ErrUnavailable when it does not come, and answers once the
// mirror holds the last commit.
func TestMirrorLaggingCopyAnswersNothing(t *testing.T) {
	t.Parallel()
	cli := sharedClient(t)
	writer := etcdKVFor(t, cli)
	lagging := newEtcdKV(cli, writer.prefix, 200*time.Millisecond)
	_, err := lagging.mirror.load(context.Background(), cli, writer.prefix+"/", lagging.timeout)
	must(t, err)
	must(t, kvDB{etcd: writer}.Update(increment))
	var saw uint64
	errNotOne := errors.New("the counter is not at 1")
	checkOne := func(tx kvTx) error {
		if saw = counter(tx.Bucket([]byte("c"))); saw != 1 {
			return errNotOne
		}
		return nil
	}
	sawOnly := func(tx kvTx) error { saw = counter(tx.Bucket([]byte("c"))); return nil }
	for name, fn := range map[string]func(kvTx) error{"an error": checkOne, "nothing to write": sawOnly} {
		if err := (kvDB{etcd: lagging}).Update(fn); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s drawn from a copy before the last commit (counter %d): %v, want ErrUnavailable", name, saw, err)
		}
	}
	// As the watch would: the mirror now holds the last commit.
	_, err = lagging.mirror.load(context.Background(), cli, writer.prefix+"/", lagging.timeout)
	must(t, err)
	must(t, kvDB{etcd: lagging}.Update(checkOne))
	must(t, kvDB{etcd: lagging}.Update(sawOnly))
	if saw != 1 {
		t.Errorf("read %d once the mirror holds the last commit", saw)
	}
}

// TestMirrorBatchRunsAgainOnNewerCopy: a group commit call that fails on
// a copy of the store older than the last commit runs again once the
// mirror holds it; when it then succeeds, its caller is answered so, and
// its write is there.
func TestMirrorBatchRunsAgainOnNewerCopy(t *testing.T) {
	t.Parallel()
	endpoints, prefix := sharedEtcd(t), newEtcdPrefix()
	a := openEtcd(t, endpoints, prefix)
	cli := sharedClient(t)
	// A store whose mirror does not follow yet: loaded before a's write,
	// it starts following only when the test says, as a watch late to
	// deliver.
	lagging := newEtcdKV(cli, prefix, DefaultEtcdRequestTimeout)
	_, err := lagging.mirror.load(context.Background(), cli, prefix+"/", lagging.timeout)
	must(t, err)
	b := newStore(kvDB{etcd: lagging}, "etcd:"+prefix, Options{Logger: slog.Default()})
	go b.committer()
	following := make(chan struct{})
	t.Cleanup(func() {
		close(b.stop)
		<-b.committed
		<-following
		<-b.followed
	})

	ctx := context.Background()
	must(t, a.Batch(ctx, func(tx *Tx) error { return tx.InsertJob(newJob("job-1", "app", "dev", "r", StatusCompleted)) }))
	runs := 0
	err = b.Batch(ctx, func(tx *Tx) error {
		if runs++; runs == 1 {
			go func() {
				defer close(following)
				rev, err := lagging.mirror.load(context.Background(), cli, prefix+"/", lagging.timeout)
				if err != nil {
					t.Error(err)
				}
				b.startFollowing(rev)
			}()
		}
		if _, err := tx.Job("job-1"); err != nil {
			return err
		}
		return tx.InsertJob(newJob("job-2", "app", "dev", "r", StatusCompleted))
	})
	if err != nil || runs != 2 {
		t.Fatalf("after %d runs: %v, want success on the second", runs, err)
	}
	must(t, a.View(ctx, func(tx *Tx) error { _, err := tx.Job("job-2"); return err }))
}
