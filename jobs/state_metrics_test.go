package jobs

import (
	"testing"
)

// TestStateReportsRunningAndQueued: what the metrics read at a scrape is
// the store's RUNNING jobs, the oldest one's acceptance, and the queue;
// a job settled leaves all three.
func TestStateReportsRunningAndQueued(t *testing.T) {
	f := setup(t)
	first, err := f.runner.Create(f.ctx, CreateInput{Key: f.key("a"), Bucket: f.bucket("a")})
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.runner.Create(f.ctx, CreateInput{Key: f.key("b"), Bucket: f.bucket("b")})
	if err != nil {
		t.Fatal(err)
	}
	// Not started: both wait in the queue.
	s, err := f.runner.State(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Running != 2 || s.Queued != 2 || !s.OldestRunning.Equal(first.CreateTime) {
		t.Fatalf("two jobs accepted, none executed: %+v (first accepted %v)", s, first.CreateTime)
	}
	f.start()
	f.wait(first.ID)
	f.wait(second.ID)
	if s, err = f.runner.State(f.ctx); err != nil || s.Running != 0 || s.Queued != 0 || !s.OldestRunning.IsZero() {
		t.Fatalf("all jobs settled: %+v %v", s, err)
	}
}
