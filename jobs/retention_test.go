package jobs

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// TestExpiredJobsRemovedInBackground: a running runner removes the finished
// jobs older than its retention on its own, and keeps each resource's
// latest job and the jobs still running.
func TestExpiredJobsRemovedInBackground(t *testing.T) {
	f := setup(t)
	sweeps := make(chan int, 16)
	f.runner = New(f.store, f.target, Config{Workers: 1, JobRetention: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		onSweep: func(removed int, err error) {
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			sweeps <- removed
		}})
	old := time.Now().UTC().Add(-48 * time.Hour)
	var all []store.Job
	for i, st := range []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusCancelled, store.StatusCompleted} {
		all = append(all, store.Job{ID: fmt.Sprintf("job-%03d", i), AppID: f.app, Env: "dev", Resource: "a",
			Operation: store.OpUpdate, Status: st, CreateTime: old, UpdateTime: old})
	}
	// A RUNNING job of another resource, as old: it is a worker's to finish,
	// and finishes now, so it stays.
	running := store.Job{ID: "job-004", AppID: f.app, Env: "dev", Resource: "gone",
		Operation: store.OpDelete, Status: store.StatusRunning, CreateTime: old, UpdateTime: old}
	all = append(all, running)
	err := f.store.Update(f.ctx, func(tx *store.Tx) error {
		for _, j := range all {
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	if removed := <-sweeps; removed != 3 {
		t.Fatalf("the first sweep removed %d jobs, want 3", removed)
	}
	var left []string
	f.store.View(f.ctx, func(tx *store.Tx) error {
		page, _, err := tx.Jobs(f.app, "dev", nil, 100, nil)
		for _, j := range page {
			left = append(left, j.ID)
		}
		return err
	})
	if !slices.Equal(left, []string{"job-004", "job-003"}) {
		t.Fatalf("jobs left %v, want the running job and resource a's latest", left)
	}
}

// TestSweepYieldsToAPICalls: with Config.YieldAt API calls in flight the
// sweep stops after one batch and waits (it says so through onSweepYield);
// once the calls end it removes the rest.
func TestSweepYieldsToAPICalls(t *testing.T) {
	f := setup(t)
	yielded := make(chan struct{}, 1)
	sweeps := make(chan int, 16)
	f.runner = New(f.store, f.target, Config{Workers: 1, YieldAt: 1, JobRetention: time.Hour,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		onSweepYield: func() { yielded <- struct{}{} },
		onSweep:      func(removed int, _ error) { sweeps <- removed }})
	old := time.Now().UTC().Add(-48 * time.Hour)
	const n = store.DefaultSweepBatch*2 + 10
	err := f.store.Update(f.ctx, func(tx *store.Tx) error {
		for i := range n {
			j := store.Job{ID: fmt.Sprintf("job-%04d", i), AppID: f.app, Env: "dev", Resource: "a",
				Operation: store.OpUpdate, Status: store.StatusCompleted, CreateTime: old, UpdateTime: old}
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var k int
		f.store.View(f.ctx, func(tx *store.Tx) error {
			page, _, err := tx.Jobs(f.app, "dev", nil, n, nil)
			k = len(page)
			return err
		})
		return k
	}
	f.runner.BeginCall()
	f.start()
	<-yielded
	if left := count(); left != n-store.DefaultSweepBatch {
		t.Fatalf("%d jobs left while the sweep yields, want %d: one batch removed", left, n-store.DefaultSweepBatch)
	}
	f.runner.EndCall()
	if removed := <-sweeps; removed != n-1 {
		t.Fatalf("the sweep removed %d, want %d", removed, n-1)
	}
	if left := count(); left != 1 {
		t.Fatalf("%d jobs left, want the latest", left)
	}
}
