package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketMeta      = []byte("meta")
	bucketResources = []byte("resources")
	bucketBuckets   = []byte("buckets")
	bucketJobs      = []byte("jobs")
	bucketJobsByEnv = []byte("jobs-by-env")
	bucketPending   = []byte("pending")

	keySchema   = []byte("schema")
	keyTokenKey = []byte("token-key")
)

// Store is the bbolt-backed record of resources and jobs. It is safe for
// concurrent use; bbolt serialises writers.
type Store struct {
	db       *bolt.DB
	tokenKey []byte
	writers  atomic.Int32 // Batch calls in flight
}

// Open opens (creating if needed) the store at path and brings its schema up
// to date. Writes are fsynced before a transaction returns: the store never
// runs with NoSync, because an answered API call must survive kill -9.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// A lone write waits at most this long for company before it commits.
	db.MaxBatchDelay = time.Millisecond
	// bolt.Open only sets the mode on creation; a pre-existing file that is
	// readable by others is tightened because it holds the token MAC key.
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("restrict store %s: %w", path, err)
	}
	s := &Store{db: db}
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
	return s, nil
}

// Close releases the database file.
func (s *Store) Close() error { return s.db.Close() }

// TokenKey is a per-store random key for MACs over pagination tokens, so a
// token survives restarts but cannot be forged or altered by a client.
func (s *Store) TokenKey() []byte { return s.tokenKey }

// Update runs fn in one read-write transaction; everything fn writes commits
// together or not at all. Never call S3 or IAM inside fn: bbolt has one
// writer at a time.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// Batch is Update for the many small, concurrent writes of accepting calls
// and settling jobs: bbolt groups concurrent Batch calls into one
// transaction and one fsync (group commit), so throughput rises with
// concurrency while every call still returns only after its write is
// durable. A write with no other Batch in flight commits at once instead of
// waiting for company. fn may run more than once (bbolt retries a failing
// one alone), so it must have no effects outside the transaction.
func (s *Store) Batch(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	run := func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) }
	defer s.writers.Add(-1)
	if s.writers.Add(1) == 1 {
		return s.db.Update(run)
	}
	return s.db.Batch(run)
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
