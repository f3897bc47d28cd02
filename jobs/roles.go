package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/amplifybackendd/amplifybackendd/store"
)

var roleKinds = [...]store.RoleKind{store.RoleAuth, store.RoleUnauth}

// roleTemplates are the templates that name an environment's two roles.
type roleTemplates struct{ auth, unauth string }

func (t roleTemplates) of(k store.RoleKind) string {
	if k == store.RoleAuth {
		return t.auth
	}
	return t.unauth
}

func (r *Runner) templates() roleTemplates {
	return roleTemplates{auth: r.cfg.AuthRoleTemplate, unauth: r.cfg.UnauthRoleTemplate}
}

// roleOwnedError is the failure of a job whose environment may not write to
// a role because it belongs to another environment. It is terminal.
type roleOwnedError struct{ terminalError }

func (e *roleOwnedError) Unwrap() error { return &e.terminalError }

// roleOwned says that role, claimed by owner (how: by what), cannot also be
// want's.
func roleOwned(role string, owner, want store.RoleOwner, how string) error {
	return &roleOwnedError{terminalError{msg: fmt.Sprintf(
		"Role %q is %s%s, so it cannot also be %s: the users of each would hold the other's grants. Nothing was written to the role.",
		role, owner, how, want)}}
}

// envRoleNames returns the role names of an environment: the recorded
// ones, or the ones its first job will record, as far as tx shows.
func (r *Runner) envRoleNames(tx *store.Tx, appID, env string) (store.EnvRoles, error) {
	roles, _, err := planRoles(tx, r.templates(), appID, env)
	var owned *roleOwnedError
	if errors.As(err, &owned) {
		err = nil // the names it uses, though it may not write to them
	}
	return roles, err
}

// planRoles returns the recorded roles of an environment (recorded true),
// or those it would be given now. When one of those is claimed by another
// owner, it returns them with a *roleOwnedError.
func planRoles(tx *store.Tx, t roleTemplates, appID, env string) (roles store.EnvRoles, recorded bool, err error) {
	if roles, recorded, err = tx.EnvRoles(appID, env); err != nil || recorded {
		return roles, recorded, err
	}
	roles = store.EnvRoles{AppID: appID, Env: env}
	legacy := tx.IsLegacyEnv(appID, env)
	var shared error
	for _, kind := range roleKinds {
		var candidates []string
		if legacy {
			candidates = []string{LegacyRoleName(t.of(kind), appID, env)}
		} else {
			if name, ok := readableRoleName(t.of(kind), appID, env); ok {
				candidates = append(candidates, name)
			}
			candidates = append(candidates, hashedRoleName(t.of(kind), appID, env))
		}
		want := store.RoleOwner{AppID: appID, Env: env, Kind: kind}
		var name string
		for i, c := range candidates {
			owner, taken, err := claimant(tx, c, want, roles)
			if err != nil {
				return roles, false, err
			}
			// The last candidate is kept even when taken: it names the
			// role the environment would share.
			name = c
			if !taken {
				break
			}
			if i == len(candidates)-1 && shared == nil {
				how := ""
				if legacy {
					how = " (earlier releases named both environments' roles alike)"
				}
				shared = roleOwned(c, owner, want, how)
			}
		}
		if kind == store.RoleAuth {
			roles.Auth = name
		} else {
			roles.Unauth = name
		}
	}
	return roles, false, shared
}

// claimant reports who other than want claims name: the store's record,
// or the other role of planned (IAM names compare case-insensitively).
func claimant(tx *store.Tx, name string, want store.RoleOwner, planned store.EnvRoles) (store.RoleOwner, bool, error) {
	owner, ok, err := tx.RoleOwner(name)
	if err != nil || ok {
		return owner, ok && owner != want, err
	}
	for _, k := range roleKinds {
		if k != want.Kind && strings.EqualFold(planned.Name(k), name) {
			return store.RoleOwner{AppID: want.AppID, Env: want.Env, Kind: k}, true, nil
		}
	}
	return store.RoleOwner{}, false, nil
}

// roleNames returns the roles w's environment uses, recording them on the
// environment's first job. When a role it would use is claimed by another
// owner it returns the names with a *roleOwnedError and records nothing.
func (r *Runner) roleNames(ctx context.Context, w *work) (store.EnvRoles, error) {
	if w.roles != nil {
		return *w.roles, nil
	}
	k := w.res.ResourceKey
	var roles store.EnvRoles
	recorded := false
	err := r.store.View(ctx, func(tx *store.Tx) (err error) {
		roles, recorded, err = planRoles(tx, r.templates(), k.AppID, k.Env)
		return err
	})
	if err == nil && !recorded {
		roles, err = r.recordRoles(ctx, k.AppID, k.Env)
	}
	if err == nil {
		w.roles = &roles
	}
	return roles, err
}

// recordRoles plans and records an environment's roles in one transaction.
func (r *Runner) recordRoles(ctx context.Context, appID, env string) (store.EnvRoles, error) {
	var roles store.EnvRoles
	err := r.store.Batch(ctx, func(tx *store.Tx) error {
		var recorded bool
		var err error
		roles, recorded, err = planRoles(tx, r.templates(), appID, env)
		if err != nil || recorded {
			return err
		}
		return tx.RecordEnvRoles(roles)
	})
	return roles, err
}

// recordLegacyRoles records the roles of every environment provisioned
// before names were recorded, oldest first, so that where two of them came
// to share a role the one that created it keeps it. The others stay
// unrecorded, and their jobs fail naming both owners.
func (r *Runner) recordLegacyRoles(ctx context.Context) error {
	var envs []store.LegacyEnv
	if err := r.store.View(ctx, func(tx *store.Tx) (err error) { envs, err = tx.LegacyEnvs(); return err }); err != nil {
		return err
	}
	for _, e := range envs {
		roles, err := r.recordRoles(ctx, e.AppID, e.Env)
		var owned *roleOwnedError
		switch {
		case errors.As(err, &owned):
			r.log.Warn("an environment shares an IAM role with an older one; its jobs will fail until that is resolved",
				"app", e.AppID, "env", e.Env, "error", err)
		case err != nil:
			return fmt.Errorf("record the IAM roles of environment %q of app %q: %w", e.Env, e.AppID, err)
		default:
			r.log.Debug("recorded the IAM roles of an existing environment", "app", e.AppID, "env", e.Env, "auth", roles.Auth, "unauth", roles.Unauth)
		}
	}
	return nil
}

// roleOwnerTag is the OwnerTag value of a role this service creates: the
// environment (exactly, as a hash) and the kind.
func roleOwnerTag(appID, env string, kind store.RoleKind) string {
	return partsHash(appID, env)[:16] + "-" + string(kind)
}

// roleTags are the tags of a role created for kind of an environment. The
// readable values hold no spaces: Ceph RGW stores a space as '+'.
func roleTags(appID, env string, kind store.RoleKind) map[string]string {
	value := func(s string) string { return strings.ReplaceAll(tagValue(s), " ", "_") }
	return map[string]string{
		OwnerTag: roleOwnerTag(appID, env, kind),
		AppTag:   value(appID),
		EnvTag:   value(env),
		RoleTag:  string(kind),
	}
}

// ensureOwnedRole is called before writing to role for kind of w's
// environment. A missing role is created (when trust is given) with our
// tags; an existing one must not carry our owner tag for another
// environment or kind. Roles without it are ours by the store's record.
func (r *Runner) ensureOwnedRole(ctx context.Context, w *work, role string, kind store.RoleKind, trust []byte) error {
	k := w.res.ResourceKey
	tags, exists, err := r.target.RoleTags(ctx, role)
	if err != nil {
		return err
	}
	if !exists {
		if trust == nil {
			return nil
		}
		_, err := r.target.EnsureRole(ctx, role, trust, roleTags(k.AppID, k.Env, kind))
		return err
	}
	owner, want := tags[OwnerTag], roleOwnerTag(k.AppID, k.Env, kind)
	if owner == "" || owner == want {
		return nil
	}
	other := store.RoleOwner{AppID: tags[AppTag], Env: tags[EnvTag], Kind: store.RoleKind(tags[RoleTag])}
	return roleOwned(role, other, store.RoleOwner{AppID: k.AppID, Env: k.Env, Kind: kind}, fmt.Sprintf(" (by its tag %s=%s)", OwnerTag, owner))
}
