package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// agedJob is a job created and last updated at given times, with an id that
// sorts as its creation does (as UUIDv7 ids do).
func agedJob(n int, env, res string, st Status, created, updated time.Time) Job {
	j := newJob(fmt.Sprintf("job-%06d", n), "app", env, res, st)
	j.CreateTime, j.UpdateTime = created, updated
	return j
}

// jobIDs lists the ids of every job in the store, in id order.
func (f *fixture) jobIDs() []string {
	f.t.Helper()
	var ids []string
	err := f.s.kv.View(func(tx kvTx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil })
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return ids
}

// checkAll runs the full check Open and Verify run: pages (of a file),
// seals, and every index against its records.
func (f *fixture) checkAll() {
	f.t.Helper()
	err := f.s.kv.View(func(tx kvTx) error {
		if tx.bolt != nil {
			if err := checkPages(f.path, tx.bolt); err != nil {
				return err
			}
		}
		return checkRecords(f.path, tx)
	})
	if err != nil {
		f.t.Fatalf("store check after the sweep: %v", err)
	}
}

func TestSweepJobsRemovesExactlyTheExpired(t *testing.T) {
	forEachEngine(t, testSweepJobsRemovesExactlyTheExpired)
}

func testSweepJobsRemovesExactlyTheExpired(f *fixture) {
	t := f.t
	now := time.Now().UTC()
	cutoff := now.Add(-24 * time.Hour)
	old, older, recent := now.Add(-48*time.Hour), now.Add(-72*time.Hour), now.Add(-time.Hour)
	undoing := agedJob(9, "dev", "c", StatusCancelled, old, old)
	undoing.Undo = true
	jobs := []Job{
		agedJob(0, "dev", "a", StatusCompleted, older, older),  // removed: a has newer jobs
		agedJob(1, "dev", "a", StatusFailed, older, older),     // removed
		agedJob(2, "dev", "b", StatusRunning, older, older),    // kept: RUNNING
		agedJob(3, "prod", "a", StatusCompleted, older, older), // removed: prod/a has a newer job
		agedJob(4, "dev", "a", StatusCancelled, older, recent), // kept: updated after the cutoff
		agedJob(5, "dev", "a", StatusCompleted, old, old),      // removed
		agedJob(6, "prod", "a", StatusCompleted, old, old),     // kept: prod/a's latest
		agedJob(7, "dev", "d", StatusCompleted, old, old),      // kept: d's latest (d deleted or not)
		agedJob(8, "dev", "a", StatusCompleted, old, old),      // kept: a's latest
		undoing, // kept: still undoing
		agedJob(10, "dev", "c", StatusCompleted, recent, recent), // kept: recent
		agedJob(11, "dev", "b", StatusCompleted, recent, recent), // kept: recent
	}
	f.mustUpdate(func(tx *Tx) error {
		for _, j := range jobs {
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		return nil
	})

	removed, err := f.s.SweepJobs(f.ctx, cutoff, SweepOptions{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"job-000002", "job-000004", "job-000006", "job-000007", "job-000008", "job-000009", "job-000010", "job-000011"}
	if got := f.jobIDs(); removed != 4 || !slices.Equal(got, want) {
		t.Fatalf("after the sweep (%d removed): jobs %v, want %v", removed, got, want)
	}
	f.checkAll()
	var pending []string
	f.s.View(f.ctx, func(tx *Tx) error { pending = tx.PendingJobs(); return nil })
	if !slices.Equal(pending, []string{"job-000002", "job-000009"}) {
		t.Fatalf("pending index %v, want the RUNNING and the undoing job", pending)
	}

	// Running it again finds nothing more to do.
	if removed, err := f.s.SweepJobs(f.ctx, cutoff, SweepOptions{}); err != nil || removed != 0 {
		t.Fatalf("second sweep removed %d (%v), want 0", removed, err)
	}
	// The environment's listing and scope still answer, from what is kept.
	f.s.View(f.ctx, func(tx *Tx) error {
		if err := tx.CheckScope("app", "prod"); err != nil {
			t.Errorf("prod after the sweep: %v", err)
		}
		page, _, err := tx.Jobs("app", "dev", nil, 100, nil)
		if err != nil || len(page) != 7 {
			t.Errorf("dev lists %d jobs (%v), want 7", len(page), err)
		}
		return nil
	})
}

// TestSweepJobsPagingStable pages through an environment newest first, one
// page between each two batches of a sweep removing older jobs, the page
// tokens' own jobs among them: every job that outlives the sweep is listed
// exactly once, in order, and nothing is listed twice.
func TestSweepJobsPagingStable(t *testing.T) { forEachEngine(t, testSweepJobsPagingStable) }

func testSweepJobsPagingStable(f *fixture) {
	t := f.t
	now := time.Now().UTC()
	cutoff := now.Add(-time.Hour)
	const n = 90
	for i := range n {
		created := now.Add(time.Duration(i-n) * 24 * time.Hour)
		updated := created
		if i%3 == 0 {
			updated = now // kept: touched after the cutoff
		}
		// A transaction each: as many in one pass etcd's limit on a Txn.
		f.mustUpdate(func(tx *Tx) error { return tx.InsertJob(agedJob(i, "dev", "r", StatusCompleted, created, updated)) })
	}

	var listed []string
	var after []byte
	last, tokensRemoved := false, 0
	page := func(context.Context) error {
		if last {
			return nil
		}
		return f.s.View(f.ctx, func(tx *Tx) error {
			if after != nil && tx.kv.Bucket(bucketByEnv).Get(after) == nil {
				tokensRemoved++
			}
			jobs, next, err := tx.Jobs("app", "dev", after, 2, nil)
			for _, j := range jobs {
				listed = append(listed, j.ID)
			}
			after, last = next, next == nil
			return err
		})
	}
	if err := page(f.ctx); err != nil {
		t.Fatal(err)
	}
	removed, err := f.s.SweepJobs(f.ctx, cutoff, SweepOptions{Batch: 1, Pause: page})
	if err != nil {
		t.Fatal(err)
	}
	for !last {
		if err := page(f.ctx); err != nil {
			t.Fatal(err)
		}
	}

	survivors := f.jobIDs()
	if removed != n-len(survivors) || removed < n/2 {
		t.Fatalf("removed %d, %d survive of %d", removed, len(survivors), n)
	}
	if tokensRemoved == 0 {
		t.Fatal("no page token's own job was removed before its next page: the test did not exercise that case")
	}
	if !slices.IsSortedFunc(listed, func(a, b string) int { return strings.Compare(b, a) }) || len(slices.Compact(slices.Clone(listed))) != len(listed) {
		t.Fatalf("listing is not strictly newest first: %v", listed)
	}
	for _, id := range survivors {
		if !slices.Contains(listed, id) {
			t.Fatalf("survivor %s was skipped; listed %v", id, listed)
		}
	}
	f.checkAll()
}
