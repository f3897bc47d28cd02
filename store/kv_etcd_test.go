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
		// Every attempt, another writer changes what this one read.
		return other.Update(increment)
	})
	if !errors.Is(err, errContended) || runs != 3 {
		t.Fatalf("after %d runs: %v, want errContended after 3", runs, err)
	}
	must(t, db.View(func(tx kvTx) error {
		b := tx.Bucket([]byte("c"))
		if n := counter(b); n != 4 || b.Get([]byte("lost")) != nil {
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
		_, _, err := e.mirror.await(e.timeout, atLeast(tx.etcd.rev+1))
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

// TestKVEtcdGuardsWhatWasRead: a write transaction runs again when
// another replica changed what it read, key by key: a key read, present
// or absent, written or deleted; a key added inside the range a cursor
// walked, or a walked key deleted; and anything at all after a count.
// A change to a key it did not read, or past the end of its walk, lets
// it commit at once, so replicas writing different keys do not take
// turns.
func TestKVEtcdGuardsWhatWasRead(t *testing.T) {
	t.Parallel()
	cli := sharedClient(t)
	put := func(k string) func(tx kvTx) error {
		return func(tx kvTx) error { return tx.Bucket([]byte("g")).Put([]byte(k), []byte("x")) }
	}
	del := func(k string) func(tx kvTx) error {
		return func(tx kvTx) error { return tx.Bucket([]byte("g")).Delete([]byte(k)) }
	}
	get := func(k string) func(b kvBucket) {
		return func(b kvBucket) { b.Get([]byte(k)) }
	}
	// walk reads the keys from "m" on that start with "m", stopping at
	// the first that does not, as the store's prefix walks do.
	walk := func(b kvBucket) {
		c := b.Cursor()
		for k, _ := c.Seek([]byte("m")); k != nil && k[0] == 'm'; k, _ = c.Next() {
		}
	}
	// within reads the keys that start with "m" through Within, which ends
	// the walk without returning the key after them.
	within := func(b kvBucket) {
		c := b.Within([]byte("m"))
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
		}
	}
	for _, tc := range []struct {
		name  string
		read  func(b kvBucket)
		other func(tx kvTx) error
		runs  int
	}{
		{"a key read is written", get("a"), put("a"), 2},
		{"a key read is deleted", get("a"), del("a"), 2},
		{"a key read absent is made", get("new"), put("new"), 2},
		{"another key is written", get("a"), put("b"), 1},
		{"another key is deleted", get("a"), del("b"), 1},
		{"a key is added inside the walk", walk, put("m2"), 2},
		{"a walked key is deleted", walk, del("m1"), 2},
		{"a walked key is written", walk, put("m3"), 2},
		{"the key that ended the walk is written", walk, put("n"), 2},
		{"a key past the walk is written", walk, put("p"), 1},
		{"a key is added inside a prefix walk", within, put("m2"), 2},
		{"a key after the prefix is written", within, put("n"), 1},
		{"a key after the prefix is added", within, put("mz\xff"), 2},
		{"a key before the prefix is added", within, put("l"), 1},
		{"a key is written after a count", func(b kvBucket) { b.KeyN() }, put("z"), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := etcdKVFor(t, cli)
			db, other := kvDB{etcd: e}, kvDB{etcd: followedKV(t, e.client, e.prefix)}
			must(t, db.Update(func(tx kvTx) error {
				b, err := tx.CreateBucket([]byte("g"))
				for _, k := range []string{"a", "b", "m1", "m3", "n", "p"} {
					err = errors.Join(err, b.Put([]byte(k), []byte("v")))
				}
				return err
			}))
			runs := 0
			must(t, db.Update(func(tx kvTx) error {
				runs++
				tc.read(tx.Bucket([]byte("g")))
				if runs == 1 {
					must(t, other.Update(tc.other))
				}
				return tx.Bucket([]byte("g")).Put([]byte("out"), []byte("y"))
			}))
			if runs != tc.runs {
				t.Errorf("ran %d times, want %d", runs, tc.runs)
			}
		})
	}
}

// TestKVEtcdRefusalStandsOnItsReads: an Update that writes nothing (a
// refusal drawn from what it read) stands when what it read is unchanged,
// however much else was written since, and runs again when it changed.
func TestKVEtcdRefusalStandsOnItsReads(t *testing.T) {
	t.Parallel()
	e := etcdKVFor(t, sharedClient(t))
	db, other := kvDB{etcd: e}, kvDB{etcd: followedKV(t, e.client, e.prefix)}
	must(t, db.Update(increment))
	refused := errors.New("refused")
	for _, tc := range []struct {
		change func(tx kvTx) error
		runs   int
	}{
		{func(tx kvTx) error { return tx.Bucket([]byte("c")).Put([]byte("o"), []byte("x")) }, 1},
		{increment, 2},
	} {
		runs := 0
		err := db.Update(func(tx kvTx) error {
			runs++
			counter(tx.Bucket([]byte("c")))
			if runs == 1 {
				must(t, other.Update(tc.change))
			}
			return refused
		})
		if !errors.Is(err, refused) || runs != tc.runs {
			t.Errorf("%v after %d runs, want the refusal after %d", err, runs, tc.runs)
		}
	}
}

// TestKVEtcdGuardsFitATxn: a group of calls stops taking more once its
// reads fill a Txn's compares, and a call that reads more than fit alone
// is guarded by the commit key instead: etcd refuses a Txn of more than
// 128 compares.
func TestKVEtcdGuardsFitATxn(t *testing.T) {
	t.Parallel()
	e := etcdKVFor(t, sharedClient(t))
	db, other := kvDB{etcd: e}, kvDB{etcd: followedKV(t, e.client, e.prefix)}
	must(t, db.Update(func(tx kvTx) error { _, err := tx.CreateBucket([]byte("g")); return err }))
	runs := 0
	must(t, db.Update(func(tx kvTx) error {
		runs++
		b := tx.Bucket([]byte("g"))
		for i := range etcdMaxCmps {
			b.Get(fmt.Appendf(nil, "k%03d", i))
			if tx.full() {
				t.Fatalf("full after %d reads", i+1)
			}
		}
		b.Get([]byte("one more"))
		if !tx.full() {
			t.Error("not full with more reads than a Txn compares")
		}
		if runs == 1 {
			// Not a key read: only the commit key's compare sees it.
			must(t, other.Update(func(tx kvTx) error { return tx.Bucket([]byte("g")).Put([]byte("z"), nil) }))
		}
		return b.Put([]byte("out"), []byte("y"))
	}))
	if runs != 2 {
		t.Errorf("ran %d times, want 2 (guarded by the commit key)", runs)
	}
}
