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
// store's record, on a role ensureOwnedRole accepts). A document that would
// not fit on the role fails the job here, where no other job of the
// environment can change the role meanwhile (checkSizes only saw it
// earlier), and is recorded nowhere, so no other job writes it either.
func (r *Runner) writeEnvRolePolicy(ctx context.Context, w *work, role string, kind store.RoleKind, perms store.Permissions) error {
	unlock, err := r.lockEnv(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	var p envPolicy
	if err := r.store.View(ctx, func(tx *store.Tx) (err error) { p, err = r.envPolicyOf(tx, w.res, perms); return err }); err != nil {
		return err
	}
	k := w.res.ResourceKey
	name := policy.EnvRolePolicyName(k.AppID, k.Env)
	sizes, err := r.rolePolicySizes(ctx, role)
	if err != nil {
		return err
	}
	var stale []string
	staleChars := 0
	for n, size := range sizes {
		if slices.Contains(p.legacy, n) {
			stale = append(stale, n)
			staleChars += size
		}
	}
	slices.Sort(stale)
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
	others := othersChars(sizes, name, p.legacy)
	if put && others+len(want) > MaxRolePolicyChars {
		return roleTooFull(role, others+len(want), len(want), p.resources, k)
	}
	if put || len(stale) > 0 || (doc == nil && cur != nil) {
		if err := r.rewriteEnvRolePolicy(ctx, w, role, kind, name, want, cur != nil, stale, others+staleChars+len(want) <= MaxRolePolicyChars); err != nil {
			return err
		}
	}
	r.setShare(w, perms)
	return nil
}

// rewriteEnvRolePolicy writes want as role's policy name (or removes it
// when want is nil and had says it is there) and removes stale. The old
// policies stay until the new one holds their grants, unless both together
// would not fit on the role (roomy false).
func (r *Runner) rewriteEnvRolePolicy(ctx context.Context, w *work, role string, kind store.RoleKind, name string, want []byte, had bool, stale []string, roomy bool) error {
	k := w.res.ResourceKey
	var trust []byte
	if want != nil {
		var err error
		if trust, err = json.Marshal(policy.TrustPolicy(kind == store.RoleAuth, r.identityPool(k))); err != nil {
			return err
		}
	}
	if err := r.ensureOwnedRole(ctx, w, role, kind, trust); err != nil {
		return err
	}
	if want == nil {
		if had {
			if err := r.target.DeleteRolePolicy(ctx, role, name); err != nil {
				return err
			}
		}
		return r.deleteRolePolicies(ctx, role, stale)
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
	return r.deleteRolePolicies(ctx, role, stale)
}

// roleTooFull is the failure of a change whose environment document would
// not fit on role beside its other inline policies.
func roleTooFull(role string, total, ours, resources int, k store.ResourceKey) error {
	return terminal("Role %q would hold %d characters of inline policies (%d of them for the %d storage resources of environment %q of app %q), over the %d IAM allows per role; remove storage resources from the environment or narrow their permissions.",
		role, total, ours, resources, k.Env, k.AppID, MaxRolePolicyChars)
}

// othersChars sums the policies of sizes that the environment's document
// (named ours) does not replace: all but it and the per-resource policies
// of earlier releases (legacy).
func othersChars(sizes map[string]int, ours string, legacy []string) int {
	total := 0
	for n, size := range sizes {
		if n != ours && !slices.Contains(legacy, n) {
			total += size
		}
	}
	return total
}

// rolePolicySizes reads the size of every inline policy of role.
func (r *Runner) rolePolicySizes(ctx context.Context, role string) (map[string]int, error) {
	names, err := r.target.RolePolicyNames(ctx, role)
	if err != nil {
		return nil, err
	}
	sizes := make(map[string]int, len(names))
	for _, n := range names {
		doc, err := r.target.RolePolicy(ctx, role, n)
		if err != nil {
			return nil, err
		}
		sizes[n] = len(doc)
	}
	return sizes, nil
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
