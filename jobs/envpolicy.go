package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// An environment's storage grants live in one inline policy per role,
// policy.EnvRolePolicyName, merged over all its resources
// (policy.EnvDocuments). Every job that changes a resource's grants
// rewrites that shared document, so two jobs on resources of the same
// environment must not interleave read-compute-write, or the later write
// drops the earlier job's statements. Jobs hold the environment's lock
// (lockEnv) from reading the store to writing the document; the lock is
// the store's, so on a store shared by replicas it excludes the jobs of
// every replica.
//
// While a job holds a resource, its record's Applied says what the target
// held before the job and Desired what the job aims for; neither says what
// the shared document holds now. shares records, per job-held resource,
// what its job last wrote into the document, so another job of the
// environment writes the same for it; the lock holder records it with the
// lock in the store (store.EnvLock), where the next holder, on any replica,
// reads it. A resource whose job wrote nothing yet contributes its Applied
// permissions: its own job adds the rest when it gets there (a resumed job
// runs its steps again).

// share is what the job named job last wrote into its environment's role
// documents for its resource.
type share struct {
	job   string
	perms store.Permissions
}

// lockEnv waits for the lock of w's environment's shared role documents
// (store.LockEnv: across every replica sharing the store), or for ctx to
// end, and takes in the shares recorded with it, which other replicas'
// jobs wrote. A runner without a store (ApplyCreate) has no other job to
// exclude: it gets no lock (nil).
func (r *Runner) lockEnv(ctx context.Context, w *work) (*store.EnvLock, error) {
	if r.store == nil {
		return nil, nil
	}
	k := w.res.ResourceKey
	l, err := r.store.LockEnv(ctx, k.AppID, k.Env)
	if err != nil {
		return nil, fmt.Errorf("lock the role documents of environment %q: %w", k.Env, err)
	}
	r.envMu.Lock()
	if r.shares == nil {
		r.shares = map[store.ResourceKey]share{}
	}
	for name, sh := range l.Shares() {
		r.shares[store.ResourceKey{AppID: k.AppID, Env: k.Env, Name: name}] = share{job: sh.Job, perms: sh.Perms}
	}
	r.envMu.Unlock()
	return l, nil
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

// envPolicyNow computes envPolicy from the store. A runner without one
// (ApplyCreate) takes res to be its environment's only resource.
func (r *Runner) envPolicyNow(ctx context.Context, res store.Resource, perms store.Permissions) (p envPolicy, err error) {
	if r.store == nil {
		return r.envPolicyOf(nil, res, perms)
	}
	err = r.store.View(ctx, func(tx *store.Tx) error { p, err = r.envPolicyOf(tx, res, perms); return err })
	return p, err
}

// envPolicyOf computes envPolicy from tx (nil: no other resources); see
// the comment at the top of this file for what each other resource
// contributes.
func (r *Runner) envPolicyOf(tx *store.Tx, res store.Resource, perms store.Permissions) (envPolicy, error) {
	var all []store.Resource
	if tx != nil {
		var err error
		if all, err = tx.Resources(res.AppID, res.Env); err != nil {
			return envPolicy{}, err
		}
	}
	var p envPolicy
	var in []policy.EnvResource
	self := false
	for _, o := range all {
		p.legacy = append(p.legacy, policy.RolePolicyName(o.AppID, o.Env, o.Name))
		if res.Name == "" {
			// The environment itself, as removeEnvRoles takes it away once
			// its resources are removed (a clone's rollback keeps their
			// records until the job settles): it grants nothing.
			continue
		}
		grant := perms
		if o.ResourceKey == res.ResourceKey {
			self = true
		} else {
			grant = r.shareOf(o)
		}
		in = append(in, envResource(o.Bucket, grant))
	}
	if !self && res.Name != "" {
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

// setShare records that w's job wrote perms for its resource, here and,
// under lock, in the store for the other replicas. Entries of settled jobs
// are ignored by shareOf and replaced by the resource's next job; they are
// few (one per resource ever changed).
func (r *Runner) setShare(ctx context.Context, lock *store.EnvLock, w *work, perms store.Permissions) error {
	r.envMu.Lock()
	if r.shares == nil {
		r.shares = map[store.ResourceKey]share{}
	}
	r.shares[w.res.ResourceKey] = share{job: w.job.ID, perms: perms}
	r.envMu.Unlock()
	if lock == nil {
		return nil
	}
	return lock.SetShare(ctx, w.res.Name, store.Share{Job: w.job.ID, Perms: perms})
}

// Customer managed policies take what an environment's grants do not fit
// in the role's inline policy: IAM allows 10 attached per role by default,
// of 6,144 characters each (white space not counted; we write none).
const (
	MaxManagedPolicyChars     = 6144
	MaxManagedPoliciesPerRole = 10
)

// roleLayout is how one role holds its environment's document: what of it
// goes in the inline policy and what in each managed policy, next to what
// the role holds now.
type roleLayout struct {
	sizes      map[string]int // the role's inline policies now, by name
	stale      []string       // the environment's per-resource policies of earlier releases
	staleChars int
	others     int // characters of the inline policies that are not ours
	inline     *policy.Document
	managed    []*policy.Document     // managed[i] is EnvManagedPolicyName(..., i+1); nil: none wanted
	attached   []s3iam.AttachedPolicy // ours attached now
	hasManaged bool                   // the target has managed policies
	chars      int                    // of the whole document
}

// layoutRole reads role and packs the environment's document for kind
// over what the role can take beside policies that are not ours: the
// inline policy first, then managed policies where the target has them.
// A document that does not fit is roleTooFull.
func (r *Runner) layoutRole(ctx context.Context, w *work, role string, kind store.RoleKind, p envPolicy) (roleLayout, error) {
	k := w.res.ResourceKey
	name := policy.EnvRolePolicyName(k.AppID, k.Env)
	var l roleLayout
	var err error
	if l.sizes, err = r.rolePolicySizes(ctx, role); err != nil {
		return l, err
	}
	for n, size := range l.sizes {
		if slices.Contains(p.legacy, n) {
			l.stale = append(l.stale, n)
			l.staleChars += size
		}
	}
	slices.Sort(l.stale)
	l.others = othersChars(l.sizes, name, p.legacy)
	ours, foreign, managed, err := r.attachedPolicies(ctx, k.AppID, k.Env, role, kind)
	if err != nil {
		return l, err
	}
	l.attached, l.hasManaged = ours, managed
	limits := []int{MaxRolePolicyChars - l.others}
	if managed {
		for range MaxManagedPoliciesPerRole - len(foreign) {
			limits = append(limits, MaxManagedPolicyChars)
		}
	}
	doc := p.of(kind)
	if doc != nil {
		b, err := json.Marshal(doc)
		if err != nil {
			return l, err
		}
		l.chars = len(b)
	}
	docs, ok := policy.Pack(doc, limits)
	if !ok {
		return l, roleTooFull(role, l.chars, p.resources, l.others, len(foreign), managed, k)
	}
	l.inline, l.managed = docs[0], docs[1:]
	return l, nil
}

// writeEnvRolePolicy reconciles role (of kind) with the environment's
// document for perms on w's resource, under the environment's lock: the
// inline policy and the managed policies layoutRole gives it. It writes
// only on drift, and removes the per-resource policies earlier releases
// wrote for the environment's resources (ours by name and the store's
// record) and managed policies of ours no longer needed, on a role
// ensureOwnedRole accepts. A document that would not fit fails the job
// here, where no other job of the environment can change the role
// meanwhile (checkSizes only saw it earlier), and is recorded nowhere, so
// no other job writes it either.
func (r *Runner) writeEnvRolePolicy(ctx context.Context, w *work, role string, kind store.RoleKind, perms store.Permissions) error {
	lock, err := r.lockEnv(ctx, w)
	if err != nil {
		return err
	}
	if lock != nil {
		defer lock.Unlock()
	}
	p, err := r.envPolicyNow(ctx, w.res, perms)
	if err != nil {
		return err
	}
	l, err := r.layoutRole(ctx, w, role, kind, p)
	if err != nil {
		return err
	}
	k := w.res.ResourceKey
	var trust []byte
	if p.of(kind) != nil {
		if trust, err = json.Marshal(policy.TrustPolicy(kind == store.RoleAuth, r.identityPool(k))); err != nil {
			return err
		}
	}
	owned := false
	own := func() error { // once, before the first write
		if owned {
			return nil
		}
		owned = true
		return r.ensureOwnedRole(ctx, w, role, kind, trust)
	}
	if err := r.writeInline(ctx, w, role, l, own); err != nil {
		return err
	}
	if err := r.writeManaged(ctx, w, role, kind, l, own); err != nil {
		return err
	}
	if len(l.stale) > 0 {
		if err := own(); err != nil {
			return err
		}
		if err := r.deleteRolePolicies(ctx, role, l.stale); err != nil {
			return err
		}
	}
	return r.setShare(ctx, lock, w, perms)
}

// writeInline reconciles the environment's inline policy on role with
// l.inline. The per-resource policies of earlier releases stay until it
// holds their grants, unless both together would not fit on the role.
func (r *Runner) writeInline(ctx context.Context, w *work, role string, l roleLayout, own func() error) error {
	k := w.res.ResourceKey
	name := policy.EnvRolePolicyName(k.AppID, k.Env)
	cur, err := r.target.RolePolicy(ctx, role, name)
	if err != nil {
		return err
	}
	if l.inline == nil {
		if cur == nil {
			return nil
		}
		if err := own(); err != nil {
			return err
		}
		return r.target.DeleteRolePolicy(ctx, role, name)
	}
	want, err := json.Marshal(l.inline)
	if err != nil {
		return err
	}
	switch {
	case cur != nil && policy.Equivalent(cur, want):
		return nil
	case cur != nil && r.target.MayNarrowRolePolicies() && policy.EquivalentNarrowed(cur, want):
		// What this target keeps of want: writing it again changes nothing.
		w.warn(narrowedWarning, role)
		return nil
	}
	if err := own(); err != nil {
		return err
	}
	if l.others+l.staleChars+len(want) > MaxRolePolicyChars {
		if err := r.deleteRolePolicies(ctx, role, l.stale); err != nil {
			return err
		}
	}
	return r.putRolePolicyChecked(ctx, w, role, name, want)
}

// writeManaged reconciles the environment's managed policies on role with
// l.managed: each wanted one written (on drift) and attached, then every
// other of ours detached and deleted, attached or not: a policy created by
// a job that stopped before attaching it, or left by one that stopped
// between detaching and deleting it, is found by its name.
//
// Looking for unattached ones by name costs a call per number, and most
// roles never hold a managed policy, so only the numbers up to the role's
// mark in the store (store.Tx.ManagedMark) are looked for. The mark is
// raised before a policy above it can be created and lowered only after
// the sweep removed everything above what the role needs: a job stopped
// anywhere in between leaves the mark covering what it may have left, and
// the next job's sweep finds it. Listing the account's policies instead
// would cost a call (pages, on a busy account) on every write, and the
// role's tags would need a read the write path does not make otherwise.
func (r *Runner) writeManaged(ctx context.Context, w *work, role string, kind store.RoleKind, l roleLayout, own func() error) error {
	k := w.res.ResourceKey
	mark, err := r.managedMark(ctx, k, kind)
	if err != nil {
		return err
	}
	if !l.hasManaged {
		// A target without managed policies holds none; the mark
		// migration 7 gave its environments goes.
		if mark > 0 {
			return r.setManagedMark(ctx, k, kind, 0)
		}
		return nil
	}
	need := 0 // the highest number wanted
	for i, doc := range l.managed {
		if doc != nil {
			need = i + 1
		}
	}
	if need > mark {
		if err := r.setManagedMark(ctx, k, kind, need); err != nil {
			return err
		}
		mark = need
	}
	arns := managedARNs{r: r, role: role, attached: l.attached}
	wanted := map[string]bool{}
	for i, doc := range l.managed {
		if doc == nil {
			continue
		}
		name := policy.EnvManagedPolicyName(k.AppID, k.Env, string(kind), i+1)
		wanted[name] = true
		want, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		arn, attached, err := arns.of(ctx, name)
		if err != nil {
			return err
		}
		cur, err := r.target.ManagedPolicy(ctx, arn)
		if err != nil {
			return err
		}
		if cur == nil || !policy.Equivalent(cur, want) {
			if err := own(); err != nil {
				return err
			}
			if err := r.target.PutManagedPolicy(ctx, arn, name, want); err != nil {
				return err
			}
		}
		if !attached {
			if err := own(); err != nil {
				return err
			}
			if err := r.target.AttachRolePolicy(ctx, role, arn); err != nil {
				return err
			}
		}
	}
	var names []string
	for _, a := range l.attached {
		names = append(names, a.Name)
	}
	for n := 1; n <= mark; n++ {
		if name := policy.EnvManagedPolicyName(k.AppID, k.Env, string(kind), n); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		if wanted[name] {
			continue
		}
		arn, attached, err := arns.of(ctx, name)
		if errors.Is(err, s3iam.ErrNoSuchRole) {
			break // nothing was ever attached, so nothing of ours can be left
		}
		if err != nil {
			return err
		}
		if !attached {
			cur, err := r.target.ManagedPolicy(ctx, arn)
			if err != nil {
				return err
			}
			if cur == nil {
				continue
			}
		}
		if err := own(); err != nil {
			return err
		}
		if err := r.target.DeleteManagedPolicy(ctx, role, arn); err != nil {
			return err
		}
	}
	if mark > need {
		return r.setManagedMark(ctx, k, kind, need)
	}
	return nil
}

// managedMark reads the mark of the role of kind of k's environment. A
// runner without a store (ApplyCreate) takes the environment to be new, as
// a job's store shows a new one: no managed policy was ever written for
// it, so there is none to look for.
func (r *Runner) managedMark(ctx context.Context, k store.ResourceKey, kind store.RoleKind) (int, error) {
	if r.store == nil {
		return 0, nil
	}
	var n int
	err := r.store.View(ctx, func(tx *store.Tx) (err error) { n, err = tx.ManagedMark(k.AppID, k.Env, kind); return err })
	if err != nil {
		return 0, fmt.Errorf("read which managed policies the %s role of environment %q may hold: %w", kind, k.Env, err)
	}
	return n, nil
}

// setManagedMark records the mark, fenced like the job's state: a job
// that lost its claim must not lower a mark another job raised.
func (r *Runner) setManagedMark(ctx context.Context, k store.ResourceKey, kind store.RoleKind, n int) error {
	if r.store == nil {
		return nil
	}
	err := r.writeState(ctx, func(tx *store.Tx) error { return tx.SetManagedMark(k.AppID, k.Env, kind, n) })
	if err != nil {
		return fmt.Errorf("record which managed policies the %s role of environment %q may hold: %w", kind, k.Env, err)
	}
	return nil
}

// managedARNs names the ARNs of our managed policies for one role: those
// attached as listed, the others under ManagedPolicyPath in the role's
// account, read from the role once.
type managedARNs struct {
	r        *Runner
	role     string
	attached []s3iam.AttachedPolicy
	base     string
}

func (m *managedARNs) of(ctx context.Context, name string) (arn string, attached bool, err error) {
	if i := slices.IndexFunc(m.attached, func(a s3iam.AttachedPolicy) bool { return a.Name == name }); i >= 0 {
		return m.attached[i].ARN, true, nil
	}
	if m.base == "" {
		if m.base, err = m.r.target.ManagedPolicyARN(ctx, m.role, ""); err != nil {
			return "", false, err
		}
	}
	return m.base + name, false, nil
}

// attachedPolicies lists the managed policies attached to role: ours (the
// environment's for kind, by name and path) and the others. managed is
// false on a target without managed policies (Ceph RGW 16), which then
// holds none.
func (r *Runner) attachedPolicies(ctx context.Context, appID, env, role string, kind store.RoleKind) (ours, others []s3iam.AttachedPolicy, managed bool, err error) {
	attached, err := r.target.AttachedRolePolicies(ctx, role)
	if err != nil {
		if s3iam.Classify(err) == s3iam.NotImplemented {
			return nil, nil, false, nil
		}
		return nil, nil, false, err
	}
	prefix := policy.EnvManagedPolicyName(appID, env, string(kind), 0)
	prefix = prefix[:len(prefix)-1]
	for _, a := range attached {
		if strings.HasPrefix(a.Name, prefix) && strings.Contains(a.ARN, s3iam.ManagedPolicyPath) {
			ours = append(ours, a)
		} else {
			others = append(others, a)
		}
	}
	return ours, others, true, nil
}

// roleTooFull is the failure of a change whose environment document
// (chars long, for resources resources) would not fit on role beside its
// other policies: the inline ones not ours (others characters) and the
// managed ones attached by others (foreign), where the target has managed
// policies at all.
func roleTooFull(role string, chars, resources, others, foreign int, managed bool, k store.ResourceKey) error {
	room := fmt.Sprintf("the %d characters of inline policies IAM allows per role (%d of them taken by other policies)", MaxRolePolicyChars, others)
	if managed {
		room += fmt.Sprintf(" and %d managed policies of %d characters (%d of the %d per role attached by others)",
			MaxManagedPoliciesPerRole-foreign, MaxManagedPolicyChars, foreign, MaxManagedPoliciesPerRole)
	} else {
		room += "; the target has no managed policies to hold more"
	}
	return terminal("Role %q cannot hold the %d characters of grants of the %d storage resources of environment %q of app %q within %s; remove storage resources from the environment or narrow their permissions.",
		role, chars, resources, k.Env, k.AppID, room)
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
