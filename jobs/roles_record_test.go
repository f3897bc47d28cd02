package jobs

import (
	"maps"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/store"
)

func (f *fixture) envRoles(appID, env string) store.EnvRoles {
	f.t.Helper()
	var roles store.EnvRoles
	if err := f.store.View(f.ctx, func(tx *store.Tx) (err error) {
		roles, err = f.runner.envRoleNames(tx, appID, env)
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return roles
}

// TestRolesAreRecordedAndTagged: an environment's first job records its
// roles (readable names when unambiguous) and creates them with tags naming
// the environment and kind.
func TestRolesAreRecordedAndTagged(t *testing.T) {
	f := setup(t)
	f.start()
	k := store.ResourceKey{AppID: f.short("g"), Env: "dev", Name: "photos"}
	j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: f.bucket("a"), Permissions: storageREAD})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.wait(j.ID); got.Status != store.StatusCompleted {
		t.Fatalf("create: %+v", got)
	}
	want := store.EnvRoles{AppID: k.AppID, Env: "dev", Auth: "amplify-" + k.AppID + "-dev-authRole", Unauth: "amplify-" + k.AppID + "-dev-unauthRole"}
	f.store.View(f.ctx, func(tx *store.Tx) error {
		if got, ok, err := tx.EnvRoles(k.AppID, k.Env); !ok || err != nil || got != want {
			t.Fatalf("recorded roles %+v %v %v, want %+v", got, ok, err, want)
		}
		return nil
	})
	for _, kind := range roleKinds {
		tags, exists, err := gateway.RoleTags(f.ctx, want.Name(kind))
		wantTags := map[string]string{OwnerTag: roleOwnerTag(k.AppID, k.Env, kind), AppTag: k.AppID, EnvTag: "dev", RoleTag: string(kind)}
		if err != nil || !exists || !maps.Equal(tags, wantTags) {
			t.Errorf("tags of %q: %v %v %v, want %v", want.Name(kind), tags, exists, err, wantTags)
		}
	}
}

// TestNamesClaimedElsewhereAreAvoidedOrRefused: a new environment whose
// readable name IAM folds onto a claimed role takes the hashed form; when
// that is claimed too, its job fails naming both owners, unless the target
// has no IAM API, where nothing is written to roles anyway.
func TestNamesClaimedElsewhereAreAvoidedOrRefused(t *testing.T) {
	f := setup(t)
	p := f.short("h")
	upper := strings.ToUpper(p)
	// An environment recorded earlier with the readable name of p/dev in
	// other case (as earlier releases named it).
	if err := f.store.Update(f.ctx, func(tx *store.Tx) error {
		return tx.RecordEnvRoles(store.EnvRoles{AppID: upper, Env: "dev",
			Auth: LegacyRoleName(DefaultAuthRoleTemplate, upper, "dev"), Unauth: LegacyRoleName(DefaultUnauthRoleTemplate, upper, "dev")})
	}); err != nil {
		t.Fatal(err)
	}
	got := f.envRoles(p, "dev")
	if want := hashedRoleName(DefaultAuthRoleTemplate, p, "dev"); got.Auth != want || strings.EqualFold(got.Auth, "amplify-"+p+"-dev-authRole") {
		t.Fatalf("planned %+v, want the hashed %q", got, want)
	}

	// q/dev: both its candidates are some other environment's.
	q := f.short("q")
	other := store.EnvRoles{AppID: "someone", Env: "else",
		Auth: RoleName(DefaultAuthRoleTemplate, q, "dev"), Unauth: hashedRoleName(DefaultAuthRoleTemplate, q, "dev")}
	if err := f.store.Update(f.ctx, func(tx *store.Tx) error { return tx.RecordEnvRoles(other) }); err != nil {
		t.Fatal(err)
	}
	f.start()
	k := store.ResourceKey{AppID: q, Env: "dev", Name: "photos"}
	j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: f.bucket("q"), Permissions: storageREAD})
	if err != nil {
		t.Fatal(err)
	}
	job := f.wait(j.ID)
	if job.Status != store.StatusFailed || !strings.Contains(job.Error, other.Unauth) ||
		!strings.Contains(job.Error, `unauthenticated role of environment "else" of app "someone"`) ||
		!strings.Contains(job.Error, `authenticated role of environment "dev" of app "`+q+`"`) || strings.Contains(job.Error, "Cleanup") {
		t.Fatalf("create with every candidate name claimed: %+v", job)
	}
	if names := f.policiesOn(other.Unauth); len(names) != 0 {
		t.Fatalf("wrote to a claimed role: %v", names)
	}

	noIAM := New(f.store, noIAMTarget{f.target}, f.runner.cfg)
	w := &work{job: store.Job{ID: "noiam", Operation: store.OpUpdate}, res: store.Resource{ResourceKey: k, Bucket: f.bucket("q"), Desired: storageREAD}}
	if err := noIAM.applyRolePolicies(f.ctx, w, storageREAD); err != nil || len(w.warnings) != 2 || !strings.Contains(w.warnings[0], other.Unauth) {
		t.Fatalf("without IAM: %v %q", err, w.warnings)
	}
}

// noIAMTarget is a target without an IAM API, as MinIO is.
type noIAMTarget struct{ *countingTarget }

func (noIAMTarget) HasIAM() bool { return false }
