package store

import (
	"bytes"
	"errors"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The key-value layer every record, index and migration of this package
// goes through (doc.go states its contract, testKVContract tests it). bbolt
// is its one engine today; no engine's type leaves the package.
//
// kvDB, kvTx, kvBucket and kvCursor are small structs with one field per
// engine, not interfaces: their methods run for every transaction and
// every key the store reads or writes, and a call through an interface
// makes every key and function passed to it escape to the heap, an
// allocation per Get. Called concretely, bbolt's methods inline and the
// keys stay on the stack. etcd (kv_etcd.go) is the second engine: a
// field and a branch in each method, the bbolt field nil when it is set.

// kvDB runs the transactions of the key-value layer. View's fn sees one
// consistent snapshot; Update's fn writes, and its writes commit together
// when it returns nil and are all dropped when it returns an error, which
// Update returns.
type kvDB struct {
	bolt *bolt.DB
	etcd *etcdKV
}

// View runs fn in a read transaction.
func (d kvDB) View(fn func(kvTx) error) error {
	if d.etcd != nil {
		return d.etcd.view(fn)
	}
	return d.bolt.View(func(tx *bolt.Tx) error { return fn(kvTx{bolt: tx}) })
}

// Update runs fn in a write transaction.
func (d kvDB) Update(fn func(kvTx) error) error {
	if d.etcd != nil {
		return d.etcd.update(fn)
	}
	return d.bolt.Update(func(tx *bolt.Tx) error { return fn(kvTx{bolt: tx}) })
}

// kvTx is one transaction: a consistent view of every bucket, and, in a
// write transaction, writes that commit together or not at all. It is used
// by one goroutine at a time.
type kvTx struct {
	bolt *bolt.Tx
	etcd *etcdTx
}

// HasBucket reports whether the named bucket exists.
func (t kvTx) HasBucket(name []byte) bool {
	if t.etcd != nil {
		return t.etcd.hasBucket(name)
	}
	return t.bolt.Bucket(name) != nil
}

// Bucket returns the named bucket, which must exist (migrations create
// every bucket; HasBucket tells).
func (t kvTx) Bucket(name []byte) kvBucket {
	if t.etcd != nil {
		return kvBucket{etcd: t.etcd.bucket(name)}
	}
	return kvBucket{bolt: t.bolt.Bucket(name)}
}

// CreateBucket returns the named bucket, creating it when it does not
// exist (write transactions only).
func (t kvTx) CreateBucket(name []byte) (kvBucket, error) {
	if t.etcd != nil {
		b, err := t.etcd.createBucket(name)
		return kvBucket{etcd: b}, err
	}
	b, err := t.bolt.CreateBucketIfNotExists(name)
	return kvBucket{bolt: b}, err
}

// DeleteBucket removes the named bucket with every key in it (write
// transactions only); a bucket that does not exist is no error, so a
// migration that drops one can run again over its own partial work.
func (t kvTx) DeleteBucket(name []byte) error {
	if t.etcd != nil {
		return t.etcd.deleteBucket(name)
	}
	if err := t.bolt.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
		return err
	}
	return nil
}

// full reports whether the transaction holds as many writes as its
// engine commits in one go: never on bbolt; on etcd, near its limits on
// operations and bytes per Txn. A group commit then stops taking calls.
func (t kvTx) full() bool { return t.etcd != nil && t.etcd.full() }

// fence makes an etcd commit apply only while the claim key's create
// revision is rev (claims_etcd.go); bbolt has no other process to fence.
func (t kvTx) fence(key string, rev int64) {
	if t.etcd != nil {
		t.etcd.fence(key, rev)
	}
}

// mark returns a point of the transaction's writes that undo goes back
// to, so a group commit can drop the call that made it full.
func (t kvTx) mark() etcdMark {
	if t.etcd != nil {
		return t.etcd.mark()
	}
	return etcdMark{}
}

// undo drops the writes made since mark (only after full, so never on
// bbolt).
func (t kvTx) undo(mark etcdMark) {
	if t.etcd != nil {
		t.etcd.undoTo(mark)
	}
}

// sequencesCount reports whether NextSequence stores the bucket's
// sequence, so that it is at least every number handed out (bbolt); on
// etcd the numbers come from the clock instead (etcdBucket.nextSequence).
func (t kvTx) sequencesCount() bool { return t.etcd == nil }

// kvBucket is an ordered set of keys, each with a value, and a sequence.
// Keys sort bytewise; a key is never empty. Slices a bucket returns are
// valid only until the transaction ends or the bucket is next written:
// callers copy what they keep.
type kvBucket struct {
	bolt *bolt.Bucket
	etcd *etcdBucket
}

// Get returns the value of k, or nil when k is absent. A key stored with
// an empty value is told from an absent one by a cursor (hasKey).
func (b kvBucket) Get(k []byte) []byte {
	if b.etcd != nil {
		return b.etcd.get(k)
	}
	return b.bolt.Get(k)
}

// Put sets k to v, overwriting any value; the transaction's later reads
// see it.
func (b kvBucket) Put(k, v []byte) error {
	if b.etcd != nil {
		return b.etcd.put(k, v)
	}
	return b.bolt.Put(k, v)
}

// Delete removes k; deleting an absent key is not an error.
func (b kvBucket) Delete(k []byte) error {
	if b.etcd != nil {
		return b.etcd.delete(k)
	}
	return b.bolt.Delete(k)
}

// Cursor walks the bucket's keys in order, with the transaction's own
// writes made before it was opened. Writing to the bucket while one of its
// cursors or ForEach is in use is not supported: the store collects what
// it changes, then writes.
func (b kvBucket) Cursor() kvCursor {
	if b.etcd != nil {
		return kvCursor{etcd: b.etcd.cursor()}
	}
	return kvCursor{bolt: b.bolt.Cursor()}
}

// Within returns a cursor over the keys that start with prefix only:
// First lands on the first of them, Seek on k or the first after it
// among them, and a walk ends (a nil key) at the first key without the
// prefix instead of returning it. A walk over one prefix then rests on
// that prefix's keys alone: on etcd its commit compares them and not the
// key after them, which another writer may be adding or changing.
func (b kvBucket) Within(prefix []byte) kvCursor {
	if b.etcd != nil {
		return kvCursor{etcd: b.etcd.within(prefix)}
	}
	return kvCursor{bolt: b.bolt.Cursor(), prefix: prefix, bounded: true}
}

// ForEach calls fn for every key in order, stopping at fn's first error.
func (b kvBucket) ForEach(fn func(k, v []byte) error) error {
	if b.etcd != nil {
		return b.etcd.forEach(fn)
	}
	return b.bolt.ForEach(fn)
}

// NextSequence returns a number above every number it returned before in
// this process and above the bucket's sequence (write transactions
// only). On bbolt it increments the sequence and returns it, a rolled
// back transaction's increments undone with it; on etcd the number comes
// from the clock and the sequence stays as it is, so two replicas may
// hand out the same number (etcdBucket.nextSequence): a caller that needs
// it unique writes it into a key it reads first.
func (b kvBucket) NextSequence() (uint64, error) {
	if b.etcd != nil {
		return b.etcd.nextSequence()
	}
	return b.bolt.NextSequence()
}

// SetSequence sets the bucket's sequence (write transactions only): a
// copy of a store carries each bucket's sequence with its keys, so the
// numbers it hands out next follow those already used.
func (b kvBucket) SetSequence(v uint64) error {
	if b.etcd != nil {
		return b.etcd.setSequence(v)
	}
	return b.bolt.SetSequence(v)
}

// Sequence is the bucket's sequence as last set.
func (b kvBucket) Sequence() uint64 {
	if b.etcd != nil {
		return b.etcd.sequence()
	}
	return b.bolt.Sequence()
}

// KeyN counts the keys; the full check compares each index's size with its
// records.
func (b kvBucket) KeyN() int {
	if b.etcd != nil {
		return b.etcd.keyN()
	}
	return b.bolt.Stats().KeyN
}

// FillAtEnd says this transaction's new keys sort after every key in the
// bucket (time-ordered ids, a counting index); it changes no result. bbolt
// then splits pages nearly full: keys that only grow at the right edge
// would otherwise leave every page half empty, and a commit would write
// about twice the pages. In a write transaction bbolt hands out one Bucket
// per name, so the setting holds for the rest of the transaction.
func (b kvBucket) FillAtEnd() {
	if b.bolt != nil { // etcd has no pages to fill
		b.bolt.FillPercent = appendFill
	}
}

// appendFill is the split point of trees that grow at their right edge.
const appendFill = 0.95

// kvCursor is an ordered walk over one bucket. Each method returns the key
// and value it lands on, or a nil key past the last one.
type kvCursor struct {
	bolt *bolt.Cursor
	etcd *etcdCursor
	// prefix bounds a bbolt cursor made by Within (bounded).
	prefix  []byte
	bounded bool
}

// First moves to the first key.
func (c kvCursor) First() (k, v []byte) {
	if c.etcd != nil {
		return c.etcd.first()
	}
	if c.bounded {
		return c.within(c.bolt.Seek(c.prefix))
	}
	return c.bolt.First()
}

// Seek moves to k, or to the first key after it when k is absent.
func (c kvCursor) Seek(k []byte) (key, v []byte) {
	if c.etcd != nil {
		return c.etcd.seek(k)
	}
	if c.bounded && bytes.Compare(k, c.prefix) < 0 {
		k = c.prefix
	}
	return c.within(c.bolt.Seek(k))
}

// Next moves to the key after the current one.
func (c kvCursor) Next() (k, v []byte) {
	if c.etcd != nil {
		return c.etcd.next()
	}
	return c.within(c.bolt.Next())
}

// within ends a bounded bbolt walk at the first key without its prefix.
func (c kvCursor) within(k, v []byte) ([]byte, []byte) {
	if c.bounded && k != nil && !bytes.HasPrefix(k, c.prefix) {
		return nil, nil
	}
	return k, v
}
