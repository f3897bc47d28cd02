package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// Whole environments: CreateBackend, DeleteBackend and RemoveAllBackends
// run as jobs that hold their environments (store.Environment.ActiveJob,
// and the app's record for RemoveAllBackends) from acceptance to the end:
// no storage job is accepted in a held environment, and none is accepted
// while a storage job runs in it. The target is changed only through the
// per-resource steps of the storage jobs, so what a DeleteBackend removes
// is exactly what DeleteBackendStorage would.

// EnvironmentBusyError is a call on an environment, or one of its
// resources, while a whole-environment job holds it.
type EnvironmentBusyError struct {
	AppID, Env string
	// Job is the id of the job holding it.
	Job string
}

func (e *EnvironmentBusyError) Error() string {
	if e.Env == "" {
		return fmt.Sprintf("app %q has job %s pending", e.AppID, e.Job)
	}
	return fmt.Sprintf("environment %q of app %q has job %s pending", e.Env, e.AppID, e.Job)
}

// Is makes errors.Is(err, store.ErrConflict) true.
func (e *EnvironmentBusyError) Is(target error) bool { return target == store.ErrConflict }

// envFree refuses a new job in an environment a whole-environment job
// holds, or in an app a RemoveAllBackends job holds.
func envFree(tx *store.Tx, appID, env string) error {
	app, _, err := tx.App(appID)
	if err != nil {
		return err
	}
	if app.ActiveJob != "" {
		return &EnvironmentBusyError{AppID: appID, Job: app.ActiveJob}
	}
	e, _, err := tx.Environment(appID, env)
	if err != nil {
		return err
	}
	if e.ActiveJob != "" {
		return &EnvironmentBusyError{AppID: appID, Env: env, Job: e.ActiveJob}
	}
	return nil
}

// holdEnv makes job j hold an existing environment, which must be free and
// have no resource with a job pending.
func holdEnv(tx *store.Tx, e store.Environment, j store.Job) error {
	if err := envFree(tx, e.AppID, e.Env); err != nil {
		return err
	}
	resources, err := tx.Resources(e.AppID, e.Env)
	if err != nil {
		return err
	}
	for _, res := range resources {
		if res.ActiveJob != "" {
			return &PendingJobError{Resource: res.ResourceKey, Job: res.ActiveJob}
		}
	}
	e.ActiveJob = j.ID
	return tx.PutEnvironment(e)
}

// CreateBackend accepts a CreateBackend call: the environment is recorded
// at once (held, and marked as being created, until the job completes), and
// the app's name with it.
func (r *Runner) CreateBackend(ctx context.Context, appID, appName, env string) (store.Job, error) {
	j := r.newJob(store.ResourceKey{AppID: appID, Env: env}, store.OpCreateBackend)
	return r.accept(ctx, j, func(tx *store.Tx) error {
		if err := envFree(tx, appID, env); err != nil {
			return err
		}
		if _, ok, err := tx.Environment(appID, env); err != nil {
			return err
		} else if ok {
			return &store.EnvironmentExistsError{AppID: appID, Env: env}
		}
		app, ok, err := tx.App(appID)
		if err != nil {
			return err
		}
		if !ok {
			app = store.App{AppID: appID, CreateTime: j.CreateTime}
		}
		app.Name = appName
		if err := tx.PutApp(app); err != nil {
			return err
		}
		return tx.PutEnvironment(store.Environment{AppID: appID, Env: env, ActiveJob: j.ID, Creating: true, CreateTime: j.CreateTime})
	})
}

// envNotFound is the error for an environment without a record: the app's
// when the app is not known either, as every other call answers.
func envNotFound(tx *store.Tx, appID, env string) error {
	if err := tx.CheckScope(appID, ""); err != nil {
		return err
	}
	return &store.NotFoundError{Kind: store.KindEnv, AppID: appID, Env: env}
}

// DeleteBackend accepts a DeleteBackend call.
func (r *Runner) DeleteBackend(ctx context.Context, appID, env string) (store.Job, error) {
	j := r.newJob(store.ResourceKey{AppID: appID, Env: env}, store.OpDeleteBackend)
	return r.accept(ctx, j, func(tx *store.Tx) error {
		e, ok, err := tx.Environment(appID, env)
		if err != nil {
			return err
		}
		if !ok {
			return envNotFound(tx, appID, env)
		}
		return holdEnv(tx, e, j)
	})
}

// RemoveAllBackends accepts a RemoveAllBackends call. Its job belongs to
// the app, not to one environment (its record's environment is empty), and
// holds the app and every environment of it. clean also removes the app's
// record (its name) once every environment is gone.
func (r *Runner) RemoveAllBackends(ctx context.Context, appID string, clean bool) (store.Job, error) {
	j := r.newJob(store.ResourceKey{AppID: appID}, store.OpRemoveAllBackends)
	return r.accept(ctx, j, func(tx *store.Tx) error {
		app, appOK, err := tx.App(appID)
		if err != nil {
			return err
		}
		envs, err := tx.Environments(appID)
		if err != nil {
			return err
		}
		if !appOK && len(envs) == 0 {
			return &store.NotFoundError{Kind: store.KindApp, AppID: appID}
		}
		if r.store.Shared() && len(envs) > store.EtcdEnvsPerCall {
			return &TooManyEnvironmentsError{AppID: appID, Count: len(envs), Max: store.EtcdEnvsPerCall}
		}
		for _, e := range envs {
			if err := holdEnv(tx, e, j); err != nil {
				return err
			}
		}
		if !appOK {
			app = store.App{AppID: appID, CreateTime: j.CreateTime}
		}
		app.ActiveJob, app.Clean = j.ID, clean
		return tx.PutApp(app)
	})
}

// heldEnvs lists the environments job j holds: its own, a clone's
// target, every environment of the app for RemoveAllBackends.
func heldEnvs(tx *store.Tx, j store.Job) ([]store.Environment, error) {
	all, err := tx.Environments(j.AppID)
	var out []store.Environment
	for _, e := range all {
		if e.ActiveJob == j.ID {
			out = append(out, e)
		}
	}
	return out, err
}

// executeWhole drives a whole-environment job from its stored state to a
// final one, as execute does for storage jobs.
func (r *Runner) executeWhole(ctx context.Context, j store.Job) error {
	for ctx.Err() == nil {
		if err := r.store.View(ctx, func(tx *store.Tx) (err error) { j, err = tx.Job(j.ID); return err }); err != nil {
			return fmt.Errorf("load job: %w", err)
		}
		if !j.Pending() {
			return nil
		}
		if j.Undo {
			err := r.run(ctx, j, "undo of "+string(j.Operation), func(jctx context.Context) error { return r.restoreHeld(jctx, j) })
			if ctx.Err() != nil {
				return nil
			}
			if err := r.settleWhole(ctx, j, outcomeUndone, nil, err); !errors.Is(err, errStale) {
				return err
			}
			continue
		}
		var warnings []string
		err := r.run(ctx, j, string(j.Operation), func(jctx context.Context) (err error) {
			warnings, err = r.applyWhole(jctx, j)
			return err
		})
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err == nil:
			err = r.settleWhole(ctx, j, outcomeDone, warnings, nil)
		case errors.Is(err, errInterrupted):
			continue
		default:
			r.logFor(ctx).Warn("job failed", "error", err)
			err = r.settleWhole(ctx, j, outcomeFailed, nil, err)
		}
		// Settled, stale (a client cancelled meanwhile), or failed with a
		// rollback to run first: re-read and go on.
		if err != nil && !errors.Is(err, errStale) {
			return err
		}
	}
	return nil
}

// applyWhole makes the target match what a whole-environment job asked
// for, and returns its warnings.
func (r *Runner) applyWhole(ctx context.Context, j store.Job) ([]string, error) {
	switch j.Operation {
	case store.OpCreateBackend:
		// The environment's roles are chosen and recorded now, so they are
		// known (and claimed) before its first resource.
		return nil, r.step(ctx, "record roles", func(ctx context.Context) error {
			_, err := r.recordRoles(ctx, j.AppID, j.Env)
			return err
		})
	case store.OpCloneBackend:
		return r.provisionClone(ctx, j)
	case store.OpDeleteBackend, store.OpRemoveAllBackends:
		var envs []store.Environment
		if err := r.store.View(ctx, func(tx *store.Tx) (err error) { envs, err = heldEnvs(tx, j); return err }); err != nil {
			return nil, err
		}
		var warnings []string
		for _, e := range envs {
			w, err := r.removeEnv(ctx, j, e.Env)
			warnings = append(warnings, w...)
			if err != nil {
				if j.Operation == store.OpRemoveAllBackends {
					err = fmt.Errorf("environment %q: %w", e.Env, err)
				}
				return nil, err
			}
		}
		return warnings, nil
	}
	return nil, terminal("unknown operation %q", j.Operation)
}

// removeEnv removes every storage resource of env as DeleteBackendStorage
// would, each resource's record as soon as the target no longer holds its
// policies (so a restart goes on from there), then the roles this service
// created for the environment when nothing else uses them.
func (r *Runner) removeEnv(ctx context.Context, j store.Job, env string) ([]string, error) {
	var resources []store.Resource
	if err := r.store.View(ctx, func(tx *store.Tx) (err error) { resources, err = tx.Resources(j.AppID, env); return err }); err != nil {
		return nil, err
	}
	var warnings []string
	for _, res := range resources {
		w := &work{job: store.Job{ID: j.ID, AppID: j.AppID, Env: env, Resource: res.Name, Operation: store.OpDelete}, res: res}
		err := r.applyResource(ctx, j, w, &warnings, func(tx *store.Tx) error { return tx.DeleteResource(res.ResourceKey) })
		if err != nil {
			return warnings, err
		}
	}
	w, err := r.removeEnvRoles(ctx, j.ID, j.AppID, env)
	return append(warnings, w...), err
}

// removeEnvRoles takes the environment's documents off its roles (the
// inline policy, our managed policies attached or not; nothing is left for
// the environment once its resources are gone) and removes the roles of
// env that this service created and nothing else uses; the warnings say
// which were kept and why. A role another environment owns is not touched.
// Each part observes first, so a second run, or one after a crash, does
// only what is left.
func (r *Runner) removeEnvRoles(ctx context.Context, jobID, appID, env string) ([]string, error) {
	if !r.target.HasIAM() {
		return nil, nil
	}
	var roles store.EnvRoles
	if err := r.store.View(ctx, func(tx *store.Tx) (err error) { roles, err = r.envRoleNames(tx, appID, env); return err }); err != nil {
		return nil, err
	}
	// The environment's own documents are written as any job of it writes
	// them, from what its remaining resources grant.
	w := &work{job: store.Job{ID: jobID, AppID: appID, Env: env, Operation: store.OpDelete},
		res: store.Resource{ResourceKey: store.ResourceKey{AppID: appID, Env: env}}, roles: &roles}
	var warnings []string
	for _, kind := range roleKinds {
		role := roles.Name(kind)
		err := r.step(ctx, "remove "+string(kind)+" role", func(ctx context.Context) error {
			tags, exists, err := r.target.RoleTags(ctx, role)
			if err != nil || !exists {
				return err
			}
			owner, ours := tags[OwnerTag], roleOwnerTag(appID, env, kind)
			if owner != "" && owner != ours {
				return nil
			}
			if err := r.writeEnvRolePolicy(ctx, w, role, kind, store.Permissions{}); err != nil {
				return err
			}
			if owner != ours {
				return nil // ours by the store's record only: not ours to delete
			}
			kept, err := r.removeOwnedRole(ctx, appID, env, role, kind)
			if kept != "" {
				warnings = append(warnings, fmt.Sprintf("role %q was kept: %s", role, kept))
			}
			return err
		})
		if err != nil {
			return warnings, err
		}
	}
	return warnings, nil
}

// removeOwnedRole deletes role, which this service created for env's kind,
// when nothing else uses it: no inline policies and no managed policies
// are left on it (ours are gone by now) and the target does not refuse the
// delete. kept says why it stays, naming what others left on it.
func (r *Runner) removeOwnedRole(ctx context.Context, appID, env, role string, kind store.RoleKind) (kept string, err error) {
	names, err := r.target.RolePolicyNames(ctx, role)
	if err != nil {
		return "", err
	}
	ours, others, _, err := r.attachedPolicies(ctx, appID, env, role, kind)
	if err != nil {
		return "", err
	}
	var held []string
	if len(names) > 0 {
		held = append(held, "inline policies this service did not write ("+strings.Join(names, ", ")+")")
	}
	if attached := append(ours, others...); len(attached) > 0 {
		arns := make([]string, len(attached))
		for i, a := range attached {
			arns[i] = a.ARN
		}
		held = append(held, "attached managed policies ("+strings.Join(arns, ", ")+")")
	}
	if len(held) > 0 {
		return "it holds " + strings.Join(held, " and "), nil
	}
	if err := r.target.DeleteRole(ctx, role); err != nil {
		if errors.Is(err, s3iam.ErrRoleInUse) {
			return "the target says it is still in use", nil
		}
		return "", err
	}
	return "", nil
}

// applyResource runs the storage steps of w for whole-environment job j,
// adds their warnings (named by resource) to warnings, then records the
// outcome with record if j still holds the resource's environment, so a
// restart goes on from the next resource.
func (r *Runner) applyResource(ctx context.Context, j store.Job, w *work, warnings *[]string, record func(tx *store.Tx) error) error {
	if err := r.apply(ctx, w); err != nil {
		return fmt.Errorf("storage resource %q: %w", w.res.Name, err)
	}
	for _, m := range w.warnings {
		*warnings = append(*warnings, fmt.Sprintf("storage %s: %s", w.res.Name, m))
	}
	return r.writeState(ctx, func(tx *store.Tx) error {
		if err := stillHeld(tx, j, w.res.Env); err != nil {
			return err
		}
		return record(tx)
	})
}

// stillHeld is the precondition of a whole-environment job's progress
// writes: the job is RUNNING and still holds env.
func stillHeld(tx *store.Tx, j store.Job, env string) error {
	cur, err := tx.Job(j.ID)
	if err != nil {
		return err
	}
	e, ok, err := tx.Environment(j.AppID, env)
	if err != nil {
		return err
	}
	if cur.Status != store.StatusRunning || cur.Undo || !ok || e.ActiveJob != j.ID {
		return errStale
	}
	return nil
}

// restoreHeld is the undo of a cancelled DeleteBackend or
// RemoveAllBackends: the resources not yet removed get back everything the
// interrupted removal may have taken from them (reconcilePresent), so each
// is either wholly removed or wholly as it was. A failed or cancelled
// CloneBackend is rolled back (unprovisionClone); a CreateBackend has
// nothing on the target to undo.
func (r *Runner) restoreHeld(ctx context.Context, j store.Job) error {
	if j.Operation == store.OpCloneBackend {
		return r.unprovisionClone(ctx, j)
	}
	var resources []store.Resource
	err := r.store.View(ctx, func(tx *store.Tx) error {
		envs, err := heldEnvs(tx, j)
		if err != nil || j.Operation == store.OpCreateBackend {
			return err
		}
		for _, e := range envs {
			rs, err := tx.Resources(e.AppID, e.Env)
			if err != nil {
				return err
			}
			resources = append(resources, rs...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, res := range resources {
		w := &work{job: store.Job{ID: j.ID, AppID: res.AppID, Env: res.Env, Resource: res.Name, Operation: store.OpUpdate}, res: res}
		if err := r.reconcilePresent(ctx, w); err != nil {
			return fmt.Errorf("storage resource %q of environment %q: %w", res.Name, res.Env, err)
		}
	}
	return nil
}

// CloneBackend accepts a CloneBackend call: the target environment is
// recorded at once with a copy of every storage resource of the source (the
// same permissions; a bucket this service created gets a new derived name,
// an imported bucket is imported again), all held by the job, as is the
// source, so that what is copied cannot change meanwhile.
func (r *Runner) CloneBackend(ctx context.Context, appID, env, target string) (store.Job, error) {
	j := r.newJob(store.ResourceKey{AppID: appID, Env: env}, store.OpCloneBackend)
	return r.accept(ctx, j, func(tx *store.Tx) error {
		src, ok, err := tx.Environment(appID, env)
		if err != nil {
			return err
		}
		if !ok {
			return envNotFound(tx, appID, env)
		}
		if _, ok, err := tx.Environment(appID, target); err != nil {
			return err
		} else if ok {
			return &store.EnvironmentExistsError{AppID: appID, Env: target}
		}
		resources, err := tx.Resources(appID, env)
		if err != nil {
			return err
		}
		if r.store.Shared() && len(resources) > store.EtcdResourcesPerClone {
			return &TooManyResourcesError{AppID: appID, Env: env, Count: len(resources), Max: store.EtcdResourcesPerClone}
		}
		if err := holdEnv(tx, src, j); err != nil {
			return err
		}
		if err := tx.PutEnvironment(store.Environment{AppID: appID, Env: target, ActiveJob: j.ID, Creating: true, CreateTime: j.CreateTime}); err != nil {
			return err
		}
		for _, res := range resources {
			bucket := res.Bucket
			if !res.Imported {
				bucket = DeriveBucketName(appID, target, res.Name)
			}
			err := tx.CreateResource(store.Resource{ResourceKey: store.ResourceKey{AppID: appID, Env: target, Name: res.Name},
				Bucket: bucket, Imported: res.Imported, Desired: res.Desired, Phase: store.PhaseCreating, ActiveJob: j.ID,
				CreateTime: j.CreateTime, UpdateTime: j.CreateTime})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// cloneTarget returns the environment a CloneBackend job creates and its
// resources, in name order.
func (r *Runner) cloneTarget(ctx context.Context, j store.Job) (target string, resources []store.Resource, err error) {
	err = r.store.View(ctx, func(tx *store.Tx) error {
		envs, err := heldEnvs(tx, j)
		if err != nil {
			return err
		}
		for _, e := range envs {
			if e.Creating {
				target = e.Env
			}
		}
		if target == "" {
			return terminal("the environment this clone creates is not recorded")
		}
		resources, err = tx.Resources(j.AppID, target)
		return err
	})
	return target, resources, err
}

// provisionClone provisions each resource of the clone's target with the
// steps of CreateBackendStorage (a bucket of its own) or
// ImportBackendStorage (the same bucket, our statements for the target's
// roles beside the source's), recording each as active once it is done, so
// a restart goes on with the next.
func (r *Runner) provisionClone(ctx context.Context, j store.Job) ([]string, error) {
	_, resources, err := r.cloneTarget(ctx, j)
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, res := range resources {
		if res.ActiveJob != j.ID {
			continue // provisioned before a restart
		}
		w := &work{job: cloneStep(j, res), res: res}
		err := r.applyResource(ctx, j, w, &warnings, func(tx *store.Tx) error {
			cur, err := tx.Resource(res.ResourceKey)
			if err != nil {
				return err
			}
			applied := cur.Desired
			cur.Applied, cur.Phase, cur.ActiveJob, cur.Warnings = &applied, store.PhaseActive, "", w.warnings
			cur.CreatedBucket = cur.CreatedBucket || w.createdBucket
			cur.UpdateTime = r.now()
			return tx.PutResource(cur)
		})
		if err != nil {
			return warnings, err
		}
	}
	return warnings, nil
}

// cloneStep is the storage job whose steps provision res for clone job j.
func cloneStep(j store.Job, res store.Resource) store.Job {
	op := store.OpCreate
	if res.Imported {
		op = store.OpImport
	}
	return store.Job{ID: j.ID, AppID: res.AppID, Env: res.Env, Resource: res.Name, Operation: op, Status: j.Status, BucketRequested: j.BucketRequested}
}

// unprovisionClone is the rollback of a failed or cancelled clone: what it
// wrote for each target resource is removed, in reverse order (the role
// policies, our bucket statements, and a bucket it created once empty),
// then the target's roles where this service created them and nothing else
// uses them. The records go when the job settles.
func (r *Runner) unprovisionClone(ctx context.Context, j store.Job) error {
	target, resources, err := r.cloneTarget(ctx, j)
	if err != nil {
		return err
	}
	for i := len(resources) - 1; i >= 0; i-- {
		res := resources[i]
		w := &work{job: cloneStep(j, res), res: res}
		w.job.Operation = store.OpCreate // its bucket, if ours, may be removed
		if err := r.reconcileAbsent(ctx, w); err != nil {
			return fmt.Errorf("storage resource %q: %w", res.Name, err)
		}
	}
	_, err = r.removeEnvRoles(ctx, j.ID, j.AppID, target)
	return err
}
