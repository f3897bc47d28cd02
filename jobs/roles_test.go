package jobs

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// These tests observe roles only through the gateway and the runner's
// accepting API, so they also run against the release before role names
// were recorded, where each of them fails.

// short is a lowercase alphanumeric id unique to the test, for app ids and
// environment names that stay readable in role names.
func (f *fixture) short(p string) string {
	sum := sha256.Sum256([]byte(f.t.Name()))
	return p + hex.EncodeToString(sum[:3])
}

// policiesOn lists the inline policies of role (none when it is missing).
func (f *fixture) policiesOn(role string) []string {
	f.t.Helper()
	names, err := gateway.RolePolicyNames(f.ctx, role)
	if err != nil {
		f.t.Fatal(err)
	}
	return names
}

// storeV2 is read at build time: the embedded gateway moves the process's
// working directory.
//
//go:embed testdata/upgrade/store-v2.db
var storeV2 []byte

var storageREAD = store.Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ"}}

// TestEnvironmentsThatLookAlikeGetTheirOwnRoles: app "a-b" environment "c"
// and app "a" environment "b-c" expand the default templates alike, and
// IAM takes "X" and "x" for one role name; each environment still gets
// roles of its own, holding only its own grants.
func TestEnvironmentsThatLookAlikeGetTheirOwnRoles(t *testing.T) {
	f := setup(t)
	f.start()
	p := f.short("r")
	envs := []store.ResourceKey{
		{AppID: p + "-a-b", Env: "c", Name: "photos"}, {AppID: p + "-a", Env: "b-c", Name: "photos"},
		{AppID: strings.ToUpper(p), Env: "dev", Name: "photos"}, {AppID: p, Env: "dev", Name: "photos"},
	}
	for i, k := range envs {
		j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: f.bucket(strconv.Itoa(i)), Permissions: storageREAD})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.wait(j.ID); got.Status != store.StatusCompleted {
			t.Fatalf("create in %+v: %+v", k, got)
		}
	}
	for _, k := range envs {
		want := []string{policy.EnvRolePolicyName(k.AppID, k.Env)}
		for _, tmpl := range []string{DefaultAuthRoleTemplate, DefaultUnauthRoleTemplate} {
			role := RoleName(tmpl, k.AppID, k.Env)
			if got := f.policiesOn(role); !slices.Equal(got, want) {
				t.Errorf("role %q of app %q environment %q holds %v, want only its own %v", role, k.AppID, k.Env, got, want)
			}
		}
	}
}

// TestRoleTaggedForAnotherEnvironmentIsNotWritten: two installations with
// their own stores whose templates name one role for different
// environments. The second finds the role tagged for the first's
// environment and fails, naming both, without writing to it; its bucket is
// removed again.
func TestRoleTaggedForAnotherEnvironmentIsNotWritten(t *testing.T) {
	f := setup(t)
	p, q := f.short("p"), f.short("q")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.runner = New(f.store, f.target, Config{AuthRoleTemplate: "s-{appId}-{env}-in", UnauthRoleTemplate: "s-{appId}-{env}-out",
		PublicGuestAccess: true, Logger: logger})
	f.start()
	first := store.ResourceKey{AppID: p, Env: q, Name: "photos"}
	j, err := f.runner.Create(f.ctx, CreateInput{Key: first, Bucket: f.bucket("first"), Permissions: storageREAD})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.wait(j.ID); got.Status != store.StatusCompleted {
		t.Fatalf("first installation's create: %+v", got)
	}

	st, err := store.Open(filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g := &fixture{t: t, ctx: f.ctx, store: st, target: f.target}
	g.runner = New(st, f.target, Config{AuthRoleTemplate: "s-{env}-{appId}-in", UnauthRoleTemplate: "s-{env}-{appId}-out",
		PublicGuestAccess: true, Logger: logger})
	g.start()
	second := store.ResourceKey{AppID: q, Env: p, Name: "photos"}
	bucket := f.bucket("second")
	j, err = g.runner.Create(f.ctx, CreateInput{Key: second, Bucket: bucket, Permissions: storageREAD})
	if err != nil {
		t.Fatal(err)
	}
	got := g.wait(j.ID)
	t.Logf("refused: %s", got.Error)
	role := "s-" + p + "-" + q + "-in"
	for _, s := range []string{role, strconv.Quote(p), strconv.Quote(q), "environment " + strconv.Quote(q) + " of app " + strconv.Quote(p),
		"environment " + strconv.Quote(p) + " of app " + strconv.Quote(q)} {
		if got.Status != store.StatusFailed || !strings.Contains(got.Error, s) {
			t.Fatalf("create over another environment's role: %s %q, want FAILED naming %s", got.Status, got.Error, s)
		}
	}
	for _, r := range []string{role, "s-" + p + "-" + q + "-out"} {
		if names := f.policiesOn(r); !slices.Equal(names, []string{policy.EnvRolePolicyName(first.AppID, first.Env)}) {
			t.Errorf("role %q holds %v, want only the first installation's policy", r, names)
		}
	}
	if ok, _ := gateway.HeadBucket(f.ctx, bucket); ok {
		t.Error("the failed create left its bucket")
	}
}

// TestTemplateChangeKeepsEnvironmentRoles: an environment keeps the roles it
// started with when the templates change, since its users' identity pool
// trusts those; new environments take the new templates.
func TestTemplateChangeKeepsEnvironmentRoles(t *testing.T) {
	f := setup(t)
	k := store.ResourceKey{AppID: f.short("t"), Env: "dev", Name: "photos"}
	j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: f.bucket("a"), Permissions: storageREAD})
	if err != nil {
		t.Fatal(err)
	}
	f.runUntilIdle(j.ID)
	cfg := f.runner.cfg
	cfg.AuthRoleTemplate, cfg.UnauthRoleTemplate = "moved-{appId}-{env}-in", "moved-{appId}-{env}-out"
	f.runner = New(f.store, f.target, cfg)
	j, err = f.runner.Update(f.ctx, k, store.Permissions{Authenticated: []string{"DELETE", "READ"}})
	if err != nil {
		t.Fatal(err)
	}
	newcomer := store.ResourceKey{AppID: f.short("n"), Env: "dev", Name: "photos"}
	j2, err := f.runner.Create(f.ctx, CreateInput{Key: newcomer, Bucket: f.bucket("b"), Permissions: storageREAD})
	if err != nil {
		t.Fatal(err)
	}
	f.runUntilIdle(j.ID, j2.ID)
	for _, id := range []string{j.ID, j2.ID} {
		if got := f.wait(id); got.Status != store.StatusCompleted {
			t.Fatalf("job after the template change: %+v", got)
		}
	}
	doc, err := gateway.RolePolicy(f.ctx, RoleName(DefaultAuthRoleTemplate, k.AppID, k.Env), policy.EnvRolePolicyName(k.AppID, k.Env))
	if err != nil || !strings.Contains(string(doc), "s3:DeleteObject") {
		t.Fatalf("the update did not reach the environment's role: %s %v", doc, err)
	}
	if names := f.policiesOn("moved-" + k.AppID + "-dev-in"); len(names) != 0 {
		t.Fatalf("the environment moved to the new template's role: %v", names)
	}
	if names := f.policiesOn("moved-" + newcomer.AppID + "-dev-in"); len(names) != 1 {
		t.Fatalf("a new environment did not take the new template: %v", names)
	}
}

// TestUpgradeKeepsRoles opens a store written by the release before role
// names were recorded (testdata/upgrade, see generate.go there), with roles
// that release made already on the target, and runs its pending jobs:
//   - environments keep the roles they were given, untagged ones included;
//   - of the two that shared roles, the older keeps them and the other's job
//     fails naming both owners, writing nothing;
//   - a new environment whose readable name IAM folds onto an existing
//     environment's role gets one of its own.
func TestUpgradeKeepsRoles(t *testing.T) {
	f := setup(t)
	path := filepath.Join(t.TempDir(), "upgraded.db")
	if err := os.WriteFile(path, storeV2, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.store = st
	f.runner = New(st, f.target, f.runner.cfg)

	// The role the release made for an earlier resource of UpgradeApp/dev:
	// untagged, with that resource's policy.
	legacy := "amplify-UpgradeApp-dev-authRole"
	earlier := policy.RolePolicyName("UpgradeApp", "dev", "docs")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"cognito-identity.amazonaws.com:aud":"us-east-1:00000000-0000-0000-0000-000000000000"}}}]}`
	if _, err := gateway.EnsureRole(f.ctx, legacy, []byte(trust), nil); err != nil {
		t.Fatal(err)
	}
	if err := gateway.PutRolePolicy(f.ctx, legacy, earlier, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",`+
		`"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::upgrade-fixture-0/public/*"]}]}`)); err != nil {
		t.Fatal(err)
	}

	var pending []store.Job
	if err := st.View(f.ctx, func(tx *store.Tx) error {
		for _, id := range tx.PendingJobs() {
			j, err := tx.Job(id)
			if err != nil {
				return err
			}
			pending = append(pending, j)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(pending) != 3 {
		t.Fatalf("the fixture holds %d pending jobs, want 3", len(pending))
	}
	f.start()
	status := map[string]store.Job{}
	for _, j := range pending {
		status[j.AppID+"/"+j.Env] = f.wait(j.ID)
	}
	shared := "amplify-upgrade-a-b-c-authRole"
	t.Logf("refused: %s", status["upgrade-a/b-c"].Error)
	if got := status["upgrade-a-b/c"]; got.Status != store.StatusCompleted {
		t.Errorf("the older environment's create: %+v", got)
	}
	if got := status["upgrade-a/b-c"]; got.Status != store.StatusFailed || !strings.Contains(got.Error, shared) ||
		!strings.Contains(got.Error, `environment "c" of app "upgrade-a-b"`) || !strings.Contains(got.Error, `environment "b-c" of app "upgrade-a"`) {
		t.Errorf("the younger environment's create over the shared role: %+v", got)
	}
	if names := f.policiesOn(shared); !slices.Equal(names, []string{policy.EnvRolePolicyName("upgrade-a-b", "c")}) {
		t.Errorf("the shared role holds %v, want only the older environment's policy", names)
	}
	if ok, _ := gateway.HeadBucket(f.ctx, "upgrade-fixture-2"); ok {
		t.Error("the failed create left its bucket")
	}
	if got := status["UpgradeApp/dev"]; got.Status != store.StatusCompleted {
		t.Errorf("UpgradeApp/dev create: %+v", got)
	}
	// "docs" is no resource of the store: its policy is not ours to remove.
	mine := policy.EnvRolePolicyName("UpgradeApp", "dev")
	if names := f.policiesOn(legacy); !slices.Equal(names, []string{earlier, mine}) && !slices.Equal(names, []string{mine, earlier}) {
		t.Errorf("UpgradeApp/dev's role holds %v, want its earlier policy and the new one", names)
	}

	// A new environment that IAM would fold onto UpgradeApp/dev's role.
	newcomer := store.ResourceKey{AppID: "upgradeapp", Env: "dev", Name: "photos"}
	j, err := f.runner.Create(f.ctx, CreateInput{Key: newcomer, Bucket: f.bucket("newcomer"), Permissions: storageREAD})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.wait(j.ID); got.Status != store.StatusCompleted {
		t.Fatalf("new environment's create: %+v", got)
	}
	if names := f.policiesOn(legacy); slices.Contains(names, policy.EnvRolePolicyName(newcomer.AppID, newcomer.Env)) {
		t.Errorf("the new environment wrote into another environment's role %q: %v", legacy, names)
	}
	// Jobs of the kept environment keep working, on its role.
	j, err = f.runner.Update(f.ctx, store.ResourceKey{AppID: "UpgradeApp", Env: "dev", Name: "photos"}, store.Permissions{Authenticated: []string{"DELETE"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.wait(j.ID); got.Status != store.StatusCompleted {
		t.Fatalf("update after the upgrade: %+v", got)
	}
	if doc, err := gateway.RolePolicy(context.Background(), legacy, mine); err != nil || !strings.Contains(string(doc), "s3:DeleteObject") {
		t.Fatalf("the update did not reach the kept role: %s %v", doc, err)
	}
}
