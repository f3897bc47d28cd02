package jobs

import (
	"context"
	"runtime"
	"time"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// sweepEvery is how often finished jobs past Config.JobRetention are looked
// for: a tenth of the retention, so a job outlives it by at most 10%, but
// at least every hour and at most every second.
func sweepEvery(retention time.Duration) time.Duration {
	return min(max(retention/10, time.Second), time.Hour)
}

// expireJobs removes finished jobs older than Config.JobRetention, once at
// start and then every sweepEvery, until ctx ends. Between two batches it
// gives way to the API: it waits while Config.YieldAt calls are in flight,
// as job workers do, and lets other goroutines run, so a long backlog of
// expired jobs is worked off without stalling answers.
func (r *Runner) expireJobs(ctx context.Context) {
	pause := func(ctx context.Context) error {
		runtime.Gosched()
		if !r.yieldUntil(ctx, r.apiQuiet, r.cfg.onSweepYield) {
			return context.Cause(ctx)
		}
		return nil
	}
	tick := time.NewTicker(sweepEvery(r.cfg.JobRetention))
	defer tick.Stop()
	for {
		cutoff := time.Now().Add(-r.cfg.JobRetention)
		removed, err := r.store.SweepJobs(ctx, cutoff, store.SweepOptions{Pause: pause})
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Error("removing expired jobs failed; the next sweep tries again", "removed", removed, "error", err)
		case removed > 0:
			r.log.Info("removed expired jobs", "removed", removed, "retention", r.cfg.JobRetention.String())
		}
		if r.cfg.onSweep != nil {
			r.cfg.onSweep(removed, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
