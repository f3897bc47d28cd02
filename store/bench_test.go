package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
