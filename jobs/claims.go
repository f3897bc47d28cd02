package jobs

import (
	"context"
	"time"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// Replicas sharing a store (store.Shared) split the jobs between them by
// claims: a worker claims a job (store.ClaimJob) only once it is free to
// execute it, so work spreads over the replicas with free workers; the
// execution runs under the claim, every state write fenced on it
// (writeState), and the claim is released when the execution ends. On
// bbolt a claim is granted at once and costs nothing.

// executeClaimed claims job id and executes it under the claim. A job
// another replica holds, or that is no longer pending, is left alone. When
// the lease the claim hangs on ends, the execution's context ends at once
// with errLeaseLost: the job is no longer this replica's to write.
func (r *Runner) executeClaimed(ctx context.Context, id string) {
	claim, ok, err := r.store.ClaimJob(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("cannot claim a job; the next scan offers it again", "job_id", id, "error", err)
		}
		return
	}
	if !ok {
		return
	}
	ctx = context.WithValue(ctx, claimKey{}, claim)
	lost := claim.Lost()
	if lost == nil {
		// bbolt: the claim cannot be lost and needs no release.
		r.executeSafely(ctx, id)
		return
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The clock knows first: a process resumed after a stall past its
	// lease sends the target nothing more for the job, not even before
	// the goroutine below has run; the execution ends as it would then.
	ctx = s3iam.WithGate(ctx, func() error {
		if !claim.Held() {
			cancel(errLeaseLost)
			return errLeaseLost
		}
		return nil
	})
	go func() {
		select {
		case <-lost:
			cancel(errLeaseLost)
		case <-ctx.Done():
		}
	}()
	r.executeSafely(ctx, id)
	if context.Cause(ctx) == errLeaseLost {
		r.log.Warn("the lease on the shared store was lost; the job is left to a replica that holds one", "job_id", id)
		return
	}
	// Released whatever the runner's context does: a soft stop hands the
	// job to another replica at once rather than at the lease's end.
	rctx, done := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer done()
	if err := r.store.ReleaseJob(rctx, claim); err != nil {
		r.log.Warn("a job's claim was not released; it ends with this replica's lease", "job_id", id, "error", err)
	}
}

// releaseTimeout bounds the release of a claim after its execution.
const releaseTimeout = 5 * time.Second

// scanEvery runs scan every period until ctx ends: on a shared store it is
// how this replica learns of jobs it did not accept (a dead replica's,
// whose claims ended with its lease) and of cancels accepted by other
// replicas.
func (r *Runner) scanEvery(ctx context.Context, period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := r.scan(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("scan of the shared store's jobs failed; trying again", "error", err)
		}
	}
}

// scan queues the pending jobs no replica claims, and interrupts the
// phases in flight here whose job's status changed since they began (a
// cancel through another replica's UpdateBackendJob): the execution then
// re-reads the job and undoes, as after a cancel accepted here.
func (r *Runner) scan(ctx context.Context) error {
	ids, err := r.store.UnclaimedPending(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		r.enqueue(id)
	}
	r.mu.Lock()
	phases := make(map[string]store.Status, len(r.running))
	for id, p := range r.running {
		phases[id] = p.status
	}
	r.mu.Unlock()
	if len(phases) == 0 {
		return nil
	}
	var changed []string
	err = r.store.View(ctx, func(tx *store.Tx) error {
		changed = changed[:0]
		for id, status := range phases {
			if j, err := tx.Job(id); err == nil && j.Status != status {
				changed = append(changed, id)
			}
		}
		return nil
	})
	r.mu.Lock()
	for _, id := range changed {
		// Only the phase that was compared: one begun since (the undo
		// the interrupt leads to) started from the new status.
		if p, ok := r.running[id]; ok && p.status == phases[id] {
			p.cancel(errInterrupted)
		}
	}
	r.mu.Unlock()
	return err
}
