package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"hash/maphash"
	"io"
	"os"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// CheckMode says how much of the store file Open reads, and when.
type CheckMode string

const (
	// CheckAuto checks fully before serving when the file is at most
	// FullCheckLimit bytes, and as CheckBackground otherwise: start-up
	// stays bounded on big stores, and every store is read through.
	CheckAuto CheckMode = "auto"
	// CheckFull reads every page, key and record before the store serves:
	// bbolt's consistency check, every record's checksum, and every index
	// against its records.
	CheckFull CheckMode = "full"
	// CheckBackground reads what CheckQuick reads before the store serves,
	// then what CheckFull reads while it serves. Reads are answered
	// meanwhile; writes wait until the check has passed, because a write
	// into a damaged file can spread the damage (a damaged freelist hands
	// out pages still in use). Damage it finds fails every write and Ping
	// from then on, and is logged as damage met at run time is.
	CheckBackground CheckMode = "background"
	// CheckQuick reads the meta pages, the file's size and the store's
	// identity only. Damage deeper in the file is met at run time, where a
	// read that meets it fails with ErrDamaged instead of crashing.
	CheckQuick CheckMode = "quick"
)

// ParseCheckMode accepts the names of the modes.
func ParseCheckMode(s string) (CheckMode, error) {
	switch m := CheckMode(s); m {
	case CheckAuto, CheckFull, CheckBackground, CheckQuick:
		return m, nil
	}
	return "", fmt.Errorf("the store check must be auto, full, background or quick, not %q", s)
}

// forSize is the mode m means for a file of size bytes: CheckAuto becomes
// CheckFull or CheckBackground, the others stay as they are.
func (m CheckMode) forSize(size int64) CheckMode {
	switch {
	case m != CheckAuto:
		return m
	case size <= FullCheckLimit:
		return CheckFull
	}
	return CheckBackground
}

// FullCheckLimit is the largest file CheckAuto checks before it serves; a
// bigger one is checked in the background. The full check reads the whole
// file, 4–6 ms per MiB from the page cache on the 2-core machine of
// docs/benchmarks.md, more from a cold disk, so a start-up that checks
// first stays well under a second.
const FullCheckLimit = 32 << 20

// bbolt's file format (go.etcd.io/bbolt/internal/common): pages 0 and 1
// each hold a meta record after a 16-byte page header; the meta names the
// page size and the high-water mark (pages in use), and is checksummed
// with FNV-64a over everything before the checksum.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
	metaSumOffset  = 56
)

// fileMeta is what a valid meta page says about the file.
type fileMeta struct {
	page     int // 0 or 1
	pageSize int
	hwm      uint64 // pages in use: the file holds at least hwm*pageSize bytes
	txid     uint64
}

// readMeta decodes the meta record at off in f; ok is false when it is
// not a valid one.
func readMeta(f io.ReaderAt, off int64) (m fileMeta, ok bool) {
	var b [pageHeaderSize + metaSize]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return m, false
	}
	meta := b[pageHeaderSize:]
	ne := binary.NativeEndian // bbolt writes its meta in the machine's byte order
	if ne.Uint32(meta[0:]) != boltMagic || ne.Uint32(meta[4:]) != boltVersion {
		return m, false
	}
	h := fnv.New64a()
	h.Write(meta[:metaSumOffset])
	if h.Sum64() != ne.Uint64(meta[metaSumOffset:]) {
		return m, false
	}
	m = fileMeta{pageSize: int(ne.Uint32(meta[8:])), hwm: ne.Uint64(meta[40:]), txid: ne.Uint64(meta[48:])}
	return m, m.pageSize >= 1024 && m.pageSize&(m.pageSize-1) == 0
}

// preflight reads the meta pages of the file at path without mapping it,
// and refuses a file bbolt would map past its end (the process would die
// of SIGBUS on the first read there) or could not use at all. It returns
// the meta bbolt will use (the valid one with the higher transaction id)
// and whether the other one is damaged.
func preflight(path string, size int64) (use fileMeta, otherBad bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return use, false, err
	}
	defer f.Close()
	m0, ok0 := readMeta(f, 0)
	pageSize := m0.pageSize
	if !ok0 {
		// Page 0 is damaged: find page 1 by trying the page sizes bbolt
		// allows, as bbolt itself does.
		for ps := 1024; ps <= 1<<24 && int64(ps) < size; ps <<= 1 {
			if m, ok := readMeta(f, int64(ps)); ok && m.pageSize == ps {
				pageSize = ps
				break
			}
		}
	}
	var m1 fileMeta
	ok1 := false
	if pageSize > 0 {
		m1, ok1 = readMeta(f, int64(pageSize))
		ok1 = ok1 && m1.pageSize == pageSize
	}
	m1.page = 1
	switch {
	case !ok0 && !ok1:
		return use, false, damaged(path, "not a bbolt file, or both of its meta pages are damaged")
	case ok0 && (!ok1 || m0.txid > m1.txid):
		use, otherBad = m0, !ok1
	default:
		use, otherBad = m1, !ok0
	}
	if need := int64(use.hwm) * int64(use.pageSize); need > size || use.hwm < 2 {
		return use, otherBad, damaged(path, "cut short: its meta page %d says %d pages of %d bytes (%d bytes) are in use, the file holds %d bytes",
			use.page, use.hwm, use.pageSize, need, size)
	}
	return use, otherBad, nil
}

// damaged is an ErrDamaged error about the file at path.
func damaged(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrDamaged, path, fmt.Sprintf(format, args...))
}

// guarded runs fn so that damage it meets in the mapped file becomes an
// ErrDamaged error for the caller: bbolt panics on pages it cannot parse,
// and a read through a damaged page pointer faults, which Go reports as a
// recoverable panic only on goroutines that asked for it.
func guarded(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			err = damaged(path, "reading it failed: %v", v)
		}
	}()
	return fn()
}

// checkPages reads every page, key and value reachable in tx on this
// goroutine, so a wild page or key reference faults where guarded can
// recover it, then runs bbolt's consistency check (key order, pages
// reachable or free, each exactly once), which runs on a goroutine of its
// own and trusts those references.
func checkPages(path string, tx *bolt.Tx) error {
	var sum uint32
	var walk func(b *bolt.Bucket)
	walk = func(b *bolt.Bucket) {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			sum = crc32.Update(sum, castagnoli, k)
			if v == nil {
				if child := b.Bucket(k); child != nil {
					walk(child)
				}
				continue
			}
			sum = crc32.Update(sum, castagnoli, v)
		}
	}
	if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error { walk(b); return nil }); err != nil {
		return err
	}
	if err := checkBranchKeys(path, tx); err != nil {
		return err
	}
	var problems []string
	for err := range tx.Check() {
		if len(problems) < 5 {
			// Check reports a page it could not parse as a "panic: …"
			// it recovered; it is a finding like the others.
			problems = append(problems, strings.TrimPrefix(err.Error(), "panic: "))
		}
	}
	if len(problems) > 0 {
		return damaged(path, "bbolt's consistency check failed: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Page layout, as bbolt writes it: the page header (id, flags, count,
// overflow), then count elements of 16 bytes each, whose pos is relative to
// the element itself.
const (
	pageElementSize = 16
	branchPageFlag  = 0x01
	leafPageFlag    = 0x02
)

// checkBranchKeys holds every branch element's key to the first key of the
// page it points to, which bbolt makes equal when it writes a branch. A
// flipped byte in a branch key can leave the keys in order, so bbolt's
// check passes and lookups near it go astray; this finds it. It reads the
// committed pages from the file, under tx, so nothing is being written.
func checkBranchKeys(path string, tx *bolt.Tx) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	pageSize := int64(tx.DB().Info().PageSize)
	// read reads page id, with its overflow pages, into the buffer kept for
	// depth: a page is read once, and only its ancestors' stay held.
	var bufs [][]byte
	read := func(id uint64, depth int) ([]byte, error) {
		for len(bufs) <= depth {
			bufs = append(bufs, make([]byte, pageSize))
		}
		buf := bufs[depth][:pageSize]
		if _, err := f.ReadAt(buf, int64(id)*pageSize); err != nil {
			return nil, err
		}
		if overflow := int64(binary.NativeEndian.Uint32(buf[12:])); overflow > 0 {
			if int64(cap(buf)) < (overflow+1)*pageSize {
				buf = append(buf, make([]byte, overflow*pageSize)...)
			}
			buf = buf[:(overflow+1)*pageSize]
			bufs[depth] = buf
			if _, err := f.ReadAt(buf[pageSize:], int64(id+1)*pageSize); err != nil {
				return nil, err
			}
		}
		return buf, nil
	}
	// key returns element i's key of page p (and a branch element's child),
	// or false when p cannot hold it.
	key := func(p []byte, i int) ([]byte, uint64, bool) {
		e := pageHeaderSize + i*pageElementSize
		if e+pageElementSize > len(p) {
			return nil, 0, false
		}
		var pos, ksize uint32
		var child uint64
		if binary.NativeEndian.Uint16(p[8:]) == branchPageFlag {
			pos, ksize, child = binary.NativeEndian.Uint32(p[e:]), binary.NativeEndian.Uint32(p[e+4:]), binary.NativeEndian.Uint64(p[e+8:])
		} else {
			pos, ksize = binary.NativeEndian.Uint32(p[e+4:]), binary.NativeEndian.Uint32(p[e+8:])
		}
		start := int64(e) + int64(pos)
		if start+int64(ksize) > int64(len(p)) {
			return nil, 0, false
		}
		return p[start : start+int64(ksize)], child, true
	}
	// check holds each element of branch page p (id) to the first key of
	// the page it points to, and goes down into that page.
	var check func(id uint64, p []byte, depth int) error
	check = func(id uint64, p []byte, depth int) error {
		if binary.NativeEndian.Uint16(p[8:]) != branchPageFlag {
			return nil
		}
		if depth >= 64 {
			return damaged(path, "branch page %d is more than 64 levels deep", id)
		}
		for i := 0; i < int(binary.NativeEndian.Uint16(p[10:])); i++ {
			k, child, ok := key(p, i)
			if !ok {
				return damaged(path, "branch page %d: element %d reaches past the page", id, i)
			}
			c, err := read(child, depth+1)
			if err != nil {
				return damaged(path, "branch page %d: element %d points to page %d, which cannot be read", id, i, child)
			}
			first, _, ok := key(c, 0)
			if flags := binary.NativeEndian.Uint16(c[8:]); !ok || (flags != branchPageFlag && flags != leafPageFlag) || !bytes.Equal(first, k) {
				return damaged(path, "branch page %d: element %d's key is not the first key of page %d", id, i, child)
			}
			if err := check(child, c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	var bucket func(b *bolt.Bucket) error
	bucket = func(b *bolt.Bucket) error {
		if root := uint64(b.Root()); root != 0 { // 0: an inline bucket, held in its parent's value
			p, err := read(root, 0)
			if err != nil {
				return damaged(path, "page %d cannot be read (%v)", root, err)
			}
			if err := check(root, p, 0); err != nil {
				return err
			}
		}
		return b.ForEachBucket(func(k []byte) error { return bucket(b.Bucket(k)) })
	}
	return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return bucket(b) })
}

// checkRecords reads every record and index entry of the current schema
// and checks each against the others: a flipped bit anywhere in a key or
// value of ours fails a checksum or a cross-check here.
func checkRecords(path string, btx kvTx) error {
	_, err := countRecords(path, btx, nil)
	return err
}

// recordCounts are what checkRecords found, for a backup's summary.
type recordCounts struct{ resources, jobs, pending int }

// countRecords is checkRecords, returning the records it counted on the way.
// Closing stop (nil: never) cuts it short with ErrClosed, between jobs and
// between job index entries.
func countRecords(path string, btx kvTx, stop <-chan struct{}) (c recordCounts, err error) {
	err = func() error {
		damaged := func(format string, args ...any) error { return damaged(path, format, args...) }
		indexHolds := func(b kvBucket, want int, index, records string) error {
			if n := b.KeyN(); n != want {
				return damaged("the %s index has %d entries for %d %s", index, n, want, records)
			}
			return nil
		}
		for _, name := range [][]byte{bucketMeta, bucketByEnv, bucketBuckets, bucketJobs, bucketPending,
			bucketChallenges, bucketSessions, bucketSessionsByChallenge, bucketApps, bucketManagedMarks} {
			if !btx.HasBucket(name) {
				return damaged("bucket %q is missing", name)
			}
		}
		meta := btx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); len(v) != 8 || binary.BigEndian.Uint64(v) != SchemaVersion {
			return damaged("the schema version is %x, not %d", v, SchemaVersion)
		}
		for _, k := range []struct {
			key  []byte
			size int
		}{{keyTokenKey, 32}, {keyStoreID, storeIDSize}} {
			if v, err := unseal(meta.Get(k.key)); err != nil || len(v) != k.size {
				return damaged("meta value %q does not verify", k.key)
			}
		}
		if err := checkApps(btx, damaged); err != nil {
			return err
		}

		// Each job's index entries are summed from the jobs and compared
		// with the sums of the indexes, instead of looked up one by one: a
		// lookup per job is most of the check's time at a million jobs.
		// Only when the sums differ are the jobs looked up, to name one.
		want, wantPending := newEntrySum(), newEntrySum()
		have, havePending := want.sibling(), wantPending.sibling()
		env, err := checkEnvTree(btx, &have, stop, damaged)
		if err != nil {
			return err
		}
		if err := indexHolds(btx.Bucket(bucketBuckets), env.resources, "bucket", "resources"); err != nil {
			return err
		}

		jobs, pending := btx.Bucket(bucketJobs), btx.Bucket(bucketPending)
		njobs, npending := 0, 0
		var maxSeq uint64
		err = jobs.ForEach(func(k, v []byte) error {
			if err := stopped(stop, njobs); err != nil {
				return err
			}
			j, err := decodeJob(v)
			if err != nil {
				return damaged("job %q does not verify (checksum or encoding)", k)
			}
			if string(k) != j.ID {
				return damaged("job %q does not match its key or its index entry", k)
			}
			want.add(jobIndexKey(j), k)
			if j.Pending() {
				wantPending.add(k, nil)
				npending++
			}
			maxSeq = max(maxSeq, j.seq)
			njobs++
			return nil
		})
		if err == nil && env.jobs != njobs {
			err = damaged("the job index has %d entries for %d jobs", env.jobs, njobs)
		}
		if err == nil {
			err = indexHolds(pending, npending, "pending", "pending jobs")
		}
		if err == nil {
			havePending.addAll(pending, false)
		}
		if err == nil && (want.sum != have.sum || wantPending.sum != havePending.sum) {
			err = findIndexMismatch(btx, damaged)
		}
		if err != nil {
			return err
		}
		if btx.sequencesCount() && jobs.Sequence() < maxSeq {
			return damaged("the job sequence %d is behind job number %d", jobs.Sequence(), maxSeq)
		}
		if err := checkSignIns(btx, damaged); err != nil {
			return err
		}
		c = recordCounts{resources: env.resources, jobs: njobs, pending: npending}
		return nil
	}()
	return c, err
}

// stopped is ErrClosed once stop is closed, asked every 4096 records of
// a walk (n counts them): a stop is heard within a few milliseconds, at a
// cost too small to measure.
func stopped(stop <-chan struct{}, n int) error {
	if n%4096 == 0 {
		select {
		case <-stop:
			return ErrClosed
		default:
		}
	}
	return nil
}

// entrySum is an order-free sum of index entries (key and value hashed
// together), so the entries a pass over the records expects can be
// compared with an index in one pass over each.
type entrySum struct {
	seed maphash.Seed
	sum  uint64
}

func newEntrySum() entrySum { return entrySum{seed: maphash.MakeSeed()} }

func (e *entrySum) add(k, v []byte) { e.sum += e.entry(k, v) }

func (e *entrySum) entry(k, v []byte) uint64 {
	// Multiplying the key's hash keeps an entry from equalling its key and
	// value swapped.
	return maphash.Bytes(e.seed, k)*0x9e3779b97f4a7c15 ^ maphash.Bytes(e.seed, v)
}

// sibling returns an empty sum with e's seed, to compare with e.
func (e *entrySum) sibling() entrySum { return entrySum{seed: e.seed} }

// addAll adds b's entries (with their values, or by key alone when
// values is false).
func (e *entrySum) addAll(b kvBucket, values bool) {
	b.ForEach(func(k, v []byte) error {
		if !values {
			v = nil
		}
		e.add(k, v)
		return nil
	})
}

// findIndexMismatch looks every job's index entries up, once the sums of
// checkRecords say they differ from the indexes, to name a job whose
// entries are wrong.
func findIndexMismatch(btx kvTx, damaged func(string, ...any) error) error {
	byEnv, pc := btx.Bucket(bucketByEnv), btx.Bucket(bucketPending).Cursor()
	err := btx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
		j, err := decodeJob(v)
		if err != nil {
			return damaged("job %q does not verify (checksum or encoding)", k)
		}
		if !bytes.Equal(byEnv.Get(jobIndexKey(j)), k) {
			return damaged("job %q does not match its key or its index entry", k)
		}
		if pk, _ := pc.Seek(k); bytes.Equal(pk, k) != j.Pending() {
			return damaged("job %q is pending=%t but its pending index entry says otherwise", k, j.Pending())
		}
		return nil
	})
	if err != nil {
		return err
	}
	return damaged("the job index or the pending index does not hold what the jobs say")
}

// checkApps verifies every app record.
func checkApps(btx kvTx, damaged func(string, ...any) error) error {
	return btx.Bucket(bucketApps).ForEach(func(k, v []byte) error {
		if _, err := decodeApp(string(k), v); err != nil {
			return damaged("app %q does not verify (checksum or encoding)", k)
		}
		return nil
	})
}

// envTreeCounts are what checkEnvTree found.
type envTreeCounts struct{ resources, jobs int }

// checkEnvTree verifies every key of by-env/: each environment record and
// resource, each resource against its key, its bucket's index entry and
// its environment's record (which sorts before it), and adds each job
// index entry to jobIndex, whose sum the jobs must match.
func checkEnvTree(btx kvTx, jobIndex *entrySum, stop <-chan struct{}, damaged func(string, ...any) error) (envTreeCounts, error) {
	var n envTreeCounts
	buckets := btx.Bucket(bucketBuckets)
	var recorded []byte // the prefix of the last environment record met
	keys := 0
	err := btx.Bucket(bucketByEnv).ForEach(func(k, v []byte) error {
		if err := stopped(stop, keys); err != nil {
			return err
		}
		keys++
		prefix, tag, rest, ok := splitTreeKey(k)
		if !ok {
			return damaged("key %q of %s/ is malformed", k, bucketByEnv)
		}
		switch tag {
		case tagEnv:
			app, env := prefixNames(prefix)
			if _, err := decodeEnvironment(app, env, v); err != nil || len(rest) != 0 {
				return damaged("environment %q does not verify (checksum, encoding or key)", k)
			}
			recorded = append(recorded[:0], prefix...)
		case tagResource:
			r, err := decodeResource(v)
			if err != nil {
				return damaged("resource %q does not verify (checksum or encoding)", k)
			}
			if !bytes.Equal(k, resourceTreeKey(r.ResourceKey)) || !bytes.Equal(buckets.Get(bucketIndexKey(r)), resourceKey(r.ResourceKey)) {
				return damaged("resource %q does not match its key or its bucket's index entry", k)
			}
			// The environment is recorded in the transaction that accepts
			// its first resource.
			if !bytes.Equal(recorded, prefix) {
				return damaged("resource %q has no environment record", k)
			}
			n.resources++
		case tagJob:
			if len(rest) != 8 {
				return damaged("job index key %q is malformed", k)
			}
			jobIndex.add(k, v)
			n.jobs++
		default:
			return damaged("key %q of %s/ has an unknown tag", k, bucketByEnv)
		}
		return nil
	})
	return n, err
}
