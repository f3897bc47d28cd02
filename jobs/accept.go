package jobs

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// CreateInput is an accepted CreateBackendStorage call.
type CreateInput struct {
	Key         store.ResourceKey
	Bucket      string // empty: derive one
	Permissions store.Permissions
}

// NormalizePermissions validates permission elements and returns them as a
// sorted set, so duplicates in a request never reach the store. field names
// the request field in the error.
func NormalizePermissions(field string, in []string) ([]string, error) {
	var out []string
	for _, p := range in {
		if !policy.Permission(p).Valid() {
			return nil, &PermissionError{Field: field, Value: p}
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// newJob ids are UUIDv7: time-ordered, so the jobs and pending indexes grow
// at their ends and a group commit dirties a few pages instead of one page
// per job scattered across the tree, as random (v4) ids would.
func (r *Runner) newJob(k store.ResourceKey, op store.Operation) store.Job {
	now := r.now()
	return store.Job{ID: uuid.Must(uuid.NewV7()).String(), AppID: k.AppID, Env: k.Env, Resource: k.Name, Operation: op,
		Status: store.StatusRunning, CreateTime: now, UpdateTime: now}
}

// accept commits a job together with the resource change it implies, then
// queues it. The commit happens before the caller answers, so an answered
// call survives a crash; the queue is only a hint (recovery reads the
// pending index).
func (r *Runner) accept(ctx context.Context, j store.Job, change func(tx *store.Tx) error) (store.Job, error) {
	err := r.store.Batch(ctx, func(tx *store.Tx) error {
		// One job at a time per resource extends to environments: no
		// storage job while a whole-environment job holds its environment
		// (and the whole-environment operations check their resources).
		if !j.Operation.Whole() {
			if err := envFree(tx, j.AppID, j.Env); err != nil {
				return err
			}
		}
		if err := change(tx); err != nil {
			return err
		}
		return tx.InsertJob(j)
	})
	if err != nil {
		return store.Job{}, err
	}
	r.enqueue(j.ID)
	r.cfg.Metrics.JobAccepted(string(j.Operation))
	// Typed attributes: this line is written once per accepted call, and
	// an Operation passed as an any is formatted by reflection.
	r.log.LogAttrs(ctx, slog.LevelInfo, "job accepted", slog.String("job_id", j.ID), slog.String("operation", string(j.Operation)),
		slog.String("app_id", j.AppID), slog.String("env", j.Env))
	return j, nil
}

// claimable returns the existing resource at k for a new change, or the
// error the API should give: not found (or hidden) or busy.
func claimable(tx *store.Tx, k store.ResourceKey) (store.Resource, error) {
	res, err := tx.Resource(k)
	if err != nil {
		return res, err
	}
	if res.ActiveJob != "" {
		return res, &PendingJobError{Resource: k, Job: res.ActiveJob}
	}
	return res, nil
}

// Create accepts a CreateBackendStorage call.
func (r *Runner) Create(ctx context.Context, in CreateInput) (store.Job, error) {
	bucket := in.Bucket
	if bucket == "" {
		bucket = DeriveBucketName(in.Key.AppID, in.Key.Env, in.Key.Name)
	} else if err := ValidateBucketName(bucket); err != nil {
		return store.Job{}, err
	}
	j := r.newJob(in.Key, store.OpCreate)
	return r.accept(ctx, j, func(tx *store.Tx) error {
		if existing, err := tx.Resource(in.Key); err == nil && existing.ActiveJob != "" {
			return &PendingJobError{Resource: in.Key, Job: existing.ActiveJob}
		}
		return tx.CreateResource(store.Resource{ResourceKey: in.Key, Bucket: bucket, Desired: in.Permissions,
			Phase: store.PhaseCreating, ActiveJob: j.ID, CreateTime: j.CreateTime, UpdateTime: j.CreateTime})
	})
}

// Import accepts an ImportBackendStorage call. The resource takes the bucket's
// name and starts with no permissions, as Amplify's import does.
func (r *Runner) Import(ctx context.Context, appID, env, bucket string) (store.Job, error) {
	if err := ValidateBucketName(bucket); err != nil {
		return store.Job{}, err
	}
	k := store.ResourceKey{AppID: appID, Env: env, Name: bucket}
	j := r.newJob(k, store.OpImport)
	return r.accept(ctx, j, func(tx *store.Tx) error {
		if existing, err := tx.Resource(k); err == nil && existing.ActiveJob != "" {
			return &PendingJobError{Resource: k, Job: existing.ActiveJob}
		}
		return tx.CreateResource(store.Resource{ResourceKey: k, Bucket: bucket, Imported: true,
			Phase: store.PhaseCreating, ActiveJob: j.ID, CreateTime: j.CreateTime, UpdateTime: j.CreateTime})
	})
}

// Update accepts an UpdateBackendStorage call.
func (r *Runner) Update(ctx context.Context, k store.ResourceKey, perms store.Permissions) (store.Job, error) {
	j := r.newJob(k, store.OpUpdate)
	return r.accept(ctx, j, func(tx *store.Tx) error {
		res, err := claimable(tx, k)
		if err != nil {
			return err
		}
		res.Desired, res.ActiveJob, res.UpdateTime = perms, j.ID, j.CreateTime
		return tx.PutResource(res)
	})
}

// Delete accepts a DeleteBackendStorage call.
func (r *Runner) Delete(ctx context.Context, k store.ResourceKey) (store.Job, error) {
	j := r.newJob(k, store.OpDelete)
	return r.accept(ctx, j, func(tx *store.Tx) error {
		res, err := claimable(tx, k)
		if err != nil {
			return err
		}
		res.Phase, res.ActiveJob, res.UpdateTime = store.PhaseDeleting, j.ID, j.CreateTime
		return tx.PutResource(res)
	})
}

// UpdateJob applies an UpdateBackendJob call. The only status a client may
// set is CANCELLED, through the cancelIfRunning transition.
func (r *Runner) UpdateJob(ctx context.Context, appID, env, id string, op store.Operation, status store.Status) (store.Job, error) {
	var out store.Job
	// cancelled: this call cancelled the job. Only then is its execution
	// interrupted: a cancel sent again (a client's retry) finds the undo
	// the first one started running, and must not cut it short.
	var cancelled bool
	err := r.store.Batch(ctx, func(tx *store.Tx) error {
		cancelled = false
		j, err := tx.JobIn(appID, env, id)
		if err != nil {
			return err
		}
		if op != "" && op != j.Operation {
			return &OperationMismatchError{Job: id, Operation: op, JobOperation: j.Operation}
		}
		out = j
		if status == "" || status == j.Status {
			return nil
		}
		if status != store.StatusCancelled {
			return &StatusNotSettableError{Status: status}
		}
		if out, err = cancelIfRunning(tx, j, r.now()); err != nil {
			return err
		}
		cancelled = true
		return nil
	})
	if err != nil {
		return store.Job{}, err
	}
	if cancelled {
		r.interrupt(out.ID)
		r.enqueue(out.ID)
	}
	return out, nil
}

func (r *Runner) now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
