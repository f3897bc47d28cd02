package store

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RoleKind says which of an environment's two IAM roles a name is for.
type RoleKind string

// The two roles of an environment.
const (
	RoleAuth   RoleKind = "authenticated"
	RoleUnauth RoleKind = "unauthenticated"
)

// EnvRoles records the IAM roles an environment's storage resources write
// their policies to. It is decided once, on the environment's first job, and
// kept: changing the naming (or its templates) later never moves an
// environment whose users' identity pool already trusts these roles.
type EnvRoles struct {
	AppID string
	Env   string
	Auth  string
	// Unauth is the guests' role.
	Unauth string
}

// Name returns the role of kind k.
func (r EnvRoles) Name(k RoleKind) string {
	if k == RoleAuth {
		return r.Auth
	}
	return r.Unauth
}

// RoleOwner is the environment, and which of its roles, a role name is
// recorded for.
type RoleOwner struct {
	AppID string
	Env   string
	Kind  RoleKind
}

// String names the owner for messages meant for operators.
func (o RoleOwner) String() string {
	return fmt.Sprintf("the %s role of environment %q of app %q", o.Kind, o.Env, o.AppID)
}

// LegacyEnv is an environment that had storage resources before role names
// were recorded: its roles carry the names of the naming of that time, which
// its users' identity pool may trust, so it keeps them.
type LegacyEnv struct {
	AppID string
	Env   string
	// Since is its oldest resource's creation: the oldest environment is
	// the one that created a role two environments came to share.
	Since time.Time
}

// EnvRoles returns the role names recorded for an environment; ok is false
// when none are recorded yet.
func (t *Tx) EnvRoles(appID, env string) (r EnvRoles, ok bool, err error) {
	v := t.kv.Bucket(bucketEnvRoles).Get(envKey(appID, env))
	if v == nil {
		return EnvRoles{}, false, nil
	}
	d, f := sealed(v)
	d.format(f)
	r = EnvRoles{AppID: appID, Env: env, Auth: d.str(), Unauth: d.str()}
	if d.err != nil {
		return EnvRoles{}, false, fmt.Errorf("roles of environment %q of app %q: %w", env, appID, d.err)
	}
	return r, true, nil
}

// RoleOwner returns who the role name is recorded for. IAM role names are
// case-insensitive, so names that differ only in case are one role.
func (t *Tx) RoleOwner(name string) (o RoleOwner, ok bool, err error) {
	v := t.kv.Bucket(bucketRoleOwners).Get(roleOwnerKey(name))
	if v == nil {
		return RoleOwner{}, false, nil
	}
	d, f := sealed(v)
	d.format(f)
	o = RoleOwner{AppID: d.str(), Env: d.str(), Kind: RoleKind(d.str())}
	if d.err != nil {
		return RoleOwner{}, false, fmt.Errorf("owner of role %q: %w", name, d.err)
	}
	return o, true, nil
}

// RecordEnvRoles records the environment's role names and claims each for
// it. It fails with ErrConflict, naming both owners, when a name (compared
// case-insensitively) is recorded for another environment or for the
// environment's other role, and with ErrAlreadyExists when the environment
// already has other names: an environment's roles never move.
func (t *Tx) RecordEnvRoles(r EnvRoles) error {
	if err := checkNames(r.AppID, r.Env); err != nil {
		return err
	}
	if r.Auth == "" || r.Unauth == "" {
		return classed(ErrInvalid, "an environment needs both role names")
	}
	if cur, ok, err := t.EnvRoles(r.AppID, r.Env); err != nil {
		return err
	} else if ok {
		if cur == r {
			return nil
		}
		return classed(ErrAlreadyExists, "environment %q of app %q already uses roles %q and %q", r.Env, r.AppID, cur.Auth, cur.Unauth)
	}
	if strings.EqualFold(r.Auth, r.Unauth) {
		return classed(ErrConflict, "environment %q of app %q cannot use role %q for both its authenticated and unauthenticated users", r.Env, r.AppID, r.Auth)
	}
	for _, k := range []RoleKind{RoleAuth, RoleUnauth} {
		name := r.Name(k)
		want := RoleOwner{AppID: r.AppID, Env: r.Env, Kind: k}
		owner, ok, err := t.RoleOwner(name)
		if err != nil {
			return err
		}
		if ok && owner != want {
			return classed(ErrConflict, "role %q is %s; it cannot also be %s", name, owner, want)
		}
		e := encoder{b: []byte{recordFormat}}
		e.str(want.AppID)
		e.str(want.Env)
		e.str(string(want.Kind))
		if err := t.kv.Bucket(bucketRoleOwners).Put(roleOwnerKey(name), seal(e.b)); err != nil {
			return err
		}
	}
	e := encoder{b: []byte{recordFormat}}
	e.str(r.Auth)
	e.str(r.Unauth)
	if err := t.kv.Bucket(bucketEnvRoles).Put(envKey(r.AppID, r.Env), seal(e.b)); err != nil {
		return err
	}
	return t.kv.Bucket(bucketLegacyEnvs).Delete(envKey(r.AppID, r.Env))
}

// IsLegacyEnv reports whether the environment had storage resources before
// role names were recorded and has not had its names recorded since.
func (t *Tx) IsLegacyEnv(appID, env string) bool {
	return t.kv.Bucket(bucketLegacyEnvs).Get(envKey(appID, env)) != nil
}

// LegacyEnvs lists the environments whose role names are still to be
// recorded from the naming of before, oldest first (then by name), the
// order in which they claim names they share.
func (t *Tx) LegacyEnvs() ([]LegacyEnv, error) {
	var out []LegacyEnv
	err := t.kv.Bucket(bucketLegacyEnvs).ForEach(func(k, v []byte) error {
		app, env, ok := bytes.Cut(k, []byte{0})
		d, f := sealed(v)
		d.format(f)
		since := d.time()
		if !ok || d.err != nil {
			return fmt.Errorf("malformed legacy environment entry %q", k)
		}
		out = append(out, LegacyEnv{AppID: string(app), Env: string(env), Since: since})
		return nil
	})
	slices.SortFunc(out, func(a, b LegacyEnv) int {
		return cmp.Or(a.Since.Compare(b.Since), strings.Compare(a.AppID, b.AppID), strings.Compare(a.Env, b.Env))
	})
	return out, err
}

// envKey is app \x00 env; names never hold NUL.
func envKey(appID, env string) []byte { return []byte(appID + "\x00" + env) }

// roleOwnerKey folds case as IAM does for role names (which are ASCII).
func roleOwnerKey(name string) []byte { return []byte(strings.ToLower(name)) }

// markLegacyEnvs is migration 3: every environment that has a resource gets
// a legacy entry holding its oldest resource's creation time.
func markLegacyEnvs(tx kvTx) error {
	for _, b := range [][]byte{bucketEnvRoles, bucketRoleOwners, bucketLegacyEnvs} {
		if _, err := tx.CreateBucket(b); err != nil {
			return err
		}
	}
	oldest := map[string]time.Time{}
	err := tx.Bucket(bucketResources).ForEach(func(k, v []byte) error {
		r, err := decodeResource(v)
		if err != nil {
			return fmt.Errorf("resource %q: %w", k, err)
		}
		key := string(envKey(r.AppID, r.Env))
		if t, ok := oldest[key]; !ok || r.CreateTime.Before(t) {
			oldest[key] = r.CreateTime
		}
		return nil
	})
	if err != nil {
		return err
	}
	legacy := tx.Bucket(bucketLegacyEnvs)
	for k, t := range oldest {
		e := encoder{b: []byte{recordFormat}}
		e.time(t)
		if err := legacy.Put([]byte(k), seal(e.b)); err != nil {
			return err
		}
	}
	return nil
}
