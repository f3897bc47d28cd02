package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkRawBoltBatch is the disk's limit for what one accepted call
// writes: 64 writers, each bbolt Batch putting five records of the sizes an
// accept writes (resource, bucket index, job, job index, pending index),
// fsynced. docs/benchmarks.md compares CreateBackendStorage against it.
func BenchmarkRawBoltBatch(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.MaxBatchDelay = 2 * time.Millisecond
	db.Update(func(tx *bolt.Tx) error {
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			tx.CreateBucketIfNotExists([]byte(n))
		}
		return nil
	})
	resource := make([]byte, 360)
	job := make([]byte, 300)
	var seq atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/64 + 1
	start := time.Now()
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				n := seq.Add(1)
				key := []byte(fmt.Sprintf("app\x00env%08d\x00data", n))
				id := []byte(fmt.Sprintf("%036d", n))
				db.Batch(func(tx *bolt.Tx) error {
					tx.Bucket([]byte("a")).Put(key, resource)
					tx.Bucket([]byte("b")).Put([]byte(fmt.Sprintf("bucket-%d", n)), key)
					tx.Bucket([]byte("c")).Put(id, job)
					tx.Bucket([]byte("d")).Put(append(key, 1, 2, 3, 4, 5, 6, 7, 8), id)
					return tx.Bucket([]byte("e")).Put(id, nil)
				})
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(seq.Load())/time.Since(start).Seconds(), "records/s")
}

// BenchmarkStoreBatchAccept is the same through the store's own encoding and
// indexes: what the server does per CreateBackendStorage, minus HTTP.
func BenchmarkStoreBatchAccept(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "store.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var seq atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/64 + 1
	start := time.Now()
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				n := seq.Add(1)
				env := fmt.Sprintf("env%08d", n)
				r := newResource("app", env, "data", fmt.Sprintf("bucket-%d", n))
				r.Desired = Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ"}}
				j := newJob(fmt.Sprintf("%036d", n), "app", env, "data", StatusRunning)
				s.Batch(context.Background(), func(tx *Tx) error {
					if err := tx.CreateResource(r); err != nil {
						return err
					}
					return tx.InsertJob(j)
				})
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(seq.Load())/time.Since(start).Seconds(), "records/s")
}
