package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// errStale means a settle found the job or resource no longer in the state
// the execution started from (a client cancelled it meanwhile); the executor
// re-reads and carries on from the new state.
var errStale = errors.New("job changed during execution")

// errJobTimeout is the cause of an execution that ran past Config.JobTimeout.
var errJobTimeout = errors.New("job timed out")

// outcome is what one execution phase ended with; settle turns it into the
// next stored state.
type outcome int

const (
	// outcomeDone: the change is applied.
	outcomeDone outcome = iota + 1
	// outcomeFailed: the change could not be applied; err says why.
	outcomeFailed
	// outcomeUndone: the undo of a cancelled or failed change has run;
	// err, if any, is what it could not undo.
	outcomeUndone
)

// execute drives job id from its stored state to a final one. ctx is the
// runner's: when it ends, execute returns without writing, and the job stays
// pending for the next start. An error means the job could not be loaded or
// its state not recorded, and it is still pending.
func (r *Runner) execute(ctx context.Context, id string) error {
	var j store.Job
	if err := r.store.View(ctx, func(tx *store.Tx) (err error) { j, err = tx.Job(id); return err }); err != nil {
		return fmt.Errorf("load job: %w", err)
	}
	if j.Operation.Whole() {
		return r.executeWhole(ctx, j)
	}
	for ctx.Err() == nil {
		w, err := r.load(ctx, id)
		if err != nil || !w.job.Pending() {
			return err
		}
		if w.job.Undo {
			switch err := r.undo(ctx, &w); {
			case errors.Is(err, errStale):
				continue // cancelled while rolling back a failed create: undo again as cancelled
			case ctx.Err() != nil:
				return nil
			default:
				return err
			}
		}
		err = r.run(ctx, w.job, string(w.job.Operation), func(jctx context.Context) error { return r.apply(jctx, &w) })
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err == nil:
			err = r.settle(ctx, &w, outcomeDone, nil)
		case errors.Is(err, errInterrupted):
			continue // cancelled by a client: re-read, then undo
		default:
			r.logFor(ctx).Warn("job failed", "error", err)
			err = r.settle(ctx, &w, outcomeFailed, err)
		}
		if err != nil && !errors.Is(err, errStale) {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("record job state: %w", err)
		}
		if err == nil && !w.job.Undo {
			return nil
		}
		// Stale (a client cancelled meanwhile) or a failed create that must be
		// rolled back before it reports FAILED: re-read and go on.
	}
	return nil
}

// load reads job id and its resource as an execution starts from them.
func (r *Runner) load(ctx context.Context, id string) (work, error) {
	var w work
	err := r.store.View(ctx, func(tx *store.Tx) (err error) {
		if w.job, err = tx.Job(id); err != nil {
			return err
		}
		w.res, err = tx.Resource(w.job.Key())
		return err
	})
	if err != nil {
		return work{}, fmt.Errorf("load job: %w", err)
	}
	return w, nil
}

// giveUp ends a job whose execution kept breaking outside its steps (a
// panic, or a state write that failed): it fails the job with cause and, for
// a create or import, runs the rollback once more, so the resource is
// released instead of held until a restart. If even that breaks, the job
// stays pending and the next start tries again.
func (r *Runner) giveUp(ctx context.Context, id string, cause error) {
	err := safeCall(ctx, func(ctx context.Context) error {
		var j store.Job
		if err := r.store.View(ctx, func(tx *store.Tx) (err error) { j, err = tx.Job(id); return err }); err != nil || !j.Pending() {
			return err
		}
		if j.Operation.Whole() {
			out := outcomeFailed
			if j.Undo {
				out = outcomeUndone
			}
			if err := r.settleWhole(ctx, j, out, nil, cause); err != nil {
				return err
			}
			// A failed CreateBackend or CloneBackend has its rollback
			// pending now: run it once more, as below for a create.
			return r.executeWhole(ctx, j)
		}
		w, err := r.load(ctx, id)
		if err != nil || !w.job.Pending() {
			return err
		}
		out := outcomeFailed
		if w.job.Undo {
			out = outcomeUndone
		}
		if err := r.settle(ctx, &w, out, cause); err != nil {
			return err
		}
		if w.job.Undo {
			return r.undo(ctx, &w)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		r.logFor(ctx).Error("cannot fail the job; it stays pending until the next start", "cause", cause, "error", err)
	}
}

// run calls fn with a context that a client cancel (interrupt) or the job
// timeout ends, and reports those as errInterrupted or a timeout error; j
// is the job as the phase read it (scan compares its status). A panic in
// fn outside its steps is retried by guard like a failed attempt; name is
// what the job's error calls fn then.
func (r *Runner) run(ctx context.Context, j store.Job, name string, fn func(context.Context) error) error {
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tctx, stop := context.WithTimeoutCause(jctx, r.cfg.JobTimeout, errJobTimeout)
	defer stop()
	r.mu.Lock()
	r.running[j.ID] = phase{cancel: cancel, status: j.Status}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.running, j.ID)
		r.mu.Unlock()
	}()
	err := r.guard(tctx, name, fn)
	switch cause := context.Cause(tctx); {
	case err == nil:
		return nil
	case errors.Is(cause, errInterrupted):
		return errInterrupted
	case errors.Is(cause, errJobTimeout):
		return fmt.Errorf("the job did not finish within %s: %w", r.cfg.JobTimeout, err)
	}
	return err
}

// undo reverts a cancelled or failed change. A create or import being
// removed is reconciled to absent; a cancelled update or delete is
// reconciled back to the resource's recorded (reverted) state.
func (r *Runner) undo(ctx context.Context, w *work) error {
	err := r.run(ctx, w.job, "undo of "+string(w.job.Operation), func(jctx context.Context) error {
		if w.res.Phase == store.PhaseRemoving {
			return r.reconcileAbsent(jctx, w)
		}
		return r.reconcilePresent(jctx, w)
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return r.settle(ctx, w, outcomeUndone, err)
}

// recordBucketRequest records whether this job may have created its bucket.
// true is written before CreateBucket is sent, so that a restart before the
// answer still knows the bucket may be ours; it needs the job still running.
// false is written once the target has shown the bucket is not ours, so
// that no later rollback, after a restart included, takes it for ours; that
// holds whatever the job's state, and a client cancel does not cut it short.
func (r *Runner) recordBucketRequest(ctx context.Context, w *work, requested bool) error {
	if !requested {
		ctx = context.WithoutCancel(ctx)
	}
	err := r.writeState(ctx, func(tx *store.Tx) error {
		j, err := tx.Job(w.job.ID)
		if err != nil {
			return err
		}
		if requested && (j.Status != store.StatusRunning || j.Undo) {
			return terminal("the job is no longer running")
		}
		j.BucketRequested = requested
		return tx.PutJob(j)
	})
	if err == nil {
		w.job.BucketRequested = requested
	}
	return err
}
