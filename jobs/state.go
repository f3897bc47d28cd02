package jobs

import (
	"context"
	"strings"
	"time"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// A job's status moves only through the two transitions in this file, each
// a conditional write of the job and its resource in one transaction that
// names its precondition:
//
//   - settle (the executor): RUNNING, or CANCELLED with its undo pending, to
//     the state an execution's outcome implies, if the job and resource are
//     still as the execution read them; settleWhole is the same transition
//     for whole-environment jobs, which hold environments, not a resource.
//   - cancelIfRunning (a client, through UpdateBackendJob): RUNNING to
//     CANCELLED with the undo pending, if the job is RUNNING.
//
// Everything else that writes a job record (acceptance inserts it RUNNING;
// recordBucketRequest notes a bucket request) leaves its status alone.
//
// Every write the executor makes (settle, settleWhole, recordBucketRequest,
// a whole-environment job's progress) goes through writeState: on a store
// shared by replicas it is fenced on the job's claim, so a replica that
// lost its claim writes nothing (store.ErrFenced) and stops.

// claimKey carries, in an execution's context, the claim its job is
// executed under.
type claimKey struct{}

// writeState is the executor's write of its job's state: Batch, fenced on
// the claim the execution holds (none outside an execution: a plain Batch).
func (r *Runner) writeState(ctx context.Context, fn func(*store.Tx) error) error {
	if c, ok := ctx.Value(claimKey{}).(*store.Claim); ok {
		return r.store.BatchFenced(ctx, c, fn)
	}
	return r.store.Batch(ctx, fn)
}

// settle is the executor's transition. Precondition: the job and its
// resource are still as the execution read them (the job's status and undo
// flag, the resource held by this job); otherwise it returns errStale and
// writes nothing. It writes the job and its resource together and maps the
// execution's outcome to the next state. On success w.job holds it.
func (r *Runner) settle(ctx context.Context, w *work, out outcome, cause error) error {
	var next store.Job
	// Batch: under load settles share their fsync with acceptances and each
	// other instead of holding the single writer through one fsync each.
	err := r.writeState(ctx, func(tx *store.Tx) error {
		j, err := tx.Job(w.job.ID)
		if err != nil {
			return err
		}
		res, err := tx.Resource(j.Key())
		if err != nil {
			return err
		}
		if j.Status != w.job.Status || j.Undo != w.job.Undo || res.ActiveJob != j.ID {
			return errStale
		}
		now := r.now()
		j.UpdateTime, res.UpdateTime = now, now
		release := func() error {
			res.ActiveJob = ""
			if res.Phase == store.PhaseRemoving {
				return tx.DeleteResource(res.ResourceKey)
			}
			return tx.PutResource(res)
		}
		switch out {
		case outcomeDone:
			// What a completed job could not do is a warning, never an
			// error: clients take an error's presence for failure.
			j.Status, j.Warnings = store.StatusCompleted, w.warnings
			if j.Operation == store.OpDelete {
				if err := tx.DeleteResource(res.ResourceKey); err != nil {
					return err
				}
				break
			}
			applied := res.Desired
			res.Applied, res.Phase, res.Warnings = &applied, store.PhaseActive, w.warnings
			res.CreatedBucket = res.CreatedBucket || w.createdBucket
			if err := release(); err != nil {
				return err
			}
		case outcomeFailed:
			j.Error = cause.Error()
			switch j.Operation {
			case store.OpCreate, store.OpImport:
				// Keep RUNNING until the rollback has run: a client that sees
				// FAILED may create the resource again at once.
				j.Undo, res.Phase = true, store.PhaseRemoving
				if err := tx.PutResource(res); err != nil {
					return err
				}
			case store.OpUpdate:
				j.Status = store.StatusFailed
				if res.Applied != nil {
					res.Desired = *res.Applied
				}
				res.Warnings = append(res.Warnings, "The last update failed; run UpdateBackendStorage again to reconcile: "+j.Error)
				if err := release(); err != nil {
					return err
				}
			default:
				j.Status = store.StatusFailed
				res.Phase = store.PhaseActive
				if err := release(); err != nil {
					return err
				}
			}
		case outcomeUndone:
			undone(&j, cause)
			if err := release(); err != nil {
				return err
			}
		}
		next = j
		return tx.PutJob(j)
	})
	if err != nil {
		return err
	}
	w.job = next
	r.observeState(ctx, next)
	return nil
}

// observeState logs the state a transition of the executor wrote and, once
// the job is no longer pending, counts it finished: settle and settleWhole
// share it so both kinds of job are observed alike.
func (r *Runner) observeState(ctx context.Context, next store.Job) {
	r.logFor(ctx).Info("job state", "status", next.Status, "undo", next.Undo)
	if !next.Pending() {
		r.cfg.Metrics.JobFinished(string(next.Operation), string(next.Status), next.UpdateTime.Sub(next.CreateTime))
	}
}

// undone settles j's undo: a failed change's job becomes FAILED (a
// cancelled one stays CANCELLED), and what the undo could not do, cause,
// is added to its error.
func undone(j *store.Job, cause error) {
	j.Undo = false
	if j.Status == store.StatusRunning {
		j.Status = store.StatusFailed
	}
	if cause != nil {
		j.Error = strings.TrimSuffix(j.Error, ".") + ". Cleanup incomplete: " + cause.Error()
	}
}

// removeEnvironment removes an environment a failed or cancelled job was
// creating, with the resource records its rollback emptied.
func removeEnvironment(tx *store.Tx, e store.Environment) error {
	resources, err := tx.Resources(e.AppID, e.Env)
	if err != nil {
		return err
	}
	for _, res := range resources {
		if err := tx.DeleteResource(res.ResourceKey); err != nil {
			return err
		}
	}
	return tx.DeleteEnvironment(e.AppID, e.Env)
}

// cancelIfRunning is the client's transition. Precondition: j is RUNNING;
// otherwise it is a conflict and nothing is written. The job reports
// CANCELLED at once with its undo pending, the resource's desired state goes
// back to what was applied (a create's resource is marked for removal), and
// the executor then undoes the partial change and settles the undo before it
// releases the resource.
func cancelIfRunning(tx *store.Tx, j store.Job, now time.Time) (store.Job, error) {
	if j.Status != store.StatusRunning {
		return store.Job{}, &NotRunningError{Job: j.ID, Status: j.Status}
	}
	j.Status, j.Undo, j.UpdateTime = store.StatusCancelled, true, now
	j.Error = "Cancelled by the client."
	if j.Operation.Whole() {
		// The environments stay held until the undo has run (settleWhole).
		return j, tx.PutJob(j)
	}
	res, err := tx.Resource(j.Key())
	if err != nil {
		return store.Job{}, err
	}
	switch j.Operation {
	case store.OpCreate, store.OpImport:
		res.Phase = store.PhaseRemoving
	case store.OpUpdate:
		if res.Applied != nil {
			res.Desired = *res.Applied
		}
	case store.OpDelete:
		res.Phase = store.PhaseActive
	}
	res.UpdateTime = now
	if err := tx.PutResource(res); err != nil {
		return store.Job{}, err
	}
	return j, tx.PutJob(j)
}

// settleWhole is settle for a whole-environment job read as j.
// Precondition: the job's status and undo flag are still as read;
// otherwise it returns errStale and writes nothing. A completed job
// releases what it holds: the environments it created stop being new,
// those it removed are deleted (and, for RemoveAllBackends, the app's
// record when it was asked to clean it or holds no name). A failed
// CreateBackend or CloneBackend stays RUNNING with its rollback pending;
// once that has run (outcomeUndone), and for the other operations at once,
// the environments it created are removed with their records and the
// others released as they are.
func (r *Runner) settleWhole(ctx context.Context, j store.Job, out outcome, warnings []string, cause error) error {
	var next store.Job
	err := r.writeState(ctx, func(tx *store.Tx) error {
		cur, err := tx.Job(j.ID)
		if err != nil {
			return err
		}
		if cur.Status != j.Status || cur.Undo != j.Undo {
			return errStale
		}
		now := r.now()
		cur.UpdateTime = now
		switch out {
		case outcomeDone:
			cur.Status, cur.Warnings = store.StatusCompleted, warnings
		case outcomeFailed:
			cur.Error = cause.Error()
			if cur.Operation == store.OpCreateBackend || cur.Operation == store.OpCloneBackend {
				// Keep RUNNING, and the environments held, until the
				// rollback has run: a client that sees FAILED may create
				// the environment again at once.
				cur.Undo = true
				next = cur
				return tx.PutJob(cur)
			}
			cur.Status = store.StatusFailed
		case outcomeUndone:
			undone(&cur, cause)
		}
		envs, err := heldEnvs(tx, cur)
		if err != nil {
			return err
		}
		done := out == outcomeDone
		for _, e := range envs {
			switch {
			case !done && e.Creating:
				err = removeEnvironment(tx, e)
			case done && !e.Creating && cur.Operation != store.OpCloneBackend:
				err = tx.DeleteEnvironment(e.AppID, e.Env)
			default:
				e.ActiveJob, e.Creating = "", false
				err = tx.PutEnvironment(e)
			}
			if err != nil {
				return err
			}
		}
		if app, ok, err := tx.App(cur.AppID); err != nil {
			return err
		} else if ok && app.ActiveJob == cur.ID {
			if done && (app.Clean || app.Name == "") {
				err = tx.DeleteApp(app.AppID)
			} else {
				app.ActiveJob, app.Clean = "", false
				err = tx.PutApp(app)
			}
			if err != nil {
				return err
			}
		}
		next = cur
		return tx.PutJob(cur)
	})
	if err != nil {
		return err
	}
	r.observeState(ctx, next)
	return nil
}
