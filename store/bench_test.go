package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

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

// BenchmarkStoreBatchAcceptRandom is BenchmarkStoreBatchAccept with the
// environment and resource names in random order, as independent clients
// send them, instead of from one shared counter: what page locality is
// worth to the store's group commits.
func BenchmarkStoreBatchAcceptRandom(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "store.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchBatchAcceptNamed(b, func(n int64) (string, string) {
		return fmt.Sprintf("e%016x", rand.Uint64()), fmt.Sprintf("r%08x", rand.Uint32())
	}, s)
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

// BenchmarkStoreBatchAcceptEtcd3 accepts creates from 64 goroutines on a
// three-member etcd cluster embedded in the benchmark's process, through
// one store and through three stores on the same prefix (three
// replicas, the goroutines spread over them); raw is the bound they are
// held to: the same client writing six keys per accept in unguarded Txns,
// reading nothing.
func BenchmarkStoreBatchAcceptEtcd3(b *testing.B) {
	cluster := etcdtest.Start(b, 3)
	b.Run("raw", func(b *testing.B) {
		cli := cluster.Client(b)
		prefix := newEtcdPrefix()
		var seq atomic.Int64
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for n := seq.Add(1); n <= int64(b.N); n = seq.Add(1) {
					ops := make([]clientv3.Op, 6)
					for i := range ops {
						ops[i] = clientv3.OpPut(fmt.Sprintf("%s/k%d/%d", prefix, i, n), strings.Repeat("v", 120))
					}
					if _, err := cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	})
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("stores=%d", n), func(b *testing.B) {
			prefix := newEtcdPrefix()
			stores := make([]*Store, n)
			for i := range stores {
				s, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: prefix}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				stores[i] = s
			}
			benchBatchAccept(b, stores...)
		})
	}
}

// benchBatchAccept accepts b.N creates from 64 goroutines, spread over
// stores, reporting failed calls.
func benchBatchAccept(b *testing.B, stores ...*Store) {
	benchBatchAcceptNamed(b, func(n int64) (string, string) { return fmt.Sprintf("env%08d", n), "data" }, stores...)
}

// benchBatchAcceptNamed is benchBatchAccept with the n-th accept's
// environment and resource names from name.
func benchBatchAcceptNamed(b *testing.B, name func(n int64) (env, resource string), stores ...*Store) {
	var seq, failed atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/64 + 1
	cpu0 := processCPU(b)
	start := time.Now()
	for w := 0; w < 64; w++ {
		s := stores[w%len(stores)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				n := seq.Add(1)
				env, res := name(n)
				r := newResource("app", env, res, fmt.Sprintf("bucket-%s-%s", env, res))
				r.Desired = Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ"}}
				j := newJob(fmt.Sprintf("%036d", n), "app", env, res, StatusRunning)
				err := s.Batch(context.Background(), func(tx *Tx) error {
					if err := tx.CreateResource(r); err != nil {
						return err
					}
					return tx.InsertJob(j)
				})
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(seq.Load())/time.Since(start).Seconds(), "records/s")
	// The process's CPU time per accept: the floor under what an accepted
	// create costs the server (its HTTP, signature and handler come on top).
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(time.Microsecond)/float64(seq.Load()), "cpu-µs/accept")
	if db := stores[0].db; len(stores) == 1 && db != nil {
		// What a commit costs the disk: bbolt's count of pages written
		// (dirty pages and their branches, not the meta page) per accept.
		tx := db.Stats().TxStats
		b.ReportMetric(float64(tx.GetWrite())/float64(seq.Load()), "pages/accept")
	}
	b.ReportMetric(float64(failed.Load()), "failed")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// BenchmarkMirrorMemory fills a store on etcd with 10,000 accepted
// creates (a resource and its job each, with their index entries) and
// reports what a mirror of it holds on the heap per accept, beside the
// bytes of its keys and values: the cost of reading from memory.
func BenchmarkMirrorMemory(b *testing.B) {
	const accepts = 10000
	s, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: etcdtest.Start(b, 1).Endpoints()}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for n := w; n < accepts; n += 64 {
				env := fmt.Sprintf("env%08d", n)
				r := newResource("app", env, "data", fmt.Sprintf("bucket-%d", n))
				j := newJob(fmt.Sprintf("%036d", n), "app", env, "data", StatusRunning)
				if err := s.Batch(context.Background(), func(tx *Tx) error {
					if err := tx.CreateResource(r); err != nil {
						return err
					}
					return tx.InsertJob(j)
				}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	e := s.kv.etcd
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := newMirror(e.commitKey())
		if _, err := m.load(context.Background(), e.client, e.prefix+"/", e.timeout); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		data, keys := 0, m.tree.Len()
		m.tree.Ascend(func(x mirrorEntry) bool { data += len(x.key) + len(x.val); return true })
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/accepts, "heap-bytes/accept")
		b.ReportMetric(float64(data)/accepts, "data-bytes/accept")
		b.ReportMetric(float64(keys)/accepts, "keys/accept")
		runtime.KeepAlive(m)
	}
}
