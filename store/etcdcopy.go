package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Copying a store from its bbolt file into etcd (amplifybackendd
// migrate). The copy reconciles: each etcd transaction compares a run of
// keys of the file with those under the prefix and writes only what
// differs, so a second run writes nothing and a run after an interrupted
// one writes what the first did not. While it is unfinished, meta/ under
// the prefix holds keyCopying, which OpenEtcd refuses: a server must not
// take part of a store for a whole one. The mark is removed by a
// transaction that compared every key at one revision and found none
// different.

// keyCopying, in meta/ of a store in etcd, marks a copy from a bbolt file
// that has not finished; its value is the copied store's id, sealed as in
// meta/"store-id".
var keyCopying = []byte("copying")

// The budget of one transaction of a copy: etcd refuses, by default, a
// Txn of more than 128 operations (one goes to the commit key) or 1.5 MiB.
// The copy keeps to 120 writes and under 1 MiB, counting each write's full
// key, its value and copyOpOverhead bytes of framing.
const (
	copyMaxWrites  = 120
	copyMaxBytes   = 1<<20 - 64<<10
	copyOpOverhead = 16
)

// CopyOptions tune CopyToEtcd.
type CopyOptions struct {
	// Progress, when set, is called after each transaction that copies
	// records (not after the first, which marks the prefix, nor the last,
	// which removes the mark), with the totals so far: a long copy shows
	// it is moving.
	Progress func(CopyReport)
}

// BucketCopy is what a copy found and did in one bucket of the store.
type BucketCopy struct {
	// Name is the bucket's, as store/doc.go draws the schema.
	Name string
	// Keys is how many keys the bucket holds in the file (counted by
	// the final comparison, so only once the copy is complete).
	Keys int
	// Written counts the keys this run put into etcd; Removed those it
	// removed there (left by an earlier run from a file that changed since).
	Written, Removed int
}

// CopyReport says what CopyToEtcd did.
type CopyReport struct {
	// StoreID is the id of the store copied.
	StoreID string
	// Schema is the file's schema version: an older one was migrated, in
	// a temporary copy of the file, before it was copied.
	Schema uint64
	// Buckets are the store's buckets, in key order.
	Buckets []BucketCopy
	// Txns counts the etcd transactions that wrote: zero when etcd
	// already held the whole store.
	Txns int
	// Resumed says an earlier, interrupted copy of this store was found
	// under the prefix and completed.
	Resumed bool
	// Elapsed is how long the copy took, from opening the file.
	Elapsed time.Duration
}

// CopyToEtcd copies the store in the bbolt file at path into etcd under
// e.Prefix, where OpenEtcd then serves it: every record and index, each
// bucket's sequence (new jobs keep sorting newest first), and meta/ with
// the store's id and pagination token key (page tokens handed out before
// stay valid).
//
// The file is opened read-only, which fails while a server has it open,
// and checked as Open's full check does, against its identity record too;
// a file at an older schema is migrated in a temporary copy beside it, as
// Open would migrate it, and the file itself is left as it is.
//
// It is idempotent and resumable: it writes only keys that differ, and
// an interrupted copy (ctx cancelled, the process killed, etcd lost)
// is completed by running it again. A prefix holding another store, an
// unfinished copy of another store, or keys that are not a store is
// refused, as is a prefix holding this store where anything differs from
// the file: a server may have written to it since it was copied, and
// the copy never overwrites a store in use.
func CopyToEtcd(ctx context.Context, path string, e EtcdOptions, o CopyOptions) (CopyReport, error) {
	start := time.Now()
	src, schema, closeSrc, err := openCopySource(path)
	if err != nil {
		return CopyReport{}, err
	}
	defer closeSrc()
	kv, e, rev, err := connectEtcd(ctx, e)
	if err != nil {
		return CopyReport{Schema: schema}, err
	}
	defer kv.client.Close()
	// The copy's transactions read the mirror, which a store's watch
	// keeps current: a store that serves nothing follows the prefix for it.
	follower := newStore(kvDB{etcd: kv}, "etcd:"+e.Prefix, Options{Logger: slog.New(slog.DiscardHandler)})
	follower.startFollowing(rev)
	defer func() {
		close(follower.stop)
		<-follower.followed
	}()
	c := &etcdCopy{path: path, prefix: e.Prefix, dst: kvDB{etcd: kv}, opts: o}
	c.report.Schema = schema
	err = guarded(path, func() error {
		return src.View(func(tx *bolt.Tx) error { return c.run(ctx, tx) })
	})
	c.report.Elapsed = time.Since(start)
	return c.report, err
}

// openCopySource opens the file at path read-only, checked, and at the
// current schema: a file at an older one is copied beside it and the copy
// migrated. The returned function closes what it opened and removes the
// temporary copy.
func openCopySource(path string) (*bolt.DB, uint64, func(), error) {
	db, sum, err := openVerified(path)
	if err != nil {
		return nil, 0, nil, err
	}
	var fileID string
	err = db.View(func(tx *bolt.Tx) error {
		fileID = storeIDIn(tx.Bucket(bucketMeta).Get(keyStoreID))
		return nil
	})
	if err == nil {
		err = checkIdentity(path, fileID, sum.TxID, sum.Size)
	}
	if err == nil && fileID == "" {
		// Migration 3 would give the store a new, random id in each
		// temporary copy, and a resumed copy could not tell its own.
		err = fmt.Errorf("%s (schema %d) predates store ids: start the server on it once, which migrates it, stop it, then copy it", path, sum.Schema)
	}
	if err != nil {
		db.Close()
		return nil, 0, nil, err
	}
	if sum.Schema == SchemaVersion {
		return db, sum.Schema, func() { db.Close() }, nil
	}
	mdb, tmp, err := migratedCopy(db, path)
	db.Close()
	if err != nil {
		return nil, 0, nil, err
	}
	return mdb, sum.Schema, func() { mdb.Close(); os.Remove(tmp) }, nil
}

// checkIdentity refuses, as Open does, a file behind the identity record
// beside it; a file without a record is taken as it is.
func checkIdentity(path, fileID string, txid uint64, size int64) error {
	rec, err := readIdentity(path)
	if err != nil || rec == nil {
		return err
	}
	return compareIdentity(path, rec, fileID, txid, size)
}

// migratedCopy writes a copy of db beside path, runs the migrations on it
// as Open does, and checks its records; it returns the copy, open, and its
// name.
func migratedCopy(db *bolt.DB, path string) (*bolt.DB, string, error) {
	if err := removeMigratedCopies(path); err != nil {
		return nil, "", err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".migrate-*")
	if err != nil {
		return nil, "", fmt.Errorf("a temporary copy to migrate: %w", err)
	}
	err = db.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(f); return err })
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	var mdb *bolt.DB
	if err == nil {
		mdb, err = bolt.Open(f.Name(), 0o600, &bolt.Options{Timeout: time.Second})
	}
	if err == nil {
		if err = (kvDB{bolt: mdb}).Update(migrate); err != nil {
			err = fmt.Errorf("migrate store %s: %w", path, err)
		}
	}
	if err == nil {
		err = mdb.View(func(tx *bolt.Tx) error { return checkRecords(path, kvTx{bolt: tx}) })
	}
	if err != nil {
		if mdb != nil {
			mdb.Close()
		}
		os.Remove(f.Name())
		return nil, "", err
	}
	return mdb, f.Name(), nil
}

// removeMigratedCopies removes the temporary copies beside path that
// runs killed while they migrated left, each as large as the migrated
// store: the next run makes its own. None is in use: the file is
// copied with no server on it, and the migrate command holds the data
// directory's lock, so no other copy runs beside this one.
func removeMigratedCopies(path string) error {
	return removeLeftovers(path, ".migrate-")
}

// removeLeftovers removes the regular files beside path whose names are
// path's followed by suffix: temporary copies of the store that a killed
// process left. The caller makes sure no running process still uses one.
func removeLeftovers(path, suffix string) error {
	dir, base := filepath.Dir(path), filepath.Base(path)+suffix
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), base) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove a temporary copy a run left: %w", err)
			}
		}
	}
	return nil
}

// etcdCopy is one run of CopyToEtcd.
type etcdCopy struct {
	path, prefix string
	dst          kvDB
	opts         CopyOptions
	// src is the file's read transaction, held for the whole copy: the
	// copy is of the store as of one moment. names are its buckets, in
	// order, and id the sealed store id in its meta/.
	src    kvTx
	names  [][]byte
	id     []byte
	report CopyReport
}

// What a copy finds under the prefix before it writes.
const (
	copyFresh  = iota // nothing: the copy starts
	copyResume        // an unfinished copy of this store: it goes on
	copyDone          // this store, copied before: only compared
)

func (c *etcdCopy) run(ctx context.Context, src *bolt.Tx) error {
	c.src = kvTx{bolt: src}
	err := src.ForEach(func(name []byte, _ *bolt.Bucket) error {
		c.names = append(c.names, bytes.Clone(name))
		c.report.Buckets = append(c.report.Buckets, BucketCopy{Name: string(name)})
		return nil
	})
	if err != nil {
		return err
	}
	c.id = bytes.Clone(c.src.Bucket(bucketMeta).Get(keyStoreID))
	c.report.StoreID = sealedID(c.id)
	state, err := c.claim()
	if err != nil {
		return err
	}
	c.report.Resumed = state == copyResume
	if state != copyDone {
		var pos copyPos
		for !pos.done {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("the copy into etcd under %s was interrupted after %d transactions; run it again to finish it: %w", c.prefix, c.report.Txns, err)
			}
			var step copyStep
			err := c.dst.Update(func(tx kvTx) error {
				if err := c.checkMark(tx); err != nil {
					return err
				}
				step = c.diff(tx, pos, true)
				return step.apply(tx, c.names)
			})
			if err != nil {
				return fmt.Errorf("copy into etcd under %s: %w", c.prefix, err)
			}
			pos = step.next
			if len(step.ops) > 0 {
				c.report.Txns++
				for i := range c.report.Buckets {
					c.report.Buckets[i].Written += step.written[i]
					c.report.Buckets[i].Removed += step.removed[i]
				}
				if c.opts.Progress != nil {
					r := c.report
					r.Buckets = slices.Clone(r.Buckets)
					c.opts.Progress(r)
				}
			}
		}
	}
	return c.finish(state)
}

// sealedID is the hex form of a sealed store id, "" when it does not
// verify.
func sealedID(v []byte) string {
	id, err := unseal(v)
	if err != nil {
		return ""
	}
	return hexID(id)
}

// claim finds out what the prefix holds, refusing what the copy must not
// write over, and marks a fresh prefix as being copied into.
func (c *etcdCopy) claim() (int, error) {
	var state int
	err := c.dst.Update(func(tx kvTx) error {
		var copying, storeID []byte
		if tx.HasBucket(bucketMeta) {
			meta := tx.Bucket(bucketMeta)
			copying, storeID = meta.Get(keyCopying), meta.Get(keyStoreID)
		}
		switch {
		case copying != nil && !bytes.Equal(copying, c.id):
			return fmt.Errorf("%w: etcd under %s holds an unfinished copy of store %s, not of store %s in %s; finish that copy, or choose another --etcd-prefix",
				ErrConflict, c.prefix, sealedID(copying), c.report.StoreID, c.path)
		case copying != nil:
			state = copyResume
		case storeID != nil && !bytes.Equal(storeID, c.id):
			return fmt.Errorf("%w: etcd under %s holds store %s, not store %s in %s; choose another --etcd-prefix",
				ErrConflict, c.prefix, sealedID(storeID), c.report.StoreID, c.path)
		case storeID != nil:
			state = copyDone
		case !tx.etcd.empty():
			return fmt.Errorf("%w: etcd under %s holds keys that are not an amplifybackendd store; choose another --etcd-prefix",
				ErrConflict, c.prefix)
		default:
			state = copyFresh
			meta, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			return meta.Put(keyCopying, c.id)
		}
		return nil
	})
	if err == nil && state == copyFresh {
		c.report.Txns++
	}
	return state, err
}

// checkMark refuses to go on when the mark is no longer this copy's.
func (c *etcdCopy) checkMark(tx kvTx) error {
	if !tx.HasBucket(bucketMeta) || !bytes.Equal(tx.Bucket(bucketMeta).Get(keyCopying), c.id) {
		return fmt.Errorf("%w: the mark of this copy under %s is gone: something else writes there; stop it, then run the copy again",
			ErrConflict, c.prefix)
	}
	return nil
}

// finish compares every key at one revision and, when none differs,
// removes the mark of an unfinished copy in the same transaction. A store
// copied before that differs from the file is refused.
func (c *etcdCopy) finish(state int) error {
	var all copyStep
	compare := func(tx kvTx) error {
		all = c.diff(tx, copyPos{}, false)
		if d := all.differences(); d > 0 {
			if state == copyDone {
				return fmt.Errorf("%w: etcd under %s holds store %s, copied before, but %d of its keys differ from %s: a server may have written to it since; the copy does not overwrite a store in use (to copy again, first remove every key under %s/)",
					ErrConflict, c.prefix, c.report.StoreID, d, c.path, c.prefix)
			}
			return fmt.Errorf("%w: %d keys under %s changed while the copy ran: something else writes there; stop it, then run the copy again",
				ErrConflict, d, c.prefix)
		}
		if state == copyDone {
			return nil
		}
		if err := c.checkMark(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keyCopying)
	}
	var err error
	if state == copyDone {
		err = c.dst.View(compare)
	} else {
		err = c.dst.Update(compare)
	}
	if err != nil {
		return err
	}
	if state != copyDone {
		c.report.Txns++
	}
	for i := range c.report.Buckets {
		c.report.Buckets[i].Keys = all.keys[i]
	}
	return nil
}

// copyPos is where a copy goes on: the bucket, whether its sequence was
// compared, and the first key not yet compared (nil: its first).
type copyPos struct {
	bucket  int
	started bool
	from    []byte
	done    bool
}

// copyOp is one write of a copy to a bucket: its sequence, a put, or a
// delete.
type copyOp struct {
	bucket   int
	key, val []byte
	seq      uint64
	setSeq   bool
	del      bool
}

// copyStep is what one comparison found: the writes that make etcd match
// the file (collected only when the step is to apply them), counted per
// bucket, and where the next step starts.
type copyStep struct {
	ops                    []copyOp
	keys, written, removed []int
	sequences              int
	bytes                  int
	next                   copyPos
}

func (s *copyStep) differences() int {
	n := s.sequences
	for i := range s.written {
		n += s.written[i] + s.removed[i]
	}
	return n
}

// diff compares the file with etcd from pos on. With collect, it stops
// when the writes it collected fill a transaction, where the next step is
// to start; without, it compares everything and only counts.
func (c *etcdCopy) diff(tx kvTx, pos copyPos, collect bool) copyStep {
	n := len(c.names)
	st := copyStep{keys: make([]int, n), written: make([]int, n), removed: make([]int, n), next: copyPos{done: true}}
	// add counts op, and collects it when it fits in the transaction;
	// false means it did not, and the step ends before it.
	add := func(op copyOp) bool {
		if collect {
			size := len(c.prefix) + len(c.names[op.bucket]) + len(op.key) + len(op.val) + 2 + copyOpOverhead
			if len(st.ops) == copyMaxWrites || (len(st.ops) > 0 && st.bytes+size > copyMaxBytes) {
				return false
			}
			st.ops = append(st.ops, op)
			st.bytes += size
		}
		switch {
		case op.setSeq:
			st.sequences++
		case op.del:
			st.removed[op.bucket]++
		default:
			st.written[op.bucket]++
		}
		return true
	}
	for i := pos.bucket; i < n; i++ {
		name := c.names[i]
		sb := c.src.Bucket(name)
		has := tx.HasBucket(name)
		var from []byte
		if i == pos.bucket {
			from = pos.from
		}
		if i != pos.bucket || !pos.started {
			if !has || tx.Bucket(name).Sequence() != sb.Sequence() {
				if !add(copyOp{bucket: i, setSeq: true, seq: sb.Sequence()}) {
					st.next = copyPos{bucket: i}
					return st
				}
			}
		}
		sc := sb.Cursor()
		sk, sv := seekFrom(sc, from)
		var dc kvCursor
		var dk, dv []byte
		if has {
			dc = tx.Bucket(name).Cursor()
			dk, dv = seekFrom(dc, from)
		}
		meta := bytes.Equal(name, bucketMeta)
		for sk != nil || dk != nil {
			if meta && bytes.Equal(dk, keyCopying) {
				dk, dv = dc.Next()
				continue
			}
			cmp := -1
			switch {
			case sk == nil:
				cmp = 1
			case dk != nil:
				cmp = bytes.Compare(sk, dk)
			}
			var op copyOp
			differs := true
			switch {
			case cmp < 0:
				op = copyOp{bucket: i, key: sk, val: sv}
			case cmp > 0:
				op = copyOp{bucket: i, key: dk, del: true}
			default:
				op = copyOp{bucket: i, key: sk, val: sv}
				differs = !bytes.Equal(sv, dv)
			}
			if differs && !add(op) {
				st.next = copyPos{bucket: i, started: true, from: bytes.Clone(op.key)}
				return st
			}
			if cmp <= 0 {
				st.keys[i]++
				sk, sv = sc.Next()
			}
			if cmp >= 0 {
				dk, dv = dc.Next()
			}
		}
	}
	return st
}

// seekFrom moves c to from, or to its first key when from is nil.
func seekFrom(c kvCursor, from []byte) ([]byte, []byte) {
	if from == nil {
		return c.First()
	}
	return c.Seek(from)
}

// apply writes the step's collected writes.
func (s *copyStep) apply(tx kvTx, names [][]byte) error {
	for _, op := range s.ops {
		b, err := tx.CreateBucket(names[op.bucket])
		if err != nil {
			return err
		}
		switch {
		case op.setSeq:
			err = b.SetSequence(op.seq)
		case op.del:
			err = b.Delete(op.key)
		default:
			err = b.Put(op.key, op.val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// refuseIncompleteCopy refuses a store an unfinished copy is filling.
func refuseIncompleteCopy(tx kvTx) error {
	if !tx.HasBucket(bucketMeta) {
		return nil
	}
	if v := tx.Bucket(bucketMeta).Get(keyCopying); v != nil {
		return fmt.Errorf("%w: a copy of store %s from a bbolt file (amplifybackendd migrate) has not finished here; run it again to complete it, then start the server",
			ErrCopyIncomplete, sealedID(v))
	}
	return nil
}
