package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketMeta       = []byte("meta")
	bucketResources  = []byte("resources")
	bucketBuckets    = []byte("buckets")
	bucketJobs       = []byte("jobs")
	bucketJobsByEnv  = []byte("jobs-by-env")
	bucketPending    = []byte("pending")
	bucketEnvRoles   = []byte("env-roles")
	bucketRoleOwners = []byte("role-owners")
	bucketLegacyEnvs = []byte("legacy-envs")

	keySchema   = []byte("schema")
	keyTokenKey = []byte("token-key")
)

// Store is the bbolt-backed record of resources and jobs. It is safe for
// concurrent use; bbolt serialises writers.
type Store struct {
	db       *bolt.DB
	tokenKey []byte

	commits   chan *commit  // Batch calls for the committer
	stop      chan struct{} // closed by Close
	committed chan struct{} // closed when the committer has returned
	closeOnce sync.Once

	// generation counts committed write transactions; see Generation.
	generation atomic.Uint64
}

// commit is one Batch call waiting for the committer.
type commit struct {
	fn   func(*Tx) error
	done chan error
}

// maxBatch bounds the calls one group commit takes, so one transaction's
// dirty pages stay a modest write.
const maxBatch = 1024

// maxLinger bounds how long a commit waits for the company it expects.
const maxLinger = time.Millisecond

// Open opens (creating if needed) the store at path and brings its schema up
// to date. Writes are fsynced before a transaction returns: the store never
// runs with NoSync, because an answered API call must survive kill -9.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// bolt.Open only sets the mode on creation; a pre-existing file that is
	// readable by others is tightened because it holds the token MAC key.
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("restrict store %s: %w", path, err)
	}
	s := &Store{db: db, commits: make(chan *commit), stop: make(chan struct{}), committed: make(chan struct{})}
	if err := db.Update(func(tx *bolt.Tx) error { return migrate(tx) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate store %s: %w", path, err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		s.tokenKey = append([]byte(nil), tx.Bucket(bucketMeta).Get(keyTokenKey)...)
		return nil
	}); err != nil {
		db.Close()
		return nil, err
	}
	go s.committer()
	return s, nil
}

// ErrClosed is returned by a Batch after Close.
var ErrClosed = errors.New("store: closed")

// Close stops the committer, after the group commit in progress, and
// releases the database file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.committed
	return s.db.Close()
}

// TokenKey is a per-store random key for MACs over pagination tokens, so a
// token survives restarts but cannot be forged or altered by a client.
func (s *Store) TokenKey() []byte { return s.tokenKey }

// Generation changes after every write transaction, before the writer is
// answered. It lets a reader keep what it derived from the store: an
// answer derived in a View begun after reading generation g reflects every
// write answered before g was read, so it stays current while Generation
// still returns g.
func (s *Store) Generation() uint64 { return s.generation.Load() }

// Update runs fn in one read-write transaction; everything fn writes commits
// together or not at all. Never call S3 or IAM inside fn: bbolt has one
// writer at a time.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
	// Counted whatever the outcome: a failed commit costs readers a miss,
	// never a stale answer.
	s.generation.Add(1)
	return err
}

// Batch is Update for the many small, concurrent writes of accepting calls
// and settling jobs: one committer runs every Batch call waiting when it
// starts a transaction in that transaction, with one fsync for all (group
// commit), and answers each once its write is durable. A lone call commits
// at once (for a while after heavy load, after waiting up to maxLinger for
// company), and under load each commit takes all that queued during the
// one before, so batches grow with the load.
// (bbolt's own Batch collects for a fixed delay and then queues its
// batches behind the single writer, each paying an fsync for a few calls.)
//
// fn may run more than once: when one call fails, the transaction is
// rolled back, that call gets its error, and the rest run again. So fn
// must have no effects outside the transaction.
func (s *Store) Batch(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &commit{fn: fn, done: make(chan error, 1)}
	select {
	case s.commits <- c:
	case <-s.stop:
		return ErrClosed
	}
	// Once taken, a call is committed or failed whatever the caller's
	// context does meanwhile: the answer must say which.
	return <-c.done
}

func (s *Store) committer() {
	defer close(s.committed)
	// Timers of Go 1.23 and later drop a stale tick on Stop and Reset, so
	// this one needs no draining.
	linger := time.NewTimer(maxLinger)
	linger.Stop()
	// peak is the most calls a recent commit took, decaying so a load that
	// went away stops being waited for.
	peak := 0.0
	for {
		var batch []*commit
		select {
		case c := <-s.commits:
			batch = append(batch, c)
		case <-s.stop:
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case c := <-s.commits:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		// Fewer calls than last time: most of the others are on their way,
		// the answers to the last commit coming back as new calls. A short
		// wait for them spares a commit (two fsyncs) that would hold
		// everyone after it.
		want := int(peak)
		if len(batch) < want {
			linger.Reset(maxLinger)
		wait:
			for len(batch) < want && len(batch) < maxBatch {
				select {
				case c := <-s.commits:
					batch = append(batch, c)
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		peak = max(float64(len(batch)), peak*0.98)
		s.commitBatch(batch)
	}
}

// commitBatch runs batch in one transaction. A call that fails is answered
// with its error, and the others run again without it: its error was
// reached with the calls before it applied, which is the order they commit
// in.
func (s *Store) commitBatch(batch []*commit) {
	for len(batch) > 0 {
		failed := -1
		var failure error
		err := s.db.Update(func(btx *bolt.Tx) error {
			tx := &Tx{tx: btx}
			for i, c := range batch {
				if err := runSafely(c.fn, tx); err != nil {
					failed, failure = i, err
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			s.generation.Add(1)
			for _, c := range batch {
				c.done <- err
			}
			return
		}
		batch[failed].done <- failure
		batch = append(batch[:failed], batch[failed+1:]...)
	}
}

// runSafely turns a panic in fn into an error for its caller alone, so a
// bug in one call cannot take the committer, and every other caller, down.
func runSafely(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("store: panic in a batched write: %v", v)
		}
	}()
	return fn(tx)
}

// View runs fn in one read-only transaction.
func (s *Store) View(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// migration is one ordered, idempotent-by-version schema step.
type migration struct {
	name string
	run  func(tx *bolt.Tx) error
}

// migrations run in order; the schema version is the number that ran. Append
// only: a released migration is never edited.
var migrations = []migration{
	{name: "initial buckets and token key", run: func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketResources, bucketBuckets, bucketJobs, bucketJobsByEnv, bucketPending} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyTokenKey, key)
	}},
	{name: "binary records instead of JSON", run: func(tx *bolt.Tx) error {
		if err := recode(tx.Bucket(bucketResources), func(v []byte) ([]byte, error) {
			r, err := decodeResourceV1(v)
			if err != nil {
				return nil, err
			}
			return encodeResource(r)
		}); err != nil {
			return err
		}
		return recode(tx.Bucket(bucketJobs), func(v []byte) ([]byte, error) {
			j, err := decodeJobV1(v)
			if err != nil {
				return nil, err
			}
			return encodeJob(j)
		})
	}},
	{name: "record which IAM roles each environment uses", run: markLegacyEnvs},
}

// recode rewrites every value of b with fn.
func recode(b *bolt.Bucket, fn func([]byte) ([]byte, error)) error {
	type kv struct{ k, v []byte }
	var all []kv
	err := b.ForEach(func(k, v []byte) error {
		nv, err := fn(v)
		if err != nil {
			return fmt.Errorf("record %q: %w", k, err)
		}
		all = append(all, kv{append([]byte(nil), k...), nv})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range all {
		if err := b.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// SchemaVersion is the version a store has after Open.
var SchemaVersion = uint64(len(migrations))

func migrate(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	var have uint64
	if v := meta.Get(keySchema); v != nil {
		if len(v) != 8 {
			return errors.New("corrupt schema version")
		}
		have = binary.BigEndian.Uint64(v)
	}
	if have > uint64(len(migrations)) {
		return fmt.Errorf("store schema version %d is newer than this binary understands (%d)", have, len(migrations))
	}
	for i := have; i < uint64(len(migrations)); i++ {
		if err := migrations[i].run(tx); err != nil {
			return fmt.Errorf("migration %d (%s): %w", i+1, migrations[i].name, err)
		}
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, i+1)
		if err := meta.Put(keySchema, v); err != nil {
			return err
		}
	}
	return nil
}
