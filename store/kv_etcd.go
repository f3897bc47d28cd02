package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amplifybackendd/amplifybackendd/metrics"
)

// The etcd engine of the key-value layer, as doc.go ("On etcd") lays it
// out. Under the store's prefix P, with bucket names that never contain
// "/":
//
//	P/              the commit key: every commit puts it; a commit whose
//	                reads are too many to compare one by one compares
//	                its mod revision instead
//	P/name          the bucket's marker: it exists while the bucket does,
//	                its value the bucket's sequence (uint64 big-endian)
//	P/name/key      one key of the bucket, its value as stored
//
// A bucket's keys are then exactly the range [P/name/, P/name0): etcd
// orders keys bytewise, as bbolt does, so the bucket's order, Seek and a
// prefix walk are range reads. The marker and the commit key sort outside
// every bucket's range, and so do the claims under P// (claims_etcd.go),
// which a commit may be fenced on (etcdTx.fence).

// etcdKV is the etcd engine: the client, the store's prefix, and how long
// one request may take. The layer's methods take no context (bbolt needs
// none), so each request is bounded by timeout instead.
type etcdKV struct {
	client  *clientv3.Client
	prefix  string
	timeout time.Duration
	// attempts bounds how often an Update runs when its commit keeps
	// losing to other writers.
	attempts int
	// mirror is the prefix as this process last heard of it, which
	// transactions read (mirror.go).
	mirror *mirror
	// clock hands out the numbers of NextSequence (etcdBucket.nextSequence).
	clock seqClock
	// metrics counts the transactions that lost to another writer.
	metrics *metrics.Metrics
}

// errTxnTooLarge is a commit etcd refused for its number of writes or its
// size (its --max-txn-ops and --max-request-bytes): a group commit then
// splits its calls between Txns (Store.commitBatch).
var errTxnTooLarge = errors.New("transaction exceeds etcd's limits")

// errContended is what an Update returns when every attempt lost its
// commit to another writer: the store is busy, nothing was written, and
// the caller may try again later.
var errContended = fmt.Errorf("%w: etcd commit lost to concurrent writers", ErrUnavailable)

// etcdAttempts is how often an Update runs before errContended: each
// retry follows another writer's commit, so the store makes progress
// while one transaction retries.
const etcdAttempts = 64

// newEtcdKV returns the engine for the store under prefix, which must
// not end in "/" (the engine adds it).
func newEtcdKV(client *clientv3.Client, prefix string, timeout time.Duration) *etcdKV {
	e := &etcdKV{client: client, prefix: prefix, timeout: timeout, attempts: etcdAttempts}
	e.mirror = newMirror(e.commitKey())
	return e
}

// commitKey is the key every commit puts.
func (e *etcdKV) commitKey() string { return e.prefix + "/" }

// view runs fn at one revision of the mirror, one that holds every commit
// made before view was called: the cluster tells which (the commit key's
// mod revision, a linearizable read), and the mirror is waited for.
func (e *etcdKV) view(fn func(kvTx) error) error {
	last, err := e.lastCommit()
	if err != nil {
		return err
	}
	t := &etcdTx{kv: e, min: last}
	err = fn(kvTx{etcd: t})
	if t.err != nil {
		// A failed read answered nil: fn's outcome rests on it.
		return t.err
	}
	return err
}

// lastCommit asks the cluster for the revision of the store's last
// commit, the commit key's mod revision (0 before the first): one
// linearizable request, which a read needs once to be current.
func (e *etcdKV) lastCommit() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	resp, err := e.client.Get(ctx, e.commitKey(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, fmt.Errorf("store: etcd read: %w", etcdFailure(err))
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	return resp.Kvs[0].ModRevision, nil
}

// update runs fn and commits its writes in one Txn guarded on what fn
// read (etcdTx.compares), running fn again on a new revision when another
// commit changed it first: once the mirror holds that commit, which fn
// then reads.
func (e *etcdKV) update(fn func(kvTx) error) error { return e.updateWith(fn, (*etcdTx).commit) }

// updateWith is update committing fn's writes with commit, which reports
// false when another commit changed what fn read first.
func (e *etcdKV) updateWith(fn func(kvTx) error, commit func(*etcdTx) (bool, error)) error {
	var min int64
	for attempt := 1; ; attempt++ {
		t := &etcdTx{kv: e, writes: map[string]etcdWrite{}, min: min}
		err := fn(kvTx{etcd: t})
		if t.err != nil {
			return t.err
		}
		if err != nil || len(t.writes) == 0 {
			// What fn drew from the copy alone (an error, or nothing to
			// write) has no commit to guard it: it stands if what it read
			// is unchanged, as a View's answer does, and fn runs again on
			// a copy that holds the change otherwise.
			if t.rev == 0 {
				return err
			}
			held, cerr := t.check()
			if cerr != nil {
				return cerr
			}
			if held {
				return err
			}
			e.metrics.CommitLost()
			if attempt == e.attempts {
				return fmt.Errorf("%w (%d attempts)", errContended, attempt)
			}
			min = t.lost
			continue
		}
		committed, err := commit(t)
		if err != nil {
			return err
		}
		if committed {
			if t.committed != 0 {
				// Answered once this process reads its own write. A
				// mirror slower than the timeout leaves the write as
				// committed: it is, and a View waits for it anyway.
				_, _, _ = e.mirror.await(e.timeout, atLeast(t.committed))
			}
			return nil
		}
		e.metrics.CommitLost()
		if attempt == e.attempts {
			return fmt.Errorf("%w (%d attempts)", errContended, attempt)
		}
		// The next run reads a copy that holds what the commit lost to.
		min = t.lost
	}
}

// etcdTx is one transaction of the etcd engine. Its reads are of snap, a
// copy of the mirror at rev taken by the first read, at least at min; a
// write transaction buffers its writes until commit.
type etcdTx struct {
	kv       *etcdKV
	snap     *btree.BTreeG[mirrorEntry]
	rev, min int64
	writes   map[string]etcdWrite // nil in a read transaction
	// committed is the revision of the commit, once made.
	committed int64
	// undo holds what each write replaced, in order, so the writes after
	// a mark can be dropped; size is the bytes the writes hold.
	undo []etcdUndo
	size int
	// err is the first failed read: the mirror did not catch up in time.
	// Get has no error to return, so it answers nil and the transaction
	// fails with err when fn returns.
	err error
	// fences are the claim keys (and their create revisions) the commit
	// applies under (fence).
	fences map[string]int64
	// What a write transaction read, which its commit compares (guards):
	// each key read from the copy with the revision that wrote it (0:
	// absent), in the order read so undoTo can forget a dropped call's;
	// and the key ranges its cursors walked. coarse says a read was too
	// wide to say key by key (a count, a whole prefix): the commit then
	// compares the commit key.
	reads   map[string]int64
	readLog []string
	ranges  []keyRange
	coarse  bool
	// lost is the revision at which a commit or check found a read
	// changed: the next run reads a copy that holds it.
	lost int64
}

// keyRange is a range of keys [lo, hi) a cursor walked.
type keyRange struct{ lo, hi string }

// etcdWrite is a buffered write: a value put, or a delete.
type etcdWrite struct {
	val []byte
	del bool
}

// errReadOnly is a write attempted in a View.
var errReadOnly = errors.New("store: write in a read transaction")

// read returns the transaction's copy of the mirror, taking it at the
// first read. It returns nil after a failure, recorded in err.
func (t *etcdTx) read() *btree.BTreeG[mirrorEntry] {
	if t.snap == nil && t.err == nil {
		t.snap, t.rev, t.err = t.kv.mirror.await(t.kv.timeout, atLeast(t.min))
	}
	return t.snap
}

// stored returns key's value at the transaction's revision and whether it
// exists; a write transaction's commit is then guarded on it.
func (t *etcdTx) stored(key string) ([]byte, bool) {
	e, ok := t.peek(key)
	t.guard(key, e.mod)
	return e.val, ok
}

// peek returns key's entry at the transaction's revision, guarding
// nothing: for what may be stale without harm (nextSequence's floor).
func (t *etcdTx) peek(key string) (mirrorEntry, bool) {
	snap := t.read()
	if snap == nil {
		return mirrorEntry{}, false
	}
	return snap.Get(mirrorEntry{key: key})
}

// guard records that the transaction read key as last written at mod (0:
// absent), which its commit compares.
func (t *etcdTx) guard(key string, mod int64) {
	if t.writes == nil || t.coarse {
		return
	}
	if t.reads == nil {
		t.reads = map[string]int64{}
	}
	if _, ok := t.reads[key]; !ok {
		t.reads[key] = mod
		t.readLog = append(t.readLog, key)
	}
}

// guards is how many compares the transaction's commit needs.
func (t *etcdTx) guards() int { return len(t.reads) + len(t.ranges) + len(t.fences) }

// get returns key's value and whether it exists, the transaction's own
// writes first.
func (t *etcdTx) get(key string) ([]byte, bool) {
	if w, ok := t.writes[key]; ok {
		return w.val, !w.del
	}
	return t.stored(key)
}

// exists reports whether key is stored at the transaction's revision.
func (t *etcdTx) exists(key string) bool {
	_, ok := t.stored(key)
	return ok
}

// empty reports whether no key is stored under the prefix ("P/" on) at
// the transaction's revision, nor written by it: no store, and nothing
// else either.
func (t *etcdTx) empty() bool {
	if len(t.writes) > 0 {
		return false
	}
	t.coarse = true
	snap := t.read()
	if snap == nil {
		return false
	}
	found := false
	snap.AscendRange(mirrorEntry{key: t.kv.commitKey()}, mirrorEntry{key: t.kv.prefix + "0"}, func(mirrorEntry) bool {
		found = true
		return false
	})
	return !found
}

// etcdUndo is a buffered write's key and what it replaced.
type etcdUndo struct {
	key  string
	prev etcdWrite
	had  bool
}

// Limits of one Txn the engine keeps under: etcd's defaults are 128
// operations (--max-txn-ops; one goes to the commit key), as many
// compares, and 1.5 MiB per request (--max-request-bytes), and the client
// sends at most 2 MiB.
const (
	etcdMaxOps   = 127
	etcdMaxCmps  = 127
	etcdMaxBytes = 1 << 20
)

// set buffers a write.
func (t *etcdTx) set(key string, w etcdWrite) error {
	if t.writes == nil {
		return errReadOnly
	}
	prev, had := t.writes[key]
	t.undo = append(t.undo, etcdUndo{key: key, prev: prev, had: had})
	t.size += len(key) + len(w.val)
	t.writes[key] = w
	return nil
}

// fence makes the commit apply only while key's create revision is rev:
// the claim it names is still the one this process made.
func (t *etcdTx) fence(key string, rev int64) {
	if t.fences == nil {
		t.fences = map[string]int64{}
	}
	t.fences[key] = rev
}

// full reports whether the buffered writes, or the reads to compare,
// reach a Txn's limits. A group commit then stops taking calls, so that
// a group of small calls stays guarded key by key.
func (t *etcdTx) full() bool {
	return len(t.writes) >= etcdMaxOps || t.size >= etcdMaxBytes || (!t.coarse && t.guards() > etcdMaxCmps)
}

// etcdMark is a point of a transaction's writes and reads undoTo goes
// back to.
type etcdMark struct{ writes, reads, ranges int }

// mark returns the transaction's current point.
func (t *etcdTx) mark() etcdMark {
	return etcdMark{writes: len(t.undo), reads: len(t.readLog), ranges: len(t.ranges)}
}

// undoTo drops the writes made after mark, newest first, and forgets the
// reads made since, which only the dropped writes rested on.
func (t *etcdTx) undoTo(mark etcdMark) {
	for i := len(t.undo) - 1; i >= mark.writes; i-- {
		u := t.undo[i]
		t.size -= len(u.key) + len(t.writes[u.key].val)
		if u.had {
			t.writes[u.key] = u.prev
		} else {
			delete(t.writes, u.key)
		}
	}
	t.undo = t.undo[:mark.writes]
	if mark.reads <= len(t.readLog) {
		for _, k := range t.readLog[mark.reads:] {
			delete(t.reads, k)
		}
		t.readLog = t.readLog[:mark.reads]
	}
	if mark.ranges <= len(t.ranges) {
		t.ranges = t.ranges[:mark.ranges]
	}
}

// compares are what a commit applies under: every key read is as it was
// read (its mod revision the same, 0 for a key read absent, so a key
// added or deleted since fails too) and no key in a walked range was
// written after the copy's revision (a key added to the range); a
// deleted one was read, so compared. When these are too many for a Txn,
// or a read was coarse, the one compare that covers them all: no commit
// came after the copy's revision (an absent commit key's mod revision is
// 0, so a store never written to commits too). A transaction that read
// nothing has none: blind writes fit at any revision.
func (t *etcdTx) compares() []clientv3.Cmp {
	if t.rev == 0 {
		return nil
	}
	if t.coarse || t.guards() > etcdMaxCmps {
		return []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(t.kv.commitKey()), "<", t.rev+1)}
	}
	cmps := make([]clientv3.Cmp, 0, len(t.reads)+len(t.ranges))
	for _, k := range t.readLog {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", t.reads[k]))
	}
	for _, r := range t.ranges {
		if r.lo < r.hi {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(r.lo), "<", t.rev+1).WithRange(r.hi))
		}
	}
	return cmps
}

// check reports whether what the transaction read is still as it read
// it, with one Txn that compares and writes nothing; when not, lost is
// the revision that says otherwise.
func (t *etcdTx) check() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), t.kv.timeout)
	defer cancel()
	resp, err := t.kv.client.Txn(ctx).If(t.compares()...).Else(t.lastCommitOp()).Commit()
	if err != nil {
		return false, fmt.Errorf("store: etcd read: %w", etcdFailure(err))
	}
	if !resp.Succeeded {
		t.lost = lastCommitIn(resp, 0)
	}
	return resp.Succeeded, nil
}

// lastCommitOp reads the commit key in a failed Txn: its mod revision is
// the store's last commit, which changed what the Txn compared. The
// cluster's revision would not do: the mirror applies only the prefix's
// changes, and may never see that revision.
func (t *etcdTx) lastCommitOp() clientv3.Op {
	return clientv3.OpGet(t.kv.commitKey(), clientv3.WithKeysOnly())
}

// lastCommitIn returns the commit key's mod revision as read by the i-th
// operation of a failed Txn's Else.
func lastCommitIn(resp *clientv3.TxnResponse, i int) int64 {
	if i < len(resp.Responses) {
		if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) > 0 {
			return kvs[0].ModRevision
		}
	}
	return 0
}

// commit sends the buffered writes and a put of the commit key as one
// Txn that applies only under the transaction's compares; it reports
// false when one failed and nothing was written.
func (t *etcdTx) commit() (bool, error) {
	if len(t.writes) == 0 {
		return true, nil
	}
	ops := t.ops(slices.Sorted(maps.Keys(t.writes)))
	ctx, cancel := context.WithTimeout(context.Background(), t.kv.timeout)
	defer cancel()
	cmps := t.compares()
	fences := slices.Sorted(maps.Keys(t.fences))
	var orElse []clientv3.Op
	for _, k := range fences {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", t.fences[k]))
		// On failure, what the claims are now: a lost claim fails the
		// commit for good, a lost race runs it again.
		orElse = append(orElse, clientv3.OpGet(k, clientv3.WithKeysOnly()))
	}
	orElse = append(orElse, t.lastCommitOp())
	resp, err := t.kv.client.Txn(ctx).If(cmps...).Then(ops...).Else(orElse...).Commit()
	if errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrRequestTooLarge) {
		return false, fmt.Errorf("store: etcd commit of %d writes: %w: %w", len(ops), errTxnTooLarge, err)
	}
	if err == nil && resp.Succeeded {
		t.committed = resp.Header.Revision
	}
	if err != nil {
		return false, fmt.Errorf("store: etcd commit of %d writes: %w", len(ops), etcdFailure(err))
	}
	if !resp.Succeeded {
		t.lost = lastCommitIn(resp, len(fences))
	}
	if !resp.Succeeded && len(fences) > 0 {
		var lost []string
		for i, k := range fences {
			kvs := resp.Responses[i].GetResponseRange().Kvs
			if len(kvs) == 0 || kvs[0].CreateRevision != t.fences[k] {
				lost = append(lost, k)
			}
		}
		if len(lost) > 0 {
			return false, &fencedError{keys: lost}
		}
	}
	return resp.Succeeded, nil
}

// ops are the buffered writes of keys, in order, and a put of the commit
// key.
func (t *etcdTx) ops(keys []string) []clientv3.Op {
	ops := make([]clientv3.Op, 0, len(keys)+1)
	for _, k := range keys {
		if w := t.writes[k]; w.del {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(w.val)))
		}
	}
	return append(ops, clientv3.OpPut(t.kv.commitKey(), ""))
}

// marker is the key of the named bucket's marker and sequence.
func (t *etcdTx) marker(name []byte) string {
	if bytes.IndexByte(name, '/') >= 0 || len(name) == 0 {
		// Bucket names are constants of this package: a bad one is a bug.
		panic(fmt.Sprintf("store: bucket name %q is empty or holds /", string(name)))
	}
	return t.kv.prefix + "/" + string(name)
}

func (t *etcdTx) hasBucket(name []byte) bool {
	_, ok := t.get(t.marker(name))
	return ok
}

func (t *etcdTx) bucket(name []byte) *etcdBucket {
	m := t.marker(name)
	return &etcdBucket{tx: t, marker: m, lo: m + "/", hi: m + "0"}
}

func (t *etcdTx) createBucket(name []byte) (*etcdBucket, error) {
	b := t.bucket(name)
	if t.writes == nil {
		return nil, errReadOnly
	}
	if _, ok := t.get(b.marker); !ok {
		return b, t.set(b.marker, etcdWrite{val: binary.BigEndian.AppendUint64(nil, 0)})
	}
	return b, nil
}

// deleteBucket deletes every key of the named bucket, then its marker.
// A migration that drops a bucket may commit in parts (etcd_parts.go),
// which send the markers it deletes last: a stop between parts leaves a
// bucket whole or with keys gone, never keys without their marker.
func (t *etcdTx) deleteBucket(name []byte) error {
	if t.writes == nil {
		return errReadOnly
	}
	b := t.bucket(name)
	if _, ok := t.get(b.marker); !ok {
		return nil
	}
	var keys []string
	if err := b.forEach(func(k, _ []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		return err
	}
	for _, k := range keys {
		if err := t.set(b.lo+k, etcdWrite{del: true}); err != nil {
			return err
		}
	}
	return t.set(b.marker, etcdWrite{del: true})
}

// isMarker reports whether key, one of the store's, is a bucket's marker
// (P/name) rather than a key in a bucket (P/name/key).
func (t *etcdTx) isMarker(key string) bool {
	rest := key[len(t.kv.prefix)+1:]
	return rest != "" && !strings.Contains(rest, "/")
}

// etcdBucket is one bucket: its marker key and the range [lo, hi) its
// keys are in.
type etcdBucket struct {
	tx             *etcdTx
	marker, lo, hi string
}

func (b *etcdBucket) get(k []byte) []byte {
	v, ok := b.tx.get(b.lo + string(k))
	if ok && v == nil {
		// etcd gives an empty value as nil; Get answers nil only when
		// the key is absent.
		v = []byte{}
	}
	return v
}

// errKeyRequired is a write of an empty key, which bbolt refuses too.
var errKeyRequired = errors.New("store: key required")

func (b *etcdBucket) put(k, v []byte) error {
	if len(k) == 0 {
		return errKeyRequired
	}
	// The caller may reuse v's array before the commit; bbolt copies too.
	return b.tx.set(b.lo+string(k), etcdWrite{val: bytes.Clone(v)})
}

func (b *etcdBucket) delete(k []byte) error {
	if len(k) == 0 {
		return errKeyRequired
	}
	return b.tx.set(b.lo+string(k), etcdWrite{del: true})
}

func (b *etcdBucket) sequence() uint64 {
	v, _ := b.tx.get(b.marker)
	return markerSequence(v)
}

// markerSequence is the sequence a bucket's marker value holds (0 when
// it holds none).
func markerSequence(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// nextSequence is not the bucket's sequence plus one, stored, as on
// bbolt: replicas counting one stored sequence would each read it, and
// every two of their transactions would conflict on it. It is a number
// from the process's clock (seqClock) above the stored sequence (read
// unguarded: it changes only when a copy sets it), which it leaves as it
// is. Two replicas may hand out the same number; the store writes it into
// an index key it first reads absent, so the second commit fails and runs
// again with a new one.
func (b *etcdBucket) nextSequence() (uint64, error) {
	if b.tx.writes == nil {
		return 0, errReadOnly
	}
	e, _ := b.tx.peek(b.marker)
	return b.tx.kv.clock.next(markerSequence(e.val)), b.tx.err
}

func (b *etcdBucket) setSequence(s uint64) error {
	if err := b.tx.set(b.marker, etcdWrite{val: binary.BigEndian.AppendUint64(nil, s)}); err != nil {
		return err
	}
	return b.tx.err
}

// keyN counts the keys at the transaction's revision, then corrects the
// count for the transaction's own writes.
func (b *etcdBucket) keyN() int {
	b.tx.coarse = true
	snap := b.tx.read()
	if snap == nil {
		return 0
	}
	n := 0
	snap.AscendRange(mirrorEntry{key: b.lo}, mirrorEntry{key: b.hi}, func(mirrorEntry) bool { n++; return true })
	for _, k := range b.written(b.lo, b.hi) {
		switch had := b.tx.exists(k); {
		case b.tx.writes[k].del && had:
			n--
		case !b.tx.writes[k].del && !had:
			n++
		}
	}
	return n
}

// written returns, sorted, the keys the transaction wrote in the bucket
// from from on, up to hi.
func (b *etcdBucket) written(from, hi string) []string {
	var keys []string
	for k := range b.tx.writes {
		if k >= from && k < hi {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func (b *etcdBucket) cursor() *etcdCursor { return &etcdCursor{b: b, lo: b.lo, hi: b.hi} }

// within returns a cursor over the bucket's keys that start with prefix:
// the range [lo+prefix, the first key after every one with the prefix).
func (b *etcdBucket) within(prefix []byte) *etcdCursor {
	c := b.cursor()
	c.lo = b.lo + string(prefix)
	if end := clientv3.GetPrefixRangeEnd(c.lo); end > c.lo && end < b.hi {
		c.hi = end
	}
	return c
}

func (b *etcdBucket) forEach(fn func(k, v []byte) error) error {
	c := b.cursor()
	for k, v := c.first(); k != nil; k, v = c.next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.tx.err
}

// etcdCursor walks a bucket in key order: it pages through the bucket's
// range in the transaction's copy of the mirror and merges its writes
// in, key by key, a buffered write replacing or hiding the stored key.
type etcdCursor struct {
	b *etcdBucket
	// lo and hi bound the walk: the bucket's range, or a prefix's in it.
	lo, hi string
	// page is the range read last, from the key at pos on not yet
	// returned; after is where the next page starts, more whether there
	// is one, and limit its size, growing for long walks.
	page  []mirrorEntry
	pos   int
	after string
	more  bool
	limit int64
	// writes are the transaction's writes in the range walked, sorted,
	// from the one at wpos on not yet returned.
	writes []string
	wpos   int
	// walked is the index in the transaction's ranges of the one this
	// walk covers, from its start to the last key returned (-1: none).
	walked int
}

// Page sizes of a cursor: a Seek that reads a page of jobs wants few
// keys, a full walk many.
const (
	etcdFirstPage = 16
	etcdMaxPage   = 1024
)

func (c *etcdCursor) first() ([]byte, []byte) { return c.from(c.lo) }

func (c *etcdCursor) seek(k []byte) ([]byte, []byte) { return c.from(max(c.lo, c.b.lo+string(k))) }

// from starts the walk at key.
func (c *etcdCursor) from(key string) ([]byte, []byte) {
	c.page, c.pos, c.after, c.more, c.limit = nil, 0, key, true, etcdFirstPage
	c.writes, c.wpos = c.b.written(key, c.hi), 0
	c.walked = -1
	if t := c.b.tx; t.writes != nil && !t.coarse {
		c.walked = len(t.ranges)
		t.ranges = append(t.ranges, keyRange{lo: key, hi: key})
	}
	return c.next()
}

// walk extends the walk's range to hi: the caller saw every key below it.
func (c *etcdCursor) walk(hi string) {
	if t := c.b.tx; c.walked >= 0 && c.walked < len(t.ranges) && t.ranges[c.walked].hi < hi {
		t.ranges[c.walked].hi = hi
	}
}

// fill reads the next page once the current one is used up.
func (c *etcdCursor) fill() {
	if c.pos < len(c.page) || !c.more {
		return
	}
	snap := c.b.tx.read()
	c.page, c.pos, c.more = c.page[:0], 0, false
	if snap == nil {
		return
	}
	snap.AscendRange(mirrorEntry{key: c.after}, mirrorEntry{key: c.hi}, func(e mirrorEntry) bool {
		if int64(len(c.page)) == c.limit {
			c.more = true
			return false
		}
		c.page = append(c.page, e)
		return true
	})
	if n := len(c.page); n > 0 {
		c.after = c.page[n-1].key + "\x00"
	}
	c.limit = min(2*c.limit, etcdMaxPage)
}

func (c *etcdCursor) next() ([]byte, []byte) {
	for {
		c.fill()
		stored := c.pos < len(c.page)
		buffered := c.wpos < len(c.writes)
		var cmp int
		switch {
		case !stored && !buffered:
			c.walk(c.hi)
			return nil, nil
		case !buffered:
			cmp = 1
		case !stored:
			cmp = -1
		default:
			cmp = strings.Compare(c.writes[c.wpos], c.page[c.pos].key)
		}
		if cmp > 0 {
			e := c.page[c.pos]
			c.pos++
			c.b.tx.guard(e.key, e.mod)
			c.walk(e.key + "\x00")
			return []byte(e.key[len(c.b.lo):]), e.val
		}
		k := c.writes[c.wpos]
		c.wpos++
		if cmp == 0 {
			c.pos++ // the buffered write replaces the stored key
		}
		if w := c.b.tx.writes[k]; !w.del {
			c.walk(k + "\x00")
			return []byte(k[len(c.b.lo):]), w.val
		}
	}
}

// seqClock hands out the numbers of a process's NextSequence on etcd:
// microseconds since the Unix epoch, or one more than the last number
// handed out when the clock has not moved past it (or went back), so a
// process's numbers only grow. Numbers of replicas whose clocks agree
// then order their calls as they happened, to the microsecond, which is
// what the job index (newest first) needs of them.
type seqClock struct{ last atomic.Uint64 }

// next returns a number above floor and above every number next returned
// before.
func (c *seqClock) next(floor uint64) uint64 {
	for {
		last := c.last.Load()
		n := max(uint64(time.Now().UnixMicro()), last+1, floor+1)
		if c.last.CompareAndSwap(last, n) {
			return n
		}
	}
}
