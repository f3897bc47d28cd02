package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

func (f *fixture) environment(env string) (store.Environment, bool) {
	f.t.Helper()
	var e store.Environment
	var ok bool
	if err := f.store.View(f.ctx, func(tx *store.Tx) (err error) { e, ok, err = tx.Environment(f.app, env); return err }); err != nil {
		f.t.Fatal(err)
	}
	return e, ok
}

func (f *fixture) mustComplete(j store.Job, err error) store.Job {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	f.runUntilIdle(j.ID)
	got := f.wait(j.ID)
	if got.Status != store.StatusCompleted {
		f.t.Fatalf("%s: %+v", j.Operation, got)
	}
	return got
}

func roleExists(f *fixture, role string) bool {
	f.t.Helper()
	_, ok, err := gateway.RoleTags(f.ctx, role)
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

// managedBase is the ARN of our managed policies without their names,
// read from role, so it can be used when the role is gone.
func (f *fixture) managedBase(role string) string {
	f.t.Helper()
	base, err := gateway.ManagedPolicyARN(f.ctx, role, "")
	if err != nil {
		f.t.Fatal(err)
	}
	return base
}

// managedLeft lists the managed policies that exist under any name env's
// documents may take (either role kind, any number a role can attach),
// attached or not.
func (f *fixture) managedLeft(base, env string) []string {
	f.t.Helper()
	var left []string
	for _, kind := range roleKinds {
		for n := 1; n <= MaxManagedPoliciesPerRole; n++ {
			name := policy.EnvManagedPolicyName(f.app, env, string(kind), n)
			doc, err := gateway.ManagedPolicy(f.ctx, base+name)
			if err != nil {
				f.t.Fatal(err)
			}
			if doc != nil {
				left = append(left, name)
			}
		}
	}
	return left
}

// crowd puts an inline policy of 9,000 characters that is not ours on role,
// so that a few full-permission resources spill over into managed
// policies, and returns its name and document.
func (f *fixture) crowd(role string) (name, doc string) {
	f.t.Helper()
	filler := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::elsewhere/`
	doc = filler + strings.Repeat("x", 9000-len(filler)-len(`"]}]}`)) + `"]}]}`
	if err := gateway.PutRolePolicy(f.ctx, role, "someone-elses", []byte(doc)); err != nil {
		f.t.Fatal(err)
	}
	return "someone-elses", doc
}

// putManaged creates the managed policy name (ours by its path) granting
// something harmless, attached to role when attach is set, and returns its
// ARN.
func (f *fixture) putManaged(base, name, role string, attach bool) string {
	f.t.Helper()
	arn := base + name
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::elsewhere/*"]}]}`
	if err := gateway.PutManagedPolicy(f.ctx, arn, name, []byte(doc)); err != nil {
		f.t.Fatal(err)
	}
	if attach {
		if err := gateway.AttachRolePolicy(f.ctx, role, arn); err != nil {
			f.t.Fatal(err)
		}
	}
	return arn
}

// leaveManaged leaves what a job of env "dev" stopped between creating
// managed policy n of kind and attaching it leaves: the role's mark raised
// to n (writeManaged raises it first), and the policy, unattached.
func (f *fixture) leaveManaged(base string, kind store.RoleKind, n int) {
	f.t.Helper()
	if err := f.runner.setManagedMark(f.ctx, f.key(""), kind, max(n, f.managedMark(kind))); err != nil {
		f.t.Fatal(err)
	}
	f.putManaged(base, policy.EnvManagedPolicyName(f.app, "dev", string(kind), n), "", false)
}

// TestDeleteBackendRemovesTheEnvironment: CreateBackend records the app's
// name and the environment; DeleteBackend, accepted while no runner runs
// (as a crashed process leaves it) and resumed by the next Run, removes
// every resource as DeleteBackendStorage would (buckets kept, a foreign
// statement kept), then the environment's roles, which this service made
// and nothing else uses, then the environment, which can be created again.
// While it is pending, no storage job is accepted in the environment.
func TestDeleteBackendRemovesTheEnvironment(t *testing.T) {
	f := setup(t)
	env := "dev"
	created := f.mustComplete(f.runner.CreateBackend(f.ctx, f.app, "My App", env))
	if created.Operation != store.OpCreateBackend || created.Resource != "" {
		t.Fatalf("CreateBackend job: %+v", created)
	}
	if e, ok := f.environment(env); !ok || e.ActiveJob != "" || e.Creating {
		t.Fatalf("environment after CreateBackend: %+v %v", e, ok)
	}
	roles := f.envRoles(f.app, env)
	if _, err := f.runner.CreateBackend(f.ctx, f.app, "My App", env); !errors.As(err, new(*store.EnvironmentExistsError)) {
		t.Fatalf("CreateBackend of an existing environment: %v", err)
	}

	b1 := f.bucket("made")
	f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key("photos"), Bucket: b1, Permissions: storageREAD}))
	b2 := f.bucket("imported")
	if _, err := gateway.CreateBucket(f.ctx, b2); err != nil {
		t.Fatal(err)
	}
	foreign := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"SomeoneElse","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/shared/*"}]}`, b2)
	if err := gateway.PutBucketPolicy(f.ctx, b2, []byte(foreign)); err != nil {
		t.Fatal(err)
	}
	f.mustComplete(f.runner.Import(f.ctx, f.app, env, b2))
	f.mustComplete(f.runner.Update(f.ctx, store.ResourceKey{AppID: f.app, Env: env, Name: b2}, storageREAD))
	f.wantEnvPolicy(map[string]store.Permissions{b1: storageREAD, b2: storageREAD})
	base := f.managedBase(roles.Auth)

	// A storage job running in the environment refuses DeleteBackend, naming it.
	up, err := f.runner.Update(f.ctx, f.key("photos"), store.Permissions{})
	if err != nil {
		t.Fatal(err)
	}
	var pending *PendingJobError
	if _, err := f.runner.DeleteBackend(f.ctx, f.app, env); !errors.As(err, &pending) || pending.Job != up.ID {
		t.Fatalf("DeleteBackend with a storage job running: %v", err)
	}
	f.mustComplete(up, nil)

	del, err := f.runner.DeleteBackend(f.ctx, f.app, env)
	if err != nil {
		t.Fatal(err)
	}
	var busy *EnvironmentBusyError
	if _, err := f.runner.Create(f.ctx, CreateInput{Key: f.key("late"), Bucket: f.bucket("late")}); !errors.As(err, &busy) || busy.Job != del.ID || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("storage create while DeleteBackend is pending: %v", err)
	}
	if _, err := f.runner.Update(f.ctx, f.key("photos"), storageREAD); !errors.As(err, &busy) {
		t.Fatalf("storage update while DeleteBackend is pending: %v", err)
	}
	if _, err := f.runner.DeleteBackend(f.ctx, f.app, env); !errors.As(err, &busy) {
		t.Fatalf("second DeleteBackend: %v", err)
	}
	f.mustComplete(del, nil)

	var left []store.Resource
	f.store.View(f.ctx, func(tx *store.Tx) (err error) { left, err = tx.Resources(f.app, env); return err })
	if len(left) != 0 {
		t.Fatalf("resources left: %+v", left)
	}
	if _, ok := f.environment(env); ok {
		t.Fatal("the environment record is left")
	}
	for _, role := range []string{roles.Auth, roles.Unauth} {
		if roleExists(f, role) {
			t.Fatalf("role %s is left", role)
		}
	}
	if left := f.managedLeft(base, env); len(left) > 0 {
		t.Fatalf("managed policies left: %v", left)
	}
	for _, b := range []string{b1, b2} {
		if ok, _ := gateway.HeadBucket(f.ctx, b); !ok {
			t.Fatalf("bucket %s was removed", b)
		}
	}
	cur, err := gateway.BucketPolicy(f.ctx, b2)
	if err != nil || !strings.Contains(string(cur), "SomeoneElse") || strings.Contains(string(cur), "Amplifybackendd") {
		t.Fatalf("imported bucket's policy after DeleteBackend: %s %v", cur, err)
	}
	if _, err := f.runner.DeleteBackend(f.ctx, f.app, env); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteBackend of a removed environment: %v", err)
	}
	f.mustComplete(f.runner.CreateBackend(f.ctx, f.app, "My App", env))
}

// TestDeleteBackendRemovesManagedPolicies: an environment whose auth role
// holds part of its document in managed policies (beside an inline policy
// and a managed policy of someone else's), and a managed policy of ours
// on each role that a crashed job created and never attached. DeleteBackend
// takes everything of ours off both roles and deletes our managed
// policies, attached or not; it deletes the unauth role and keeps the auth
// role, naming what others left on it. A second run changes nothing.
func TestDeleteBackendRemovesManagedPolicies(t *testing.T) {
	f := setup(t)
	f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key("r0"), Bucket: f.bucket("0"), Permissions: storageAll}))
	roles := f.envRoles(f.app, "dev")
	base := f.managedBase(roles.Auth)
	inline, _ := f.crowd(roles.Auth)
	theirs := f.putManaged(base, f.app+"-someone-elses", roles.Auth, true)
	for i := 1; i < 6; i++ {
		f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key(fmt.Sprintf("r%d", i)), Bucket: f.bucket(fmt.Sprint(i)), Permissions: storageAll}))
	}
	if attached, err := gateway.AttachedRolePolicies(f.ctx, roles.Auth); err != nil || len(attached) < 2 {
		t.Fatalf("the auth role's document should spill into managed policies: %v %v", attached, err)
	}
	f.leaveManaged(base, store.RoleAuth, 9)
	f.leaveManaged(base, store.RoleUnauth, 7)

	done := f.mustComplete(f.runner.DeleteBackend(f.ctx, f.app, "dev"))
	if len(done.Warnings) != 1 || !strings.Contains(done.Warnings[0], roles.Auth) || !strings.Contains(done.Warnings[0], inline) ||
		!strings.Contains(done.Warnings[0], theirs) {
		t.Fatalf("warnings: %q", done.Warnings)
	}
	if left := f.managedLeft(base, "dev"); len(left) > 0 {
		t.Fatalf("managed policies of ours left: %v", left)
	}
	if roleExists(f, roles.Unauth) {
		t.Fatal("the unauth role is left")
	}
	if names := f.policiesOn(roles.Auth); !slices.Equal(names, []string{inline}) {
		t.Fatalf("the kept role's inline policies: %v", names)
	}
	if attached, err := gateway.AttachedRolePolicies(f.ctx, roles.Auth); err != nil || len(attached) != 1 || attached[0].ARN != theirs {
		t.Fatalf("the kept role's managed policies: %v %v", attached, err)
	}

	f.target.writes.Store(0)
	warnings, err := f.runner.removeEnvRoles(f.ctx, "again", f.app, "dev")
	if err != nil || len(warnings) != 1 {
		t.Fatalf("second run: %q %v", warnings, err)
	}
	if n := f.target.writes.Load(); n != 0 {
		t.Fatalf("a second run wrote %d times: %v", n, f.target.log)
	}
}

// TestRemoveAllBackends removes every environment of an app; a role of
// ours that holds someone else's inline policy is kept, with a warning.
// Its job is found under any environment name of the app. Without
// cleanAmplifyApp the app's name stays; with it, the app's record goes.
func TestRemoveAllBackends(t *testing.T) {
	f := setup(t)
	f.mustComplete(f.runner.CreateBackend(f.ctx, f.app, "Named", "dev"))
	f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key("a"), Bucket: f.bucket("a"), Permissions: storageREAD}))
	prod := store.ResourceKey{AppID: f.app, Env: "prod", Name: "b"}
	f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: prod, Bucket: f.bucket("b"), Permissions: storageREAD}))
	prodRoles := f.envRoles(f.app, "prod")
	if err := gateway.PutRolePolicy(f.ctx, prodRoles.Auth, "someone-else", []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}`)); err != nil {
		t.Fatal(err)
	}

	all, err := f.runner.RemoveAllBackends(f.ctx, f.app, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.runner.Create(f.ctx, CreateInput{Key: store.ResourceKey{AppID: f.app, Env: "new", Name: "c"}, Bucket: f.bucket("c")}); !errors.As(err, new(*EnvironmentBusyError)) {
		t.Fatalf("storage create in a new environment of an app being removed: %v", err)
	}
	done := f.mustComplete(all, nil)
	if len(done.Warnings) != 1 || !strings.Contains(done.Warnings[0], prodRoles.Auth) || !strings.Contains(done.Warnings[0], "someone-else") {
		t.Fatalf("warnings: %q", done.Warnings)
	}
	if !roleExists(f, prodRoles.Auth) || roleExists(f, prodRoles.Unauth) || roleExists(f, f.envRoles(f.app, "dev").Auth) {
		t.Fatal("roles: only the one holding a foreign policy should be kept")
	}
	var envs []store.Environment
	var app store.App
	f.store.View(f.ctx, func(tx *store.Tx) (err error) {
		if _, err := tx.JobIn(f.app, "prod", all.ID); err != nil {
			t.Fatalf("the app's job under an environment: %v", err)
		}
		if _, err := tx.JobIn(f.app+"x", "prod", all.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the app's job under another app: %v", err)
		}
		app, _, _ = tx.App(f.app)
		envs, err = tx.Environments(f.app)
		return err
	})
	if len(envs) != 0 || app.Name != "Named" || app.ActiveJob != "" {
		t.Fatalf("after RemoveAllBackends: environments %+v, app %+v", envs, app)
	}
	f.mustComplete(f.runner.RemoveAllBackends(f.ctx, f.app, true))
	f.store.View(f.ctx, func(tx *store.Tx) (err error) {
		if _, ok, _ := tx.App(f.app); ok {
			t.Fatal("cleanAmplifyApp left the app's record")
		}
		return nil
	})
	if _, err := f.runner.RemoveAllBackends(f.ctx, f.app, true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RemoveAllBackends of an unknown app: %v", err)
	}
}

// TestCancelledWholeJobs: a cancelled DeleteBackend leaves every resource
// as it was and releases the environment; a cancelled CreateBackend leaves
// no environment behind.
func TestCancelledWholeJobs(t *testing.T) {
	f := setup(t)
	k := f.key("kept")
	f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: f.bucket("k"), Permissions: storageREAD}))
	roles := f.envRoles(f.app, "dev")
	before := f.policiesOn(roles.Auth)

	del, err := f.runner.DeleteBackend(f.ctx, f.app, "dev")
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.runner.UpdateJob(f.ctx, f.app, "dev", del.ID, store.OpDeleteBackend, store.StatusCancelled)
	if err != nil || c.Status != store.StatusCancelled {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	f.runUntilIdle(del.ID)
	if res, err := f.resource(k); err != nil || res.ActiveJob != "" || res.Phase != store.PhaseActive {
		t.Fatalf("resource after a cancelled DeleteBackend: %+v %v", res, err)
	}
	if got := f.policiesOn(roles.Auth); len(got) != len(before) {
		t.Fatalf("role policies %v, want %v", got, before)
	}
	if e, ok := f.environment("dev"); !ok || e.ActiveJob != "" {
		t.Fatalf("environment after a cancelled DeleteBackend: %+v %v", e, ok)
	}
	f.mustComplete(f.runner.Update(f.ctx, k, store.Permissions{}))

	cb, err := f.runner.CreateBackend(f.ctx, f.app, "x", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.runner.UpdateJob(f.ctx, f.app, "staging", cb.ID, "", store.StatusCancelled); err != nil {
		t.Fatal(err)
	}
	f.runUntilIdle(cb.ID)
	if _, ok := f.environment("staging"); ok {
		t.Fatal("a cancelled CreateBackend left its environment")
	}
}

// cloneSource makes environment "dev" with a resource whose bucket this
// service creates and one importing a bucket that holds a foreign
// statement, and returns that bucket.
func cloneSource(f *fixture) (imported string) {
	f.t.Helper()
	f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key("a-photos"), Bucket: f.bucket("src"), Permissions: storageREAD}))
	imported = f.bucket("imp")
	if _, err := gateway.CreateBucket(f.ctx, imported); err != nil {
		f.t.Fatal(err)
	}
	foreign := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"SomeoneElse","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/shared/*"}]}`, imported)
	if err := gateway.PutBucketPolicy(f.ctx, imported, []byte(foreign)); err != nil {
		f.t.Fatal(err)
	}
	f.mustComplete(f.runner.Import(f.ctx, f.app, "dev", imported))
	f.mustComplete(f.runner.Update(f.ctx, f.key(imported), storageREAD))
	return imported
}

// TestCloneBackend: the target gets every resource of the source with the
// same permissions; the created bucket's copy is a new bucket, the import
// imports the same bucket, our statements for the target beside the
// source's. Acceptance refuses an existing target and a missing source.
func TestCloneBackend(t *testing.T) {
	f := setup(t)
	imported := cloneSource(f)
	var nf *store.NotFoundError
	if _, err := f.runner.CloneBackend(f.ctx, f.app, "nope", "staging"); !errors.As(err, &nf) || nf.Kind != store.KindEnv {
		t.Fatalf("clone of a missing source: %v", err)
	}
	// An unknown app is named as such, as every other call names it.
	if _, err := f.runner.CloneBackend(f.ctx, "no-such-app", "dev", "staging"); !errors.As(err, &nf) || nf.Kind != store.KindApp {
		t.Fatalf("clone in a missing app: %v", err)
	}
	if _, err := f.runner.DeleteBackend(f.ctx, "no-such-app", "dev"); !errors.As(err, &nf) || nf.Kind != store.KindApp {
		t.Fatalf("delete in a missing app: %v", err)
	}
	if _, err := f.runner.CloneBackend(f.ctx, f.app, "dev", "dev"); !errors.As(err, new(*store.EnvironmentExistsError)) {
		t.Fatalf("clone onto an existing environment: %v", err)
	}
	clone, err := f.runner.CloneBackend(f.ctx, f.app, "dev", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.runner.Update(f.ctx, f.key("a-photos"), store.Permissions{}); !errors.As(err, new(*EnvironmentBusyError)) {
		t.Fatalf("update of the source during the clone: %v", err)
	}
	f.mustComplete(clone, nil)

	src, _ := f.resource(f.key("a-photos"))
	made, err := f.resource(store.ResourceKey{AppID: f.app, Env: "staging", Name: "a-photos"})
	if err != nil || made.Bucket == src.Bucket || made.Imported || !made.CreatedBucket || !made.Desired.Equal(src.Desired) || made.Phase != store.PhaseActive {
		t.Fatalf("clone of the created resource: %+v %v (source %+v)", made, err, src)
	}
	if ValidateBucketName(made.Bucket) != nil || !strings.Contains(made.Bucket, "staging") {
		t.Fatalf("derived bucket %q", made.Bucket)
	}
	if ok, _ := gateway.HeadBucket(f.ctx, made.Bucket); !ok {
		t.Fatal("the clone's bucket was not created")
	}
	imp, err := f.resource(store.ResourceKey{AppID: f.app, Env: "staging", Name: imported})
	if err != nil || imp.Bucket != imported || !imp.Imported || !imp.Desired.Equal(storageREAD) {
		t.Fatalf("clone of the import: %+v %v", imp, err)
	}
	cur, err := gateway.BucketPolicy(f.ctx, imported)
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"dev", "staging"} {
		if n := ourStatements(t, cur, policy.SidPrefix(f.app, env, imported)); n != 3 {
			t.Fatalf("%s statements in the imported bucket: %d: %s", env, n, cur)
		}
	}
	if !strings.Contains(string(cur), "SomeoneElse") {
		t.Fatal("the foreign statement went")
	}
	// The target's roles hold a document of their own granting exactly the
	// target's buckets; the source's still grants the source's.
	f.wantEnvPolicyIn("staging", map[string]store.Permissions{made.Bucket: src.Desired, imported: storageREAD})
	f.wantEnvPolicy(map[string]store.Permissions{src.Bucket: src.Desired, imported: storageREAD})
	if e, ok := f.environment("staging"); !ok || e.ActiveJob != "" || e.Creating {
		t.Fatalf("target after the clone: %+v %v", e, ok)
	}
	if e, _ := f.environment("dev"); e.ActiveJob != "" {
		t.Fatalf("source still held: %+v", e)
	}
}

// TestCloneFailingPartWayLeavesNothing: the second resource's copy cannot
// be written (the imported bucket's policy would pass the target's limit),
// after the first's bucket was made: the clone removes what it made, in
// reverse, fails naming the resource and the rule, and the target does not
// exist; the source is as it was and free.
func TestCloneFailingPartWayLeavesNothing(t *testing.T) {
	f := setup(t)
	imported := cloneSource(f)
	cur, err := gateway.BucketPolicy(f.ctx, imported)
	if err != nil {
		t.Fatal(err)
	}
	f.runner.cfg.BucketPolicyLimit = len(cur) + 100
	clone, err := f.runner.CloneBackend(f.ctx, f.app, "dev", "staging")
	if err != nil {
		t.Fatal(err)
	}
	var made store.Resource
	f.store.View(f.ctx, func(tx *store.Tx) (err error) {
		made, err = tx.Resource(store.ResourceKey{AppID: f.app, Env: "staging", Name: "a-photos"})
		return err
	})
	f.runUntilIdle(clone.ID)
	got := f.wait(clone.ID)
	if got.Status != store.StatusFailed || !strings.Contains(got.Error, imported) || !strings.Contains(got.Error, "bytes") {
		t.Fatalf("failed clone: %+v", got)
	}
	if ok, _ := gateway.HeadBucket(f.ctx, made.Bucket); ok {
		t.Fatalf("the clone's bucket %s is left", made.Bucket)
	}
	if _, ok := f.environment("staging"); ok {
		t.Fatal("the target environment is left")
	}
	var left []store.Resource
	f.store.View(f.ctx, func(tx *store.Tx) (err error) { left, err = tx.Resources(f.app, "staging"); return err })
	if len(left) != 0 {
		t.Fatalf("target resources left: %+v", left)
	}
	roles := f.envRoles(f.app, "staging")
	if roleExists(f, roles.Auth) || roleExists(f, roles.Unauth) {
		t.Fatal("the target's roles are left")
	}
	after, _ := gateway.BucketPolicy(f.ctx, imported)
	if string(after) != string(cur) {
		t.Fatalf("the imported bucket's policy changed:\n%s\n%s", cur, after)
	}
	f.runner.cfg.BucketPolicyLimit = MaxBucketPolicyBytes
	f.mustComplete(f.runner.Update(f.ctx, f.key("a-photos"), store.Permissions{}))
}

// refusingAttach is the gateway refusing to attach managed policies to
// role, as a target may at its quota: the clone fails after it created a
// managed policy and before it attached it.
type refusingAttach struct {
	*countingTarget
	role string
}

func (r refusingAttach) AttachRolePolicy(ctx context.Context, role, arn string) error {
	if role == r.role {
		return terminal("attaching %s to %s refused", arn, role)
	}
	return r.countingTarget.AttachRolePolicy(ctx, role, arn)
}

// TestCloneFailingAtAManagedPolicyLeavesNone: the target's auth role
// (made beforehand, with our tag, crowded by someone else's inline policy)
// needs a managed policy, which is created, then cannot be attached: the
// clone fails, and its rollback deletes the managed policy it created,
// takes its inline document off the kept role and removes the unauth role.
func TestCloneFailingAtAManagedPolicyLeavesNone(t *testing.T) {
	f := setup(t)
	for i := range 5 {
		f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key(fmt.Sprintf("r%d", i)), Bucket: f.bucket(fmt.Sprint(i)), Permissions: storageAll}))
	}
	roles := store.EnvRoles{Auth: RoleName(DefaultAuthRoleTemplate, f.app, "staging"), Unauth: RoleName(DefaultUnauthRoleTemplate, f.app, "staging")}
	trust, _ := json.Marshal(policy.TrustPolicy(true, f.runner.identityPool(store.ResourceKey{AppID: f.app, Env: "staging"})))
	if _, err := gateway.EnsureRole(f.ctx, roles.Auth, trust, roleTags(f.app, "staging", store.RoleAuth)); err != nil {
		t.Fatal(err)
	}
	inline, _ := f.crowd(roles.Auth)
	base := f.managedBase(roles.Auth)
	f.runner = New(f.store, refusingAttach{countingTarget: f.target, role: roles.Auth}, f.runner.cfg)

	clone, err := f.runner.CloneBackend(f.ctx, f.app, "dev", "staging")
	if err != nil {
		t.Fatal(err)
	}
	f.runUntilIdle(clone.ID)
	got := f.wait(clone.ID)
	if got.Status != store.StatusFailed || !strings.Contains(got.Error, "refused") {
		t.Fatalf("clone: %+v", got)
	}
	if got := f.envRoles(f.app, "staging"); got.Auth != roles.Auth || got.Unauth != roles.Unauth {
		t.Fatalf("the test's role names are not the clone's: %+v", got)
	}
	if left := f.managedLeft(base, "staging"); len(left) > 0 {
		t.Fatalf("managed policies left: %v", left)
	}
	if names := f.policiesOn(roles.Auth); !slices.Equal(names, []string{inline}) {
		d, _ := gateway.RolePolicy(f.ctx, roles.Auth, names[0])
		t.Fatalf("the auth role's inline policies: %v %s", names, d)
	}
	if roleExists(f, roles.Unauth) {
		t.Fatal("the unauth role is left")
	}
	if _, ok := f.environment("staging"); ok {
		t.Fatal("the target environment is left")
	}
}

// TestPanicOutsideStepsFailsTheClone: a panic while the executor records a
// clone's failure is retried, then the clone is failed anyway, its rollback
// run, and the target left absent.
func TestPanicOutsideStepsFailsTheClone(t *testing.T) {
	f := setup(t)
	imported := cloneSource(f)
	cur, err := gateway.BucketPolicy(f.ctx, imported)
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.runner.cfg
	cfg.BucketPolicyLimit = len(cur) + 100
	cfg.Logger = slog.New(panicOn{Handler: slog.NewTextHandler(io.Discard, nil), msg: "job failed"})
	f.runner = New(f.store, f.target, cfg)
	clone, err := f.runner.CloneBackend(f.ctx, f.app, "dev", "staging")
	if err != nil {
		t.Fatal(err)
	}
	f.runUntilIdle(clone.ID)
	got := f.wait(clone.ID)
	if got.Status != store.StatusFailed || !strings.Contains(got.Error, "panic: log handler broke on job failed") {
		t.Fatalf("clone whose failure panics: %+v", got)
	}
	if _, ok := f.environment("staging"); ok {
		t.Fatal("the target environment is left")
	}
	if e, _ := f.environment("dev"); e.ActiveJob != "" {
		t.Fatalf("the source is still held: %+v", e)
	}
}
