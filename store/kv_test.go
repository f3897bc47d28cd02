package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestKVBolt holds the bbolt engine to the key-value layer's contract.
func TestKVBolt(t *testing.T) {
	t.Parallel()
	testKVContract(t, func(t *testing.T) kvDB {
		// bbolt remaps a file it grows, waiting for open reads: mapped
		// large from the start, the snapshot case's commit need not wait
		// for the read it runs beside.
		db, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), 0o600, &bolt.Options{InitialMmapSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return kvDB{bolt: db}
	})
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testKVContract is what the store relies on from a key-value layer; every
// engine runs it. open returns a new, empty database for one test.
func testKVContract(t *testing.T, open func(t *testing.T) kvDB) {
	names := []byte("names")
	// fill creates bucket names holding keys, each valued with its own key.
	fill := func(t *testing.T, db kvDB, keys ...string) {
		t.Helper()
		must(t, db.Update(func(tx kvTx) error {
			b, err := tx.CreateBucket(names)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if err := b.Put([]byte(k), []byte("v-"+k)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	view := func(t *testing.T, db kvDB, fn func(b kvBucket) error) {
		t.Helper()
		must(t, db.View(func(tx kvTx) error { return fn(tx.Bucket(names)) }))
	}
	walk := func(c kvCursor, k, v []byte) []string {
		var out []string
		for ; k != nil; k, v = c.Next() {
			out = append(out, string(k)+"="+string(v))
		}
		return out
	}
	same := func(t *testing.T, what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
		}
	}

	t.Run("keys sort bytewise", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		// NUL separates key parts and ^seq puts 0xff bytes first in a key's
		// tail: both must sort as bytes do, a prefix before its extensions.
		keys := []string{"b", "a\x00\xff", "a", "a\x00\x00", "ab", "\xff", "a\x00", "A"}
		fill(t, db, keys...)
		sorted := slices.Clone(keys)
		slices.Sort(sorted)
		var want []string
		for _, k := range sorted {
			want = append(want, k+"=v-"+k)
		}
		view(t, db, func(b kvBucket) error {
			c := b.Cursor()
			k, v := c.First()
			same(t, "cursor", walk(c, k, v), want)
			var each []string
			err := b.ForEach(func(k, v []byte) error { each = append(each, string(k)+"="+string(v)); return nil })
			same(t, "ForEach", each, want)
			if b.KeyN() != len(keys) {
				t.Errorf("KeyN = %d, want %d", b.KeyN(), len(keys))
			}
			return err
		})
	})

	t.Run("seek lands on the key or the next, nil past the end", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		fill(t, db, "app\x00dev\x00a", "app\x00dev\x00b", "app\x00prod\x00a", "zzz")
		view(t, db, func(b kvBucket) error {
			c := b.Cursor()
			if k, v := c.Seek([]byte("app\x00dev\x00b")); string(k) != "app\x00dev\x00b" || string(v) != "v-app\x00dev\x00b" {
				t.Errorf("seek to a key: %q=%q", k, v)
			}
			if k, _ := c.Seek([]byte("app\x00dev\x00")); string(k) != "app\x00dev\x00a" {
				t.Errorf("seek to a prefix: %q", k)
			}
			if k, _ := c.Seek([]byte("app\x00e")); string(k) != "app\x00prod\x00a" {
				t.Errorf("seek between keys: %q", k)
			}
			if k, v := c.Seek([]byte("zzzz")); k != nil || v != nil {
				t.Errorf("seek past the end: %q=%q", k, v)
			}
			c.Seek([]byte("zzz"))
			if k, _ := c.Next(); k != nil {
				t.Errorf("next after the last key: %q", k)
			}
			if got := b.Get([]byte("nope")); got != nil {
				t.Errorf("get of an absent key: %q", got)
			}
			return nil
		})
		must(t, db.Update(func(tx kvTx) error {
			b, err := tx.CreateBucket([]byte("empty"))
			if err != nil {
				return err
			}
			if k, _ := b.Cursor().First(); k != nil {
				t.Errorf("first of an empty bucket: %q", k)
			}
			if k, _ := b.Cursor().Seek([]byte("a")); k != nil {
				t.Errorf("seek in an empty bucket: %q", k)
			}
			return nil
		}))
	})

	t.Run("a transaction reads its own writes", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		fill(t, db, "a", "c", "e")
		must(t, db.Update(func(tx kvTx) error {
			b := tx.Bucket(names)
			if err := errors.Join(b.Put([]byte("d"), []byte("new")), b.Put([]byte("a"), []byte("changed")), b.Delete([]byte("c")),
				b.Delete([]byte("absent"))); err != nil {
				return err
			}
			if got := b.Get([]byte("d")); string(got) != "new" {
				t.Errorf("get after put: %q", got)
			}
			if got := b.Get([]byte("a")); string(got) != "changed" {
				t.Errorf("get after overwrite: %q", got)
			}
			if got := b.Get([]byte("c")); got != nil {
				t.Errorf("get after delete: %q", got)
			}
			c := b.Cursor()
			k, v := c.First()
			same(t, "cursor over the transaction's writes", walk(c, k, v), []string{"a=changed", "d=new", "e=v-e"})
			if k, _ := c.Seek([]byte("b")); string(k) != "d" {
				t.Errorf("seek onto a key put in the transaction: %q", k)
			}
			return nil
		}))
		view(t, db, func(b kvBucket) error {
			c := b.Cursor()
			k, v := c.First()
			same(t, "after commit", walk(c, k, v), []string{"a=changed", "d=new", "e=v-e"})
			return nil
		})
	})

	t.Run("an empty value is a key a cursor finds", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		fill(t, db)
		must(t, db.Update(func(tx kvTx) error { return tx.Bucket(names).Put([]byte("idx\x00j1"), nil) }))
		view(t, db, func(b kvBucket) error {
			if !hasKey(b, []byte("idx\x00j1")) || hasKey(b, []byte("idx\x00j2")) || hasKey(b, []byte("idx")) {
				t.Error("hasKey does not tell the stored key from absent ones")
			}
			return nil
		})
	})

	t.Run("deletes after a walk, writes elsewhere during it", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		fill(t, db, "s1\x00a", "s1\x00b", "s1\x00c", "s2\x00a")
		// As endSessionsOf and recordEnvironments do: walk a prefix while
		// writing to another bucket, then delete what the walk collected.
		must(t, db.Update(func(tx kvTx) error {
			b := tx.Bucket(names)
			other, err := tx.CreateBucket([]byte("other"))
			if err != nil {
				return err
			}
			prefix := []byte("s1\x00")
			var keys [][]byte
			c := b.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
				if err := other.Put(k[len(prefix):], k); err != nil {
					return err
				}
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			if n := len(keys); n != 3 {
				t.Errorf("walked %d keys, want 3", n)
			}
			return nil
		}))
		must(t, db.View(func(tx kvTx) error {
			c := tx.Bucket(names).Cursor()
			k, v := c.First()
			same(t, "left after the deletes", walk(c, k, v), []string{"s2\x00a=v-s2\x00a"})
			c = tx.Bucket([]byte("other")).Cursor()
			k, v = c.First()
			same(t, "written during the walk", walk(c, k, v), []string{"a=s1\x00a", "b=s1\x00b", "c=s1\x00c"})
			return nil
		}))
	})

	t.Run("a walk within a prefix sees its keys only", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		fill(t, db, "a", "b\x00", "b\x00x", "b\x01", "ba", "c")
		within := func(tx kvTx, prefix string, seek []byte) []string {
			c := tx.Bucket(names).Within([]byte(prefix))
			k, v := c.First()
			if seek != nil {
				k, v = c.Seek(seek)
			}
			return walk(c, k, v)
		}
		must(t, db.Update(func(tx kvTx) error {
			same(t, "within b\\x00", within(tx, "b\x00", nil), []string{"b\x00=v-b\x00", "b\x00x=v-b\x00x"})
			same(t, "seek before the prefix", within(tx, "b\x00", []byte("a")), []string{"b\x00=v-b\x00", "b\x00x=v-b\x00x"})
			same(t, "seek inside", within(tx, "b", []byte("b\x01")), []string{"b\x01=v-b\x01", "ba=v-ba"})
			same(t, "seek past", within(tx, "b", []byte("c")), nil)
			same(t, "no key", within(tx, "bb", nil), nil)
			// The transaction's own writes, inside the prefix and out.
			b := tx.Bucket(names)
			must(t, errors.Join(b.Put([]byte("b\x00y"), []byte("w")), b.Delete([]byte("b\x00")), b.Put([]byte("b\x02"), []byte("w"))))
			same(t, "with writes", within(tx, "b\x00", nil), []string{"b\x00x=v-b\x00x", "b\x00y=w"})
			return nil
		}))
	})

	t.Run("sequences grow per bucket and survive commits", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		fill(t, db)
		counts := true
		next := func(bucket []byte, n int) (got []uint64) {
			must(t, db.Update(func(tx kvTx) error {
				counts = tx.sequencesCount()
				b, err := tx.CreateBucket(bucket)
				if err != nil {
					return err
				}
				for range n {
					s, err := b.NextSequence()
					if err != nil {
						return err
					}
					got = append(got, s)
				}
				if counts && b.Sequence() != got[len(got)-1] {
					t.Errorf("Sequence = %d after NextSequence gave %d", b.Sequence(), got[len(got)-1])
				}
				return nil
			}))
			return got
		}
		a, b, other := next(names, 3), next(names, 2), next([]byte("other"), 1)
		if counts {
			if got := fmt.Sprint(a, b, other); got != "[1 2 3] [4 5] [1]" {
				t.Errorf("sequences: %s", got)
			}
			view(t, db, func(b kvBucket) error {
				if b.Sequence() != 5 {
					t.Errorf("committed sequence %d, want 5", b.Sequence())
				}
				return nil
			})
		} else if all := append(a, b...); !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) {
			t.Errorf("sequences %v do not grow", all)
		}
		// A sequence set (a copied store's) is where NextSequence goes on
		// (bbolt), or a floor it stays above (etcd).
		floor := a[0] + 1<<40
		must(t, db.Update(func(tx kvTx) error { return tx.Bucket(names).SetSequence(floor) }))
		got := next(names, 1)
		if (counts && got[0] != floor+1) || got[0] <= floor {
			t.Errorf("NextSequence after SetSequence(%d): %v", floor, got)
		}
		view(t, db, func(b kvBucket) error {
			if !counts && b.Sequence() != floor {
				t.Errorf("sequence %d after NextSequence, want it left at %d", b.Sequence(), floor)
			}
			return nil
		})
	})

	t.Run("an error rolls everything back", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		fill(t, db, "a", "b")
		boom := errors.New("boom")
		err := db.Update(func(tx kvTx) error {
			b := tx.Bucket(names)
			if _, err := b.NextSequence(); err != nil {
				return err
			}
			nb, err := tx.CreateBucket([]byte("new"))
			if err != nil {
				return err
			}
			return errors.Join(b.Put([]byte("c"), []byte("x")), b.Put([]byte("a"), []byte("x")), b.Delete([]byte("b")),
				nb.Put([]byte("k"), []byte("v")), boom)
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update returned %v, want fn's error", err)
		}
		must(t, db.View(func(tx kvTx) error {
			if tx.HasBucket([]byte("new")) {
				t.Error("a bucket created in the failed transaction exists")
			}
			b := tx.Bucket(names)
			c := b.Cursor()
			k, v := c.First()
			same(t, "after the failed transaction", walk(c, k, v), []string{"a=v-a", "b=v-b"})
			if b.Sequence() != 0 {
				t.Errorf("sequence %d after a failed transaction", b.Sequence())
			}
			return nil
		}))
	})

	t.Run("buckets are created once", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		fill(t, db, "a")
		fill(t, db) // CreateBucket again keeps what the bucket holds
		must(t, db.View(func(tx kvTx) error {
			if tx.HasBucket([]byte("missing")) {
				t.Error("a bucket never created is not nil")
			}
			if got := tx.Bucket(names).Get([]byte("a")); string(got) != "v-a" {
				t.Errorf("after CreateBucket again: %q", got)
			}
			return nil
		}))
	})

	t.Run("a deleted bucket goes with its keys, once", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		fill(t, db, "a", "b")
		must(t, db.Update(func(tx kvTx) error {
			other, err := tx.CreateBucket([]byte("namesake")) // a name extending the deleted one's stays
			if err != nil {
				return err
			}
			return errors.Join(other.Put([]byte("a"), []byte("kept")), tx.DeleteBucket(names), tx.DeleteBucket([]byte("missing")))
		}))
		must(t, db.View(func(tx kvTx) error {
			if tx.HasBucket(names) {
				t.Error("a deleted bucket is still there")
			}
			if got := tx.Bucket([]byte("namesake")).Get([]byte("a")); string(got) != "kept" {
				t.Errorf("the bucket beside the deleted one: %q", got)
			}
			return nil
		}))
		// Deleted again: nothing to delete. Created anew, it holds none
		// of the keys it had.
		must(t, db.Update(func(tx kvTx) error { return tx.DeleteBucket(names) }))
		fill(t, db, "c")
		view(t, db, func(b kvBucket) error {
			c := b.Cursor()
			k, v := c.First()
			same(t, "the bucket created again", walk(c, k, v), []string{"c=v-c"})
			return nil
		})
	})

	t.Run("a read sees one snapshot", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		fill(t, db, "a", "b")
		opened, written := make(chan struct{}), make(chan error)
		read := make(chan []string, 1)
		go func() {
			_ = db.View(func(tx kvTx) error {
				b := tx.Bucket(names)
				b.Get([]byte("a")) // the snapshot is taken by the first read at the latest
				close(opened)
				if err := <-written; err != nil {
					return err
				}
				c := b.Cursor()
				k, v := c.First()
				read <- append(walk(c, k, v), string(b.Get([]byte("a"))))
				return nil
			})
			close(read)
		}()
		<-opened
		err := db.Update(func(tx kvTx) error {
			b := tx.Bucket(names)
			return errors.Join(b.Put([]byte("a"), []byte("x")), b.Put([]byte("c"), []byte("x")), b.Delete([]byte("b")))
		})
		written <- err
		if err != nil {
			t.Fatal(err)
		}
		same(t, "a read begun before a commit", <-read, []string{"a=v-a", "b=v-b", "v-a"})
	})
}
