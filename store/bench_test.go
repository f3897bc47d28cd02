package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
)

// BenchmarkStoreBatchAccept is the same through the store's own encoding and
// indexes: what the server does per CreateBackendStorage, minus HTTP.
func BenchmarkStoreBatchAccept(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "store.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchBatchAccept(b, s)
}

// BenchmarkStoreBatchAcceptEtcd is BenchmarkStoreBatchAccept on a store
// kept in a one-member etcd embedded in the benchmark's process (sharing
// its CPUs): the cost of a group commit as one etcd Txn.
func BenchmarkStoreBatchAcceptEtcd(b *testing.B) {
	s, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: etcdtest.Start(b, 1).Endpoints()}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchBatchAccept(b, s)
}

// benchBatchAccept accepts b.N creates through s from 64 goroutines.
func benchBatchAccept(b *testing.B, s *Store) {
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

// BenchmarkOpen opens a store of 100,000 jobs and 10,000 resources, the
// scale of the start-up figure in docs/benchmarks.md, with each check
// mode: the full check's cost is what CheckAuto's size limit bounds.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "store.db")
	writeBenchStore(b, path, 100000, 10000)
	info, _ := os.Stat(path)
	for _, mode := range []CheckMode{CheckQuick, CheckFull} {
		b.Run(string(mode), func(b *testing.B) {
			b.SetBytes(info.Size())
			for b.Loop() {
				s, err := OpenWith(path, Options{Check: mode})
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}

// writeBenchStore writes a store of jobs completed jobs and, in as many
// environments, resources resources at path.
func writeBenchStore(b *testing.B, path string, jobs, resources int) {
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	for batch := 0; batch < jobs; batch += 5000 {
		err := s.Update(context.Background(), func(tx *Tx) error {
			for i := batch; i < min(batch+5000, jobs); i++ {
				env := fmt.Sprintf("env%04d", i%resources)
				if i < resources {
					if err := tx.CreateResource(newResource("app", env, "data", fmt.Sprintf("bucket-%05d", i))); err != nil {
						return err
					}
				}
				if err := tx.InsertJob(newJob(fmt.Sprintf("job-%07d", i), "app", env, "data", StatusCompleted)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCopyToEtcd copies a store of 20,000 jobs and 2,000 resources
// into a one-member etcd embedded in the benchmark's process (sharing its
// CPUs), then copies it again, which compares every key and writes
// nothing: the figures of README's "Moving a store to etcd".
func BenchmarkCopyToEtcd(b *testing.B) {
	path := filepath.Join(b.TempDir(), "store.db")
	writeBenchStore(b, path, 20000, 2000)
	opts := EtcdOptions{Endpoints: etcdtest.Start(b, 1).Endpoints()}
	for _, again := range []bool{false, true} {
		b.Run(map[bool]string{false: "copy", true: "again"}[again], func(b *testing.B) {
			keys := 0
			for n := 0; b.Loop(); n++ {
				opts.Prefix = fmt.Sprintf("/bench%d", n)
				if again {
					b.StopTimer()
					if _, err := CopyToEtcd(context.Background(), path, opts, CopyOptions{}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				r, err := CopyToEtcd(context.Background(), path, opts, CopyOptions{})
				if err != nil {
					b.Fatal(err)
				}
				keys = 0
				for _, bc := range r.Buckets {
					keys += bc.Keys
				}
			}
			b.ReportMetric(float64(keys*b.N)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}
