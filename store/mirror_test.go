package store

import (
	"context"
	"errors"
	"fmt"
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
