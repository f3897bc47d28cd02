package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkJobChurn runs a store through CHURN_JOBS jobs (default
// 1,000,000), 1,000 a simulated minute over 1,000 resources in 10
// environments, sweeping after each minute with a 10-minute retention as
// the runner would, and reports the file size and the time Open takes
// (full check) at each checkpoint. It is the figure behind
// docs/benchmarks.md's retention table: with a retention the file and the
// start-up stay bounded however many jobs went through. CHURN_KEEP=1
// never sweeps, for the unbounded history to compare with.
//
//	CHURN_JOBS=1000000 go test -run '^$' -bench JobChurn -benchtime 1x -v -timeout 60m ./store
func BenchmarkJobChurn(b *testing.B) {
	total := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("CHURN_JOBS")); err == nil && v > 0 {
		total = v
	}
	keep := os.Getenv("CHURN_KEEP") == "1"
	const perMinute, resources, retention = 1000, 1000, 10 * time.Minute
	ctx := context.Background()
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "store.db")
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		clock := time.Now().UTC().Add(-time.Duration(total/perMinute) * time.Minute)
		b.Logf("%10s %10s %12s %12s %10s %14s", "jobs", "kept", "file bytes", "open (full)", "swept in", "longest batch")
		var sweepTime, longestBatch time.Duration
		for done := 0; done < total; done += perMinute {
			err := s.Update(ctx, func(tx *Tx) error {
				for i := range perMinute {
					n := done + i
					j := Job{ID: uuid.Must(uuid.NewV7()).String(), AppID: "app", Env: fmt.Sprintf("env%d", n%10),
						Resource: fmt.Sprintf("r%03d", n%resources), Operation: OpUpdate, Status: StatusCompleted,
						CreateTime: clock, UpdateTime: clock.Add(time.Second)}
					if err := tx.InsertJob(j); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			clock = clock.Add(time.Minute)
			if !keep {
				// Each batch is timed from the end of the one before: its
				// read pass (no writer waits behind it) and its commit.
				start := time.Now()
				last := start
				batchEnd := func(context.Context) error {
					longestBatch = max(longestBatch, time.Since(last))
					last = time.Now()
					return nil
				}
				if _, err := s.SweepJobs(ctx, clock.Add(-retention), SweepOptions{Pause: batchEnd}); err != nil {
					b.Fatal(err)
				}
				batchEnd(ctx)
				sweepTime += time.Since(start)
			}
			if n := done + perMinute; n == total || n%(total/4) == 0 || n == 100_000 {
				s = reopenMeasured(b, s, path, n, sweepTime, longestBatch)
				sweepTime, longestBatch = 0, 0
			}
		}
		s.Close()
	}
}

// reopenMeasured closes s, logs the file size, then times a fully checked
// Open of the file and returns the store it opened.
func reopenMeasured(b *testing.B, s *Store, path string, churned int, swept, longestBatch time.Duration) *Store {
	b.Helper()
	var kept int
	s.View(context.Background(), func(tx *Tx) error { kept = tx.kv.Bucket(bucketJobs).KeyN(); return nil })
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	s, err = OpenWith(path, Options{Check: CheckFull})
	if err != nil {
		b.Fatal(err)
	}
	open := time.Since(start)
	b.Logf("%10d %10d %12d %12s %10s %14s", churned, kept, info.Size(), open.Round(time.Millisecond), swept.Round(time.Millisecond), longestBatch.Round(10*time.Microsecond))
	b.ReportMetric(float64(info.Size()), "file-bytes")
	b.ReportMetric(float64(open.Milliseconds()), "open-ms")
	return s
}

// BenchmarkWritesDuringSweep measures what a sweep costs the API's writes:
// one writer inserts jobs one Batch at a time, as CreateBackendStorage
// does, first on an idle store and then while SweepJobs removes 100,000
// expired jobs (1,000 resources in 10 environments), and it reports the
// latency of those writes in both cases.
//
//	go test -run '^$' -bench WritesDuringSweep -benchtime 1x -v ./store
func BenchmarkWritesDuringSweep(b *testing.B) {
	const expired = 100_000
	ctx := context.Background()
	for b.Loop() {
		s, err := Open(filepath.Join(b.TempDir(), "store.db"))
		if err != nil {
			b.Fatal(err)
		}
		old := time.Now().UTC().Add(-time.Hour)
		for done := 0; done < expired; done += 5000 {
			err := s.Update(ctx, func(tx *Tx) error {
				for n := done; n < done+5000; n++ {
					j := Job{ID: uuid.Must(uuid.NewV7()).String(), AppID: "app", Env: fmt.Sprintf("env%d", n%10),
						Resource: fmt.Sprintf("r%03d", n%1000), Operation: OpUpdate, Status: StatusCompleted, CreateTime: old, UpdateTime: old}
					if err := tx.InsertJob(j); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		write := func() time.Duration {
			start := time.Now()
			err := s.Batch(ctx, func(tx *Tx) error {
				return tx.InsertJob(newJob(uuid.Must(uuid.NewV7()).String(), "app", "live", "w", StatusRunning))
			})
			if err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		var idle []time.Duration
		for range 500 {
			idle = append(idle, write())
		}
		swept := make(chan int)
		go func() {
			n, err := s.SweepJobs(ctx, time.Now(), SweepOptions{})
			if err != nil {
				b.Error(err)
			}
			swept <- n
		}()
		var during []time.Duration
		var removed int
	writes:
		for {
			select {
			case removed = <-swept:
				break writes
			default:
				during = append(during, write())
			}
		}
		b.Logf("removed %d expired jobs", removed)
		for _, c := range []struct {
			name string
			d    []time.Duration
		}{{"idle", idle}, {"during the sweep", during}} {
			slices.Sort(c.d)
			b.Logf("%-17s %5d writes: p50 %8s p99 %8s max %8s", c.name, len(c.d),
				c.d[len(c.d)/2].Round(time.Microsecond), c.d[len(c.d)*99/100].Round(time.Microsecond), c.d[len(c.d)-1].Round(time.Microsecond))
		}
		s.Close()
	}
}
