package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// An environment's storage grants live in one inline policy per role,
// policy.EnvRolePolicyName, merged over all its resources
// (policy.EnvDocuments). Every job that changes a resource's grants
// rewrites that shared document, so two jobs on resources of the same
// environment must not interleave read-compute-write, or the later write
// drops the earlier job's statements. Jobs hold the environment's lock
// (lockEnv) from reading the store to writing the document.
//
// While a job holds a resource, its record's Applied says what the target
// held before the job and Desired what the job aims for; neither says what
// the shared document holds now. shares records, per job-held resource,
// what its job last wrote into the document, so another job of the
// environment writes the same for it. A resource whose job wrote nothing
// yet in this process contributes its Applied permissions: its own job
// adds the rest when it gets there (a resumed job runs its steps again).

// envKey names one environment.
type envKey struct{ app, env string }

// share is what the job named job last wrote into its environment's role
// documents for its resource.
type share struct {
	job   string
	perms store.Permissions
}

// lockEnv waits for the lock of w's environment's shared role documents,
// or for ctx to end. The lock is in memory: one process owns a data
// directory.
func (r *Runner) lockEnv(ctx context.Context, w *work) (unlock func(), err error) {
	k := envKey{w.res.AppID, w.res.Env}
	r.envMu.Lock()
	if r.envLocks == nil {
		r.envLocks = map[envKey]chan struct{}{}
	}
	ch := r.envLocks[k]
	if ch == nil {
		ch = make(chan struct{}, 1)
		r.envLocks[k] = ch
	}
	r.envMu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// envPolicy is what w's environment's roles should hold with perms for
// w's resource, and the per-resource policy names earlier releases gave
// the environment's resources, which are ours to remove wherever found.
type envPolicy struct {
	auth, unauth *policy.Document
	legacy       []string
	resources    int // how many resources grant something
}

func (p envPolicy) of(k store.RoleKind) *policy.Document {
	if k == store.RoleAuth {
		return p.auth
	}
	return p.unauth
}

// envPolicyOf computes envPolicy from tx; see the comment at the top of
// this file for what each other resource contributes.
func (r *Runner) envPolicyOf(tx *store.Tx, res store.Resource, perms store.Permissions) (envPolicy, error) {
	all, err := tx.Resources(res.AppID, res.Env)
	if err != nil {
		return envPolicy{}, err
	}
	var p envPolicy
	var in []policy.EnvResource
	self := false
	for _, o := range all {
		p.legacy = append(p.legacy, policy.RolePolicyName(o.AppID, o.Env, o.Name))
		grant := perms
		if o.ResourceKey == res.ResourceKey {
			self = true
		} else {
			grant = r.shareOf(o)
		}
		in = append(in, envResource(o.Bucket, grant))
	}
	if !self {
		p.legacy = append(p.legacy, policy.RolePolicyName(res.AppID, res.Env, res.Name))
		in = append(in, envResource(res.Bucket, perms))
	}
	for _, e := range in {
		if len(e.Authenticated)+len(e.Unauthenticated) > 0 {
			p.resources++
		}
	}
	p.auth, p.unauth = policy.EnvDocuments(policy.EnvSidPrefix(res.AppID, res.Env), in)
	return p, nil
}

func envResource(bucket string, perms store.Permissions) policy.EnvResource {
	return policy.EnvResource{Bucket: bucket, Authenticated: toPolicy(perms.Authenticated), Unauthenticated: toPolicy(perms.Unauthenticated)}
}

// shareOf is what another resource contributes to its environment's
// documents now: what its job last wrote, or what the target held for it
// when it was last settled.
func (r *Runner) shareOf(o store.Resource) store.Permissions {
	if o.ActiveJob != "" {
		r.envMu.Lock()
		s, ok := r.shares[o.ResourceKey]
		r.envMu.Unlock()
		if ok && s.job == o.ActiveJob {
			return s.perms
		}
	}
	if o.Applied != nil {
		return *o.Applied
	}
	return store.Permissions{}
}

// setShare records that w's job is about to write perms for its resource.
// Entries of settled jobs are ignored by shareOf and replaced by the
// resource's next job; they are few (one per resource ever changed here).
func (r *Runner) setShare(w *work, perms store.Permissions) {
	r.envMu.Lock()
	if r.shares == nil {
		r.shares = map[store.ResourceKey]share{}
	}
	r.shares[w.res.ResourceKey] = share{job: w.job.ID, perms: perms}
	r.envMu.Unlock()
}

// writeEnvRolePolicy reconciles role (of kind) with the environment's
// document for perms on w's resource, under the environment's lock. It
// writes only on drift, and removes the per-resource policies earlier
// releases wrote for the environment's resources (ours by name and the
// store's record, on a role ensureOwnedRole accepts).
func (r *Runner) writeEnvRolePolicy(ctx context.Context, w *work, role string, kind store.RoleKind, perms store.Permissions) error {
	unlock, err := r.lockEnv(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	r.setShare(w, perms)
	var p envPolicy
	if err := r.store.View(ctx, func(tx *store.Tx) (err error) { p, err = r.envPolicyOf(tx, w.res, perms); return err }); err != nil {
		return err
	}
	k := w.res.ResourceKey
	name := policy.EnvRolePolicyName(k.AppID, k.Env)
	names, err := r.target.RolePolicyNames(ctx, role)
	if err != nil {
		return err
	}
	var stale []string
	for _, n := range names {
		if slices.Contains(p.legacy, n) {
			stale = append(stale, n)
		}
	}
	cur, err := r.target.RolePolicy(ctx, role, name)
	if err != nil {
		return err
	}
	doc := p.of(kind)
	var want []byte
	put := false
	if doc != nil {
		if want, err = json.Marshal(doc); err != nil {
			return err
		}
		switch {
		case cur != nil && policy.Equivalent(cur, want):
		case cur != nil && r.target.MayNarrowRolePolicies() && policy.EquivalentNarrowed(cur, want):
			// What this target keeps of want: writing it again changes nothing.
			w.warn(narrowedWarning, role)
		default:
			put = true
		}
	}
	if !put && len(stale) == 0 && (doc != nil || cur == nil) {
		return nil
	}
	var trust []byte
	if doc != nil {
		if trust, err = json.Marshal(policy.TrustPolicy(kind == store.RoleAuth, r.identityPool(k))); err != nil {
			return err
		}
	}
	if err := r.ensureOwnedRole(ctx, w, role, kind, trust); err != nil {
		return err
	}
	if doc == nil {
		if cur != nil {
			if err := r.target.DeleteRolePolicy(ctx, role, name); err != nil {
				return err
			}
		}
		return r.deleteRolePolicies(ctx, role, stale)
	}
	if put {
		// The old policies stay until the new one holds their grants,
		// unless both together would not fit in the role's quota.
		roomy, err := r.fitsBeside(ctx, role, name, len(want))
		if err != nil {
			return err
		}
		if !roomy {
			if err := r.deleteRolePolicies(ctx, role, stale); err != nil {
				return err
			}
			stale = nil
		}
		if err := r.putRolePolicyChecked(ctx, w, role, name, want); err != nil {
			return err
		}
	}
	return r.deleteRolePolicies(ctx, role, stale)
}

// fitsBeside says whether a policy of size chars named name fits on role
// beside every other inline policy it holds now.
func (r *Runner) fitsBeside(ctx context.Context, role, name string, size int) (bool, error) {
	total, err := r.otherPolicyChars(ctx, role, func(n string) bool { return n == name })
	return total+size <= MaxRolePolicyChars, err
}

// otherPolicyChars sums the inline policies of role that skip does not
// exclude.
func (r *Runner) otherPolicyChars(ctx context.Context, role string, skip func(string) bool) (int, error) {
	names, err := r.target.RolePolicyNames(ctx, role)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, n := range names {
		if skip(n) {
			continue
		}
		doc, err := r.target.RolePolicy(ctx, role, n)
		if err != nil {
			return 0, err
		}
		total += len(doc)
	}
	return total, nil
}

func (r *Runner) deleteRolePolicies(ctx context.Context, role string, names []string) error {
	for _, n := range names {
		if err := r.target.DeleteRolePolicy(ctx, role, n); err != nil {
			return fmt.Errorf("remove the per-resource policy %q of role %q: %w", n, role, err)
		}
	}
	return nil
}

// putRolePolicyChecked writes a role policy and reads it back: some
// targets store less than was written (Ceph RGW drops resources that use
// policy variables such as ${cognito-identity.amazonaws.com:sub}), and the
// job says so instead of failing silently.
func (r *Runner) putRolePolicyChecked(ctx context.Context, w *work, role, name string, want []byte) error {
	if err := r.target.PutRolePolicy(ctx, role, name, want); err != nil {
		return err
	}
	stored, err := r.target.RolePolicy(ctx, role, name)
	if err != nil {
		return err
	}
	if !policy.Equivalent(stored, want) {
		w.warn(narrowedWarning, role)
	}
	return nil
}
