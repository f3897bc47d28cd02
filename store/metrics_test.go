package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/metrics"
)

// TestCommitsAreCounted: with Options.Metrics, each group commit is timed
// and the Batch calls it grouped are counted, so the histogram's sum is
// every call committed and its count the commits that carried them.
func TestCommitsAreCounted(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s, err := OpenWith(filepath.Join(t.TempDir(), "store.db"), Options{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const calls = 20
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			r := newResource("app", "dev", fmt.Sprint("r", i), fmt.Sprint("bucket-", i))
			if err := s.Batch(context.Background(), func(tx *Tx) error { return tx.CreateResource(r) }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	families, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var grouped, commits, timed uint64
	for _, f := range families {
		switch f.GetName() {
		case "amplifybackendd_store_commit_transactions":
			h := f.GetMetric()[0].GetHistogram()
			grouped, commits = uint64(h.GetSampleSum()), h.GetSampleCount()
		case "amplifybackendd_store_commit_duration_seconds":
			timed = f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if grouped != calls || commits < 1 || commits > calls || timed != commits {
		t.Fatalf("%d calls: counted %d calls in %d commits, %d timed", calls, grouped, commits, timed)
	}
}
