package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdPrefixes numbers the prefixes of the tests' stores.
var etcdPrefixes atomic.Int64

// sharedClient returns a client of the shared etcd cluster, closed at
// cleanup.
func sharedClient(t *testing.T) *clientv3.Client {
	t.Helper()
	sharedEtcd(t)
	return shared.cluster.Client(t)
}

// etcdKVFor returns an etcd engine over a new, empty prefix, its mirror
// loaded and following until cleanup.
func etcdKVFor(t *testing.T, cli *clientv3.Client) *etcdKV {
	return followedKV(t, cli, fmt.Sprintf("/kvtest%d", etcdPrefixes.Add(1)))
}

// followedKV returns an etcd engine over prefix whose mirror follows the
// prefix until cleanup, as a store's does: another replica.
func followedKV(t *testing.T, cli *clientv3.Client, prefix string) *etcdKV {
	t.Helper()
	e := newEtcdKV(cli, prefix, DefaultEtcdRequestTimeout)
	rev, err := e.mirror.load(context.Background(), cli, prefix+"/", e.timeout)
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(kvDB{etcd: e}, "etcd:"+prefix, Options{Logger: slog.Default()})
	s.startFollowing(rev)
	t.Cleanup(func() {
		close(s.stop)
		<-s.followed
	})
	return e
}

// TestKVEtcd holds the etcd engine to the key-value layer's contract.
func TestKVEtcd(t *testing.T) {
	t.Parallel()
	cli := sharedClient(t)
	testKVContract(t, func(t *testing.T) kvDB { return kvDB{etcd: etcdKVFor(t, cli)} })
}

// counter reads the 8-byte counter "n" of bucket "c" (0 when absent).
func counter(b kvBucket) uint64 {
	if v := b.Get([]byte("n")); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// increment adds one to the counter, reading it first.
func increment(tx kvTx) error {
	b, err := tx.CreateBucket([]byte("c"))
	if err != nil {
		return err
	}
	return b.Put([]byte("n"), binary.BigEndian.AppendUint64(nil, counter(b)+1))
}

// TestKVEtcdConflictRetries: two writers read the same key and write it;
// the one whose commit comes second loses, runs again on the new
// revision, and both increments land, as two bbolt writers in turn.
func TestKVEtcdConflictRetries(t *testing.T) {
	t.Parallel()
	e := etcdKVFor(t, sharedClient(t))
	// Another engine value over the same prefix: another replica.
	other := kvDB{etcd: followedKV(t, e.client, e.prefix)}
	db := kvDB{etcd: e}
	read, otherDone := make(chan struct{}), make(chan error)
	go func() {
		<-read
		otherDone <- other.Update(increment)
	}()
	runs := 0
	must(t, db.Update(func(tx kvTx) error {
		runs++
		if err := increment(tx); err != nil {
			return err
		}
		if runs == 1 {
			// Read, not yet committed: the other writer commits now.
			close(read)
			if err := <-otherDone; err != nil {
				return err
			}
		}
		return nil
	}))
	if runs != 2 {
		t.Errorf("the losing writer ran %d times, want 2", runs)
	}
	must(t, db.View(func(tx kvTx) error {
		if n := counter(tx.Bucket([]byte("c"))); n != 2 {
			t.Errorf("counter %d after two increments", n)
		}
		return nil
	}))
}

// TestKVEtcdContendedGivesUp: a writer that loses every commit stops after
// its attempts with errContended, having written nothing.
func TestKVEtcdContendedGivesUp(t *testing.T) {
	t.Parallel()
	e := etcdKVFor(t, sharedClient(t))
	e.attempts = 3
	db, other := kvDB{etcd: e}, kvDB{etcd: followedKV(t, e.client, e.prefix)}
	must(t, db.Update(increment))
	runs := 0
	err := db.Update(func(tx kvTx) error {
		runs++
		if err := tx.Bucket([]byte("c")).Put([]byte("lost"), []byte("x")); err != nil {
			return err
		}
		if err := increment(tx); err != nil {
			return err
		}
		// Every attempt, another writer commits after this one read.
		return other.Update(func(tx kvTx) error { return tx.Bucket([]byte("c")).Put([]byte("o"), []byte("x")) })
	})
	if !errors.Is(err, errContended) || runs != 3 {
		t.Fatalf("after %d runs: %v, want errContended after 3", runs, err)
	}
	must(t, db.View(func(tx kvTx) error {
		b := tx.Bucket([]byte("c"))
		if n := counter(b); n != 1 || b.Get([]byte("lost")) != nil {
			t.Errorf("a transaction that gave up wrote: counter %d, lost=%q", n, b.Get([]byte("lost")))
		}
		return nil
	}))
}

// TestKVEtcdSnapshotAcrossReplicas: a read begun before another replica's
// commit keeps reading at its revision, through a cursor's later pages
// too, while its mirror applies the commit, and a new read sees it.
func TestKVEtcdSnapshotAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := etcdKVFor(t, sharedClient(t))
	db, other := kvDB{etcd: e}, kvDB{etcd: followedKV(t, e.client, e.prefix)}
	// More keys than a cursor's first page, so the walk reads pages after
	// the commit.
	const n = 3 * etcdFirstPage
	keys := func(v string) func(tx kvTx) error {
		return func(tx kvTx) error {
			b, err := tx.CreateBucket([]byte("k"))
			if err != nil {
				return err
			}
			for i := range n {
				if err := b.Put(fmt.Appendf(nil, "%03d", i), []byte(v)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	must(t, db.Update(keys("old")))
	must(t, db.View(func(tx kvTx) error {
		c := tx.Bucket([]byte("k")).Cursor()
		k, v := c.First()
		must(t, other.Update(keys("new")))
		// This engine's mirror applies the commit while the walk goes on.
		_, _, err := e.mirror.await(e.timeout, committedAfter(tx.etcd.rev))
		must(t, err)
		seen := 0
		for ; k != nil; k, v = c.Next() {
			if string(v) != "old" {
				t.Fatalf("key %s read %q after another replica's commit", k, v)
			}
			seen++
		}
		if seen != n {
			t.Errorf("walked %d keys, want %d", seen, n)
		}
		return nil
	}))
	must(t, db.View(func(tx kvTx) error {
		if v := tx.Bucket([]byte("k")).Get([]byte("000")); string(v) != "new" {
			t.Errorf("a read after the commit got %q", v)
		}
		return nil
	}))
}
