package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A store on etcd reads from a mirror of its prefix kept in the process,
// as the Kubernetes API server's watch cache does: a transaction's reads
// would otherwise each be a round trip to the cluster, about ten per
// accepted call, made one after another inside the group commit. The
// mirror is loaded at open (the whole prefix at one revision) and follows
// the watch follow.go keeps on the prefix, applying every change in
// revision order. A transaction reads an immutable copy of it at one
// revision (a copy-on-write B-tree's clone, O(1)), so its reads see one
// revision, as they did from etcd, and cost no round trip.
//
// What the reads miss is made up for where it matters:
//   - a write transaction commits guarded on what it read being as its
//     copy had it (mod revisions compared in the Txn, kv_etcd.go); when
//     another commit changed it first, it waits until the mirror has
//     applied that commit and runs again on the new copy;
//   - after a commit at revision R, the writer is answered once the mirror
//     has applied R, so the replica's next transaction sees the write;
//   - a View first asks the cluster for the commit key's mod revision (one
//     linearizable request) and reads once the mirror has applied it, so a
//     write answered through any replica is seen by the next View through
//     any other;
//   - when the watch cannot resume where it stopped (etcd compacted the
//     revisions it missed), the mirror is loaded anew and swapped in;
//     meanwhile transactions wait for it, up to the request timeout, then
//     fail with ErrUnavailable rather than read what may be stale.

// mirrorEntry is one key of the prefix, its value and the revision that
// last wrote it, which a commit compares to say the key is as it was read.
type mirrorEntry struct {
	key string
	val []byte
	mod int64
}

func mirrorLess(a, b mirrorEntry) bool { return a.key < b.key }

// mirrorDegree is the B-tree's degree: nodes of up to 63 entries keep the
// tree shallow, and a change after a copy was taken copies one node per
// level.
const mirrorDegree = 32

// mirror is the process's copy of the store's prefix.
type mirror struct {
	commitKey string
	mu        sync.Mutex
	// tree is the copy the watch updates; snap a clone of it at rev that
	// transactions share until the next change (nil then).
	tree, snap *btree.BTreeG[mirrorEntry]
	// rev is the revision every change up to which is applied; commitRev
	// the commit key's mod revision as applied, the revision of the last
	// commit the mirror holds.
	rev, commitRev int64
	// current is false until the first load and while one is due again:
	// the mirror may then miss changes, and no transaction reads it.
	current bool
	// changed is closed, and replaced, whenever rev or current changes.
	changed chan struct{}
	// loads counts the loads, so a test sees a reload happen.
	loads int
}

func newMirror(commitKey string) *mirror {
	return &mirror{commitKey: commitKey, changed: make(chan struct{})}
}

// mirrorPage is how many keys one request of a load reads.
const mirrorPage = 1000

// load reads the whole prefix at one revision, paging, and swaps it in as
// the mirror. It returns the revision it read at: the watch follows from
// the next.
func (m *mirror) load(ctx context.Context, cli *clientv3.Client, prefix string, timeout time.Duration) (int64, error) {
	tree := btree.NewG(mirrorDegree, mirrorLess)
	var rev, commitRev int64
	end := clientv3.GetPrefixRangeEnd(prefix)
	for from, more := prefix, true; more; {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(mirrorPage)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		resp, err := cli.Get(rctx, from, opts...)
		cancel()
		if err != nil {
			// A revision compacted while paging fails the load; the
			// caller loads again at a newer one.
			return 0, fmt.Errorf("store: load the etcd prefix %s: %w", prefix, etcdFailure(err))
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			tree.ReplaceOrInsert(mirrorEntry{key: string(kv.Key), val: kv.Value, mod: kv.ModRevision})
			if string(kv.Key) == m.commitKey {
				commitRev = kv.ModRevision
			}
		}
		if more = resp.More; more {
			from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
	}
	m.mu.Lock()
	m.tree, m.snap, m.rev, m.commitRev, m.current = tree, nil, rev, commitRev, true
	m.loads++
	m.signal()
	m.mu.Unlock()
	return rev, nil
}

// signal wakes whoever waits for the mirror; m.mu is held.
func (m *mirror) signal() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// apply applies the changes of one watch response, in revision order;
// changes the mirror already holds (delivered again after a load) are
// skipped.
func (m *mirror) apply(events []*clientv3.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.current {
		return // a load is due and will hold these changes
	}
	// One commit's changes share its revision: skipped is fixed before
	// the first is applied.
	applied := m.rev
	for _, ev := range events {
		if ev.Kv.ModRevision <= applied {
			continue
		}
		key := string(ev.Kv.Key)
		if ev.Type == mvccpb.DELETE {
			m.tree.Delete(mirrorEntry{key: key})
		} else {
			m.tree.ReplaceOrInsert(mirrorEntry{key: key, val: ev.Kv.Value, mod: ev.Kv.ModRevision})
			if key == m.commitKey {
				m.commitRev = ev.Kv.ModRevision
			}
		}
		m.rev = ev.Kv.ModRevision
		m.snap = nil
	}
	m.signal()
}

// stale marks the mirror as missing changes until the next load.
func (m *mirror) stale() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current {
		m.current = false
		m.signal()
	}
}

// errMirrorBehind is what a transaction answers when the mirror did not
// catch up with what it waited for within the request timeout.
var errMirrorBehind = fmt.Errorf("%w: this replica's copy of the etcd store did not catch up in time", ErrUnavailable)

// await waits, up to timeout, until the mirror is current and ready
// holds; it returns the mirror's copy and revision then.
func (m *mirror) await(timeout time.Duration, ready func(m *mirror) bool) (*btree.BTreeG[mirrorEntry], int64, error) {
	var expired <-chan time.Time
	for {
		m.mu.Lock()
		if m.current && ready(m) {
			if m.snap == nil {
				m.snap = m.tree.Clone()
			}
			snap, rev := m.snap, m.rev
			m.mu.Unlock()
			return snap, rev, nil
		}
		changed := m.changed
		m.mu.Unlock()
		if expired == nil {
			t := time.NewTimer(timeout)
			defer t.Stop()
			expired = t.C
		}
		select {
		case <-changed:
		case <-expired:
			return nil, 0, errMirrorBehind
		}
	}
}

// atLeast is ready once the mirror has applied revision rev.
func atLeast(rev int64) func(*mirror) bool {
	return func(m *mirror) bool { return m.rev >= rev }
}

// isCurrent reports whether the mirror holds every change up to its
// revision: false before the first load and once one is due again.
func (m *mirror) isCurrent() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current
}

// loadCount is how often the mirror was loaded.
func (m *mirror) loadCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loads
}
