package jobs

import (
	"context"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// ApplyCreate makes the target hold what a CreateBackendStorage job for res
// would provision, with the same reconcile steps and calls, but without a
// job: no store, no queue, no state writes. It exists so benchmarks can
// measure what the job machinery adds on top of the S3 and IAM calls.
func ApplyCreate(ctx context.Context, tg Target, cfg Config, res store.Resource) (warnings []string, err error) {
	cfg.defaults()
	r := &Runner{target: tg, cfg: cfg, log: cfg.Logger}
	// BucketRequested: no store to record the intent in; the caller owns
	// the bucket name.
	w := &work{job: store.Job{Operation: store.OpCreate, BucketRequested: true}, res: res}
	// No store to record roles in either: res's environment is taken to be
	// new, with nothing claimed.
	k := res.ResourceKey
	w.roles = &store.EnvRoles{AppID: k.AppID, Env: k.Env,
		Auth: RoleName(r.cfg.AuthRoleTemplate, k.AppID, k.Env), Unauth: RoleName(r.cfg.UnauthRoleTemplate, k.AppID, k.Env)}
	err = r.apply(ctx, w)
	return w.warnings, err
}
