package store

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
)

// TestGenerationFollowsOtherReplicas: two stores on one prefix, as two
// replicas. A write through one advances its own generation before it is
// answered, and the other's once the watch delivers it, so neither keeps
// an answer the other's write made stale.
func TestGenerationFollowsOtherReplicas(t *testing.T) {
	t.Parallel()
	endpoints, prefix := sharedEtcd(t), newEtcdPrefix()
	a, b := openEtcd(t, endpoints, prefix), openEtcd(t, endpoints, prefix)
	ctx := context.Background()
	for i, pair := range [][2]*Store{{a, b}, {b, a}} {
		writer, reader := pair[0], pair[1]
		mine, theirs := writer.Generation(), reader.Generation()
		if err := writer.Batch(ctx, func(tx *Tx) error {
			return tx.InsertJob(newJob(fmt.Sprintf("job-%d", i), "app", "dev", "r", StatusCompleted))
		}); err != nil {
			t.Fatal(err)
		}
		if writer.Generation() == mine {
			t.Fatalf("write %d: the writer's generation did not move when its write was answered", i)
		}
		etcdtest.WaitFor(t, "the other replica's generation to follow the write", func() bool { return reader.Generation() != theirs })
		if err := reader.View(ctx, func(tx *Tx) error { _, err := tx.Job(fmt.Sprintf("job-%d", i)); return err }); err != nil {
			t.Fatalf("write %d read through the other replica once its generation moved: %v", i, err)
		}
	}
}

// BenchmarkEtcdFollow is how long a write through one replica takes to
// reach another's Generation: the commit, then the watch's delivery
// (one-member etcd in the benchmark's process, sharing its CPUs).
func BenchmarkEtcdFollow(b *testing.B) {
	endpoints, prefix := sharedEtcd(b), newEtcdPrefix()
	a, other := openEtcd(b, endpoints, prefix), openEtcd(b, endpoints, prefix)
	ctx := context.Background()
	for !followed(other) {
		runtime.Gosched() // until the watch is in place
	}
	b.ResetTimer()
	for i := range b.N {
		seen := other.Generation()
		if err := a.Batch(ctx, func(tx *Tx) error {
			return tx.InsertJob(newJob(fmt.Sprintf("job-%d", i), "app", "dev", "r", StatusCompleted))
		}); err != nil {
			b.Fatal(err)
		}
		for other.Generation() == seen {
			runtime.Gosched()
		}
	}
}
