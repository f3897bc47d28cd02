package jobs

import (
	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// Planned is what the jobs write for one storage resource: the inline
// policy on each of its environment's roles and our statements in its
// bucket policy. The steps write it and the console shows it, from this one
// computation.
type Planned struct {
	// Roles are the environment's role names.
	Roles store.EnvRoles
	// PolicyName is the name of the environment's one inline policy on
	// each role, which holds the grants of all its resources.
	PolicyName string
	// SidPrefix starts the Sid of each of our bucket policy statements.
	SidPrefix string
	// Documents are the translated policies. AuthRole and UnauthRole are the
	// environment's documents (every resource's grants merged, this one's
	// desired); nil when the role is granted nothing, and also when the
	// target has no IAM API (nothing is written to roles there). Bucket is
	// this resource's statements.
	Documents policy.Documents
	// MayBeNarrowed is set when the target may store a role policy without
	// the per-identity resources (Target.MayNarrowRolePolicies).
	MayBeNarrowed bool
}

// Plan returns what the jobs write for res's desired permissions, with the
// environment's role names as tx shows them.
func (r *Runner) Plan(tx *store.Tx, res store.Resource) (Planned, error) {
	k := res.ResourceKey
	roles, err := r.envRoleNames(tx, k.AppID, k.Env)
	if err != nil {
		return Planned{}, err
	}
	env, err := r.envPolicyOf(tx, res, res.Desired)
	if err != nil {
		return Planned{}, err
	}
	p := Planned{
		Roles:         roles,
		PolicyName:    policy.EnvRolePolicyName(k.AppID, k.Env),
		SidPrefix:     policy.SidPrefix(k.AppID, k.Env, k.Name),
		Documents:     r.translate(res, res.Desired),
		MayBeNarrowed: r.target.MayNarrowRolePolicies(),
	}
	p.Documents.AuthRole, p.Documents.UnauthRole = env.auth, env.unauth
	if !r.target.HasIAM() {
		p.Documents.AuthRole, p.Documents.UnauthRole = nil, nil
	}
	return p, nil
}

// translate is the policy translation of perms on res's bucket, with this
// runner's guest access setting.
func (r *Runner) translate(res store.Resource, perms store.Permissions) policy.Documents {
	k := res.ResourceKey
	return policy.Translate(policy.Input{
		Bucket:            res.Bucket,
		SidPrefix:         policy.SidPrefix(k.AppID, k.Env, k.Name),
		Authenticated:     toPolicy(perms.Authenticated),
		Unauthenticated:   toPolicy(perms.Unauthenticated),
		PublicGuestAccess: r.cfg.PublicGuestAccess,
	})
}

func toPolicy(in []string) []policy.Permission {
	out := make([]policy.Permission, len(in))
	for i, p := range in {
		out[i] = policy.Permission(p)
	}
	return out
}
