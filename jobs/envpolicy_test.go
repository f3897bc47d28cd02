package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

var storageAll = store.Permissions{Authenticated: []string{"CREATE_AND_UPDATE", "DELETE", "READ"}, Unauthenticated: []string{"CREATE_AND_UPDATE", "DELETE", "READ"}}

// wantEnvPolicy checks that each role of f's "dev" environment holds
// exactly the environment's documents, laid out over its inline policy and
// managed policies as Pack lays them out, granting what want (bucket →
// permissions) grants, beside the inline policies named in others (where
// a role holds them, they take their size from its inline room).
func (f *fixture) wantEnvPolicy(want map[string]store.Permissions, others ...string) {
	f.t.Helper()
	f.wantEnvPolicyIn("dev", want, others...)
}

// wantEnvPolicyIn is wantEnvPolicy for environment env.
func (f *fixture) wantEnvPolicyIn(env string, want map[string]store.Permissions, others ...string) {
	f.t.Helper()
	var in []policy.EnvResource
	for b, p := range want {
		in = append(in, envResource(b, p))
	}
	auth, unauth := policy.EnvDocuments(policy.EnvSidPrefix(f.app, env), in)
	name := policy.EnvRolePolicyName(f.app, env)
	limits := []int{MaxRolePolicyChars}
	for range MaxManagedPoliciesPerRole {
		limits = append(limits, MaxManagedPolicyChars)
	}
	for _, role := range []struct {
		kind store.RoleKind
		doc  *policy.Document
	}{{store.RoleAuth, auth}, {store.RoleUnauth, unauth}} {
		r := f.envRoles(f.app, env).Name(role.kind)
		limits := slices.Clone(limits)
		for _, o := range others { // the room they take from the inline policy
			doc, err := gateway.RolePolicy(f.ctx, r, o)
			if err != nil {
				f.t.Fatal(err)
			}
			limits[0] -= len(doc)
		}
		docs, ok := policy.Pack(role.doc, limits)
		if !ok {
			f.t.Fatalf("the test's own documents do not fit")
		}
		names := f.policiesOn(r)
		wantNames := slices.Clone(others)
		if docs[0] != nil {
			wantNames = append(wantNames, name)
		}
		slices.Sort(names)
		slices.Sort(wantNames)
		if !slices.Equal(names, wantNames) {
			f.t.Fatalf("role %q holds inline policies %v, want %v", r, names, wantNames)
		}
		if docs[0] != nil {
			got, err := gateway.RolePolicy(f.ctx, r, name)
			if err != nil {
				f.t.Fatal(err)
			}
			f.sameDocument(r+" inline", got, docs[0])
		}
		attached, err := gateway.AttachedRolePolicies(f.ctx, r)
		if err != nil {
			f.t.Fatal(err)
		}
		var wantManaged []string
		for i, d := range docs[1:] {
			if d != nil {
				wantManaged = append(wantManaged, policy.EnvManagedPolicyName(f.app, env, string(role.kind), i+1))
			}
		}
		var gotManaged []string
		for _, a := range attached {
			gotManaged = append(gotManaged, a.Name)
			i := slices.Index(wantManaged, a.Name)
			if i < 0 {
				continue
			}
			got, err := gateway.ManagedPolicy(f.ctx, a.ARN)
			if err != nil {
				f.t.Fatal(err)
			}
			f.sameDocument(a.Name, got, docs[i+1])
		}
		slices.Sort(gotManaged)
		slices.Sort(wantManaged)
		if !slices.Equal(gotManaged, wantManaged) {
			f.t.Fatalf("role %q has managed policies %v attached, want %v", r, gotManaged, wantManaged)
		}
	}
}

func (f *fixture) sameDocument(what string, got []byte, want *policy.Document) {
	f.t.Helper()
	w, _ := json.Marshal(want)
	if !policy.Equivalent(got, w) {
		f.t.Fatalf("%s\n got %s\nwant %s", what, got, w)
	}
}

// TestConcurrentJobsOfOneEnvironmentKeepEachOthersGrants creates, then
// changes, a dozen resources of one environment at once, with as many
// workers: every job rewrites the same two role documents, and none may
// drop another's statements. Then the same change again writes nothing.
func TestConcurrentJobsOfOneEnvironmentKeepEachOthersGrants(t *testing.T) {
	f := setup(t)
	f.runner.cfg.Workers = 12
	f.start()
	testConcurrentJobsOfOneEnvironment(f, func(int) *Runner { return f.runner })
}

// testConcurrentJobsOfOneEnvironment is the body of
// TestConcurrentJobsOfOneEnvironmentKeepEachOthersGrants, accepting job i
// through via(i), with f's runners already running.
func testConcurrentJobsOfOneEnvironment(f *fixture, via func(i int) *Runner) {
	t := f.t
	const n = 12
	want := map[string]store.Permissions{}
	run := func(accept func(i int, k store.ResourceKey) (store.Job, error)) {
		t.Helper()
		var ids []string
		for i := range n {
			j, err := accept(i, f.key(fmt.Sprintf("r%02d", i)))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
		for _, id := range ids {
			if got := f.wait(id); got.Status != store.StatusCompleted {
				t.Fatalf("job: %+v", got)
			}
		}
	}
	run(func(i int, k store.ResourceKey) (store.Job, error) {
		b := f.bucket(fmt.Sprintf("c%02d", i))
		want[b] = storageAll
		return via(i).Create(f.ctx, CreateInput{Key: k, Bucket: b, Permissions: storageAll})
	})
	f.wantEnvPolicy(want)

	// Every other resource drops to READ, the rest stay as they are.
	change := func(i int, k store.ResourceKey) (store.Job, error) {
		p := storageAll
		if i%2 == 0 {
			p = storageREAD
		}
		want[f.bucket(fmt.Sprintf("c%02d", i))] = p
		return via(i).Update(f.ctx, k, p)
	}
	run(change)
	f.wantEnvPolicy(want)

	f.target.mu.Lock()
	f.target.log = nil
	f.target.mu.Unlock()
	run(change)
	f.target.mu.Lock()
	defer f.target.mu.Unlock()
	for _, w := range f.target.log {
		if strings.Contains(w, "Policy") {
			t.Fatalf("the same change again wrote %v", f.target.log)
		}
	}
}

// TestPerResourcePoliciesConvergeOnNextJob starts from what the release
// before merged documents left on the target: one inline policy per
// resource on each role (written here exactly as that release wrote them),
// seven full-permission ones, so that they and the merged document do not
// fit on the role together. The next job of any resource of the
// environment leaves one merged policy granting everything they granted;
// a foreign policy and a per-resource policy of a resource the store does
// not know stay; a second run writes nothing.
func TestPerResourcePoliciesConvergeOnNextJob(t *testing.T) {
	f := setup(t)
	f.start()
	want := map[string]store.Permissions{}
	var keys []store.ResourceKey
	for i := range 7 {
		k := f.key(fmt.Sprintf("resource-with-a-long-name-%02d", i))
		b := f.bucket(fmt.Sprintf("long-bucket-name-%02d", i))
		j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: b, Permissions: storageAll})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.wait(j.ID); got.Status != store.StatusCompleted {
			t.Fatalf("create: %+v", got)
		}
		keys, want[b] = append(keys, k), storageAll
	}
	// Back to the earlier layout.
	foreign, unknown := "someone-elses", policy.RolePolicyName(f.app, "dev", "not-in-the-store")
	legacyTotal := 0
	for _, tmpl := range []string{DefaultAuthRoleTemplate, DefaultUnauthRoleTemplate} {
		role := RoleName(tmpl, f.app, "dev")
		if err := gateway.DeleteRolePolicy(f.ctx, role, policy.EnvRolePolicyName(f.app, "dev")); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			res, err := f.resource(k)
			if err != nil {
				t.Fatal(err)
			}
			d := f.runner.translate(res, res.Desired)
			doc := d.AuthRole
			if tmpl == DefaultUnauthRoleTemplate {
				doc = d.UnauthRole
			}
			b, _ := json.Marshal(doc)
			if tmpl == DefaultAuthRoleTemplate {
				legacyTotal += len(b)
			}
			if err := gateway.PutRolePolicy(f.ctx, role, policy.RolePolicyName(k.AppID, k.Env, k.Name), b); err != nil {
				t.Fatal(err)
			}
		}
		small := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::elsewhere/*"]}]}`)
		for _, n := range []string{foreign, unknown} {
			if err := gateway.PutRolePolicy(f.ctx, role, n, small); err != nil {
				t.Fatal(err)
			}
		}
	}
	var in []policy.EnvResource
	for b, p := range want {
		in = append(in, envResource(b, p))
	}
	envDoc, _ := policy.EnvDocuments(policy.EnvSidPrefix(f.app, "dev"), in)
	if b, _ := json.Marshal(envDoc); legacyTotal+len(b) <= MaxRolePolicyChars {
		t.Fatalf("the per-resource policies (%d characters) leave room for the merged one (%d): the test does not reach the tight case", legacyTotal, len(b))
	}

	j, err := f.runner.Update(f.ctx, keys[3], storageREAD)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.wait(j.ID); got.Status != store.StatusCompleted {
		t.Fatalf("update after the upgrade: %+v", got)
	}
	want[f.bucket("long-bucket-name-03")] = storageREAD
	f.wantEnvPolicy(want, foreign, unknown)

	f.target.writes.Store(0)
	f.target.log = nil
	res, err := f.resource(keys[5])
	if err != nil {
		t.Fatal(err)
	}
	if err := f.runner.reconcilePresent(f.ctx, &work{job: store.Job{ID: "again", Operation: store.OpUpdate}, res: res}); err != nil {
		t.Fatal(err)
	}
	if n := f.target.writes.Load(); n != 0 {
		t.Fatalf("a second run wrote %d times: %v", n, f.target.log)
	}
}

// TestFiftyFullPermissionResources creates 50 full-permission resources
// in one environment at once: all complete, their grants spread over the
// roles' inline policy and managed policies, as Pack lays them out.
func TestFiftyFullPermissionResources(t *testing.T) {
	f := setup(t)
	f.runner.cfg.Workers = 8
	f.start()
	want := map[string]store.Permissions{}
	var ids []string
	for i := range 50 {
		b := f.bucket(fmt.Sprintf("%02d", i))
		j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key(fmt.Sprintf("r%02d", i)), Bucket: b, Permissions: storageAll})
		if err != nil {
			t.Fatal(err)
		}
		ids, want[b] = append(ids, j.ID), storageAll
	}
	for i, id := range ids {
		if got := f.wait(id); got.Status != store.StatusCompleted {
			t.Fatalf("create %d of 50: %+v", i+1, got)
		}
	}
	f.wantEnvPolicy(want)
	if attached, err := gateway.AttachedRolePolicies(f.ctx, f.envRoles(f.app, "dev").Auth); err != nil || len(attached) == 0 {
		t.Fatalf("50 full-permission resources fit the inline policy alone? %v %v", attached, err)
	}
	// Running a resource's reconcile again writes nothing, managed policies
	// included.
	res, err := f.resource(f.key("r07"))
	if err != nil {
		t.Fatal(err)
	}
	f.target.mu.Lock()
	f.target.log = nil
	f.target.mu.Unlock()
	f.target.writes.Store(0)
	if err := f.runner.reconcilePresent(f.ctx, &work{job: store.Job{ID: "again", Operation: store.OpUpdate}, res: res}); err != nil {
		t.Fatal(err)
	}
	if n := f.target.writes.Load(); n != 0 {
		t.Fatalf("a second run wrote %d times: %v", n, f.target.log)
	}
	// Deleting all but one resource leaves its grants in the inline
	// policy and no managed policy behind.
	ids = nil
	for i := 1; i < 50; i++ {
		j, err := f.runner.Delete(f.ctx, f.key(fmt.Sprintf("r%02d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
		delete(want, f.bucket(fmt.Sprintf("%02d", i)))
	}
	for _, id := range ids {
		if got := f.wait(id); got.Status != store.StatusCompleted {
			t.Fatalf("delete: %+v", got)
		}
	}
	f.wantEnvPolicy(want)
}

// TestEnvironmentCeiling fills one environment with full-permission
// resources up to what its roles hold beside other tooling's policies: an
// inline policy of 9,000 characters and nine attached managed policies
// leave 1,240 characters of inline policy and one managed policy of 6,144
// (an untouched role holds 206 resources with these names; see the
// README). The count is computed from the policy package; all of them
// complete, the next fails naming the role, the sizes and the limits and
// leaves no trace, and the other policies are untouched.
func TestEnvironmentCeiling(t *testing.T) {
	f := setup(t)
	f.runner.cfg.Workers = 8
	f.start()
	bucket := func(i int) string { return f.bucket(fmt.Sprintf("%03d", i)) }
	j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key("r000"), Bucket: bucket(0), Permissions: storageAll})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.wait(j.ID); got.Status != store.StatusCompleted {
		t.Fatalf("first create: %+v", got)
	}
	role := f.envRoles(f.app, "dev").Auth
	filler := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::elsewhere/`
	inline := filler + strings.Repeat("x", 9000-len(filler)-len(`"]}]}`)) + `"]}]}`
	if err := gateway.PutRolePolicy(f.ctx, role, "someone-elses", []byte(inline)); err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		name := fmt.Sprintf("%s-others-%d", f.app, i)
		arn, err := gateway.ManagedPolicyARN(f.ctx, role, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := gateway.PutManagedPolicy(f.ctx, arn, name, []byte(filler+`*"]}]}`)); err != nil {
			t.Fatal(err)
		}
		if err := gateway.AttachRolePolicy(f.ctx, role, arn); err != nil {
			t.Fatal(err)
		}
	}
	limits := []int{MaxRolePolicyChars - len(inline), MaxManagedPolicyChars}
	var in []policy.EnvResource
	ceiling := 0
	for ; ; ceiling++ {
		in = append(in, envResource(bucket(ceiling), storageAll))
		auth, _ := policy.EnvDocuments(policy.EnvSidPrefix(f.app, "dev"), in)
		if _, ok := policy.Pack(auth, limits); !ok {
			break
		}
	}
	t.Logf("%d full-permission resources with %d-character bucket names fit beside the others' policies", ceiling, len(bucket(0)))
	var ids []string
	for i := 1; i < ceiling; i++ {
		j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key(fmt.Sprintf("r%03d", i)), Bucket: bucket(i), Permissions: storageAll})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for i, id := range ids {
		if got := f.wait(id); got.Status != store.StatusCompleted {
			t.Fatalf("create %d of %d: %+v", i+2, ceiling, got)
		}
	}
	j, err = f.runner.Create(f.ctx, CreateInput{Key: f.key("one-too-many"), Bucket: bucket(ceiling), Permissions: storageAll})
	if err != nil {
		t.Fatal(err)
	}
	got := f.wait(j.ID)
	for _, s := range []string{`"` + role + `"`, "10240", "6144", fmt.Sprintf("the %d storage resources", ceiling+1),
		fmt.Sprintf("(%d of them taken by other policies)", len(inline)), "(9 of the 10 per role attached by others)"} {
		if got.Status != store.StatusFailed || !strings.Contains(got.Error, s) {
			t.Fatalf("create past the ceiling: %s %q, want FAILED naming %s", got.Status, got.Error, s)
		}
	}
	t.Logf("refused: %s", got.Error)
	if ok, _ := gateway.HeadBucket(f.ctx, bucket(ceiling)); ok {
		t.Fatal("the refused create left its bucket")
	}
	if doc, err := gateway.RolePolicy(f.ctx, role, "someone-elses"); err != nil || string(doc) != inline {
		t.Fatalf("the other inline policy changed: %v", err)
	}
	attached, err := gateway.AttachedRolePolicies(f.ctx, role)
	if err != nil || len(attached) != 10 {
		t.Fatalf("attached: %v %v", attached, err)
	}
	docs, _ := policy.Pack(func() *policy.Document {
		d, _ := policy.EnvDocuments(policy.EnvSidPrefix(f.app, "dev"), in[:ceiling])
		return d
	}(), limits)
	for _, a := range attached {
		if a.Name == policy.EnvManagedPolicyName(f.app, "dev", string(store.RoleAuth), 1) {
			doc, err := gateway.ManagedPolicy(f.ctx, a.ARN)
			if err != nil {
				t.Fatal(err)
			}
			f.sameDocument(a.Name, doc, docs[1])
		}
	}
}

// TestOrphanManagedPoliciesGoWithNextWrite: managed policies of ours that
// no role holds (one a job created and never attached; one left once the
// environment shrank, beyond what it needs now) are deleted by the next
// job that writes the environment's documents; the one still needed is
// written and attached.
func TestOrphanManagedPoliciesGoWithNextWrite(t *testing.T) {
	f := setup(t)
	want := map[string]store.Permissions{}
	for i := range 6 {
		b := f.bucket(fmt.Sprint(i))
		f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key(fmt.Sprintf("r%d", i)), Bucket: b, Permissions: storageAll}))
		want[b] = storageAll
		if i == 0 {
			f.crowd(f.envRoles(f.app, "dev").Auth)
			f.crowd(f.envRoles(f.app, "dev").Unauth)
		}
	}
	roles := f.envRoles(f.app, "dev")
	f.wantEnvPolicy(want, "someone-elses")
	base := f.managedBase(roles.Auth)
	first := policy.EnvManagedPolicyName(f.app, "dev", string(store.RoleAuth), 1)
	if err := gateway.DeleteManagedPolicy(f.ctx, roles.Auth, base+first); err != nil {
		t.Fatal(err)
	}
	f.putManaged(base, first, "", false) // created, not attached, stale
	shrunk := []string{policy.EnvManagedPolicyName(f.app, "dev", string(store.RoleAuth), 4),
		policy.EnvManagedPolicyName(f.app, "dev", string(store.RoleUnauth), 2)}
	f.leaveManaged(base, store.RoleAuth, 4)
	f.leaveManaged(base, store.RoleUnauth, 2)

	f.mustComplete(f.runner.Update(f.ctx, f.key("r5"), storageREAD))
	want[f.bucket("5")] = storageREAD
	f.wantEnvPolicy(want, "someone-elses")
	for _, name := range shrunk {
		if doc, err := gateway.ManagedPolicy(f.ctx, base+name); err != nil || doc != nil {
			t.Fatalf("orphan %s is left: %s %v", name, doc, err)
		}
	}
}

// managedMark is the store's mark of the dev environment's role of kind.
func (f *fixture) managedMark(kind store.RoleKind) int {
	f.t.Helper()
	n, err := f.runner.managedMark(f.ctx, f.key(""), kind)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// TestSmallEnvironmentLooksForNoManagedPolicy: an environment whose grants
// fit its roles' inline policies is created, updated and deleted without
// a single IAM GetPolicy: no managed policy of its roles can exist.
func TestSmallEnvironmentLooksForNoManagedPolicy(t *testing.T) {
	f := setup(t)
	f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key("photos"), Bucket: f.bucket("photos"), Permissions: storageAll}))
	f.mustComplete(f.runner.Update(f.ctx, f.key("photos"), storageREAD))
	f.mustComplete(f.runner.Delete(f.ctx, f.key("photos")))
	if n := f.target.policyReads.Load(); n != 0 {
		t.Fatalf("a create, an update and a delete in a small environment made %d GetPolicy calls, want 0", n)
	}
}

// TestApplyCreateMakesAJobsCalls: ApplyCreate, which benchmarks use as
// "the same calls made directly", takes its environment as new, as a
// create job's store shows a new one, so like the job it looks for no
// managed policy (it used to look for all ten a role may hold, on both
// roles: 20 GetPolicy calls a job does not make).
func TestApplyCreateMakesAJobsCalls(t *testing.T) {
	f := setup(t)
	k := f.key("direct")
	res := store.Resource{ResourceKey: k, Bucket: f.bucket("direct"), Desired: storageAll}
	if _, err := ApplyCreate(f.ctx, f.target, f.runner.cfg, res); err != nil {
		t.Fatal(err)
	}
	if n := f.target.policyReads.Load(); n != 0 {
		t.Fatalf("ApplyCreate in a new environment made %d GetPolicy calls, want 0 as a create job", n)
	}
}

// TestShrunkEnvironmentDropsItsManagedPolicies: an environment whose auth
// role needs managed policies records how many it may hold; once its
// resources go, the policies go, the mark with them, and the next write
// looks for none.
func TestShrunkEnvironmentDropsItsManagedPolicies(t *testing.T) {
	f := setup(t)
	f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key("r0"), Bucket: f.bucket("0"), Permissions: storageAll}))
	roles := f.envRoles(f.app, "dev")
	f.crowd(roles.Auth)
	f.crowd(roles.Unauth)
	const grown, kept = 25, 13
	for i := 1; i < grown; i++ {
		f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key(fmt.Sprintf("r%d", i)), Bucket: f.bucket(fmt.Sprint(i)), Permissions: storageAll}))
	}
	attached := func() int {
		a, err := gateway.AttachedRolePolicies(f.ctx, roles.Auth)
		if err != nil {
			t.Fatal(err)
		}
		return len(a)
	}
	big := attached()
	if big < 2 {
		t.Fatalf("%d full-permission resources beside a crowding policy need %d managed policies, want 2 or more", grown, big)
	}
	if n := f.managedMark(store.RoleAuth); n != big {
		t.Fatalf("mark of the auth role = %d with %d managed policies attached", n, big)
	}
	want := map[string]store.Permissions{}
	for i := range grown {
		want[f.bucket(fmt.Sprint(i))] = storageAll
	}
	shrink := func(from, to int) {
		for i := from; i < to; i++ {
			f.mustComplete(f.runner.Delete(f.ctx, f.key(fmt.Sprintf("r%d", i))))
			delete(want, f.bucket(fmt.Sprint(i)))
		}
		f.wantEnvPolicy(want, "someone-elses")
	}
	shrink(kept, grown)
	if small := attached(); small >= big || f.managedMark(store.RoleAuth) != small {
		t.Fatalf("after shrinking to %d resources: %d managed policies (from %d), mark %d", kept, small, big, f.managedMark(store.RoleAuth))
	}
	shrink(1, kept)
	if left := f.managedLeft(f.managedBase(roles.Auth), "dev"); len(left) > 0 {
		t.Fatalf("managed policies left after the environment shrank: %v", left)
	}
	if n := f.managedMark(store.RoleAuth); n != 0 {
		t.Fatalf("mark of the auth role = %d with no managed policy needed", n)
	}
	f.target.policyReads.Store(0)
	f.mustComplete(f.runner.Update(f.ctx, f.key("r0"), storageREAD))
	if n := f.target.policyReads.Load(); n != 0 {
		t.Fatalf("an update after the environment shrank made %d GetPolicy calls, want 0", n)
	}
}

// stopAtAttach is the gateway under a process that is stopped between
// creating a managed policy and attaching it: the attach stops the runner
// (stop) and never reaches the target.
type stopAtAttach struct {
	*countingTarget
	stop    context.CancelFunc
	stopped chan struct{}
	once    *sync.Once
}

func (s stopAtAttach) AttachRolePolicy(ctx context.Context, role, arn string) error {
	s.once.Do(func() { s.stop(); close(s.stopped) })
	return context.Canceled
}

// TestManagedPolicyOfAStoppedJobGoesWithNextJob: a create stopped between
// creating a managed policy and attaching it leaves the policy, and the
// mark raised before it; cancelled, the job's rollback, which needs no
// managed policy, deletes it and lowers the mark.
func TestManagedPolicyOfAStoppedJobGoesWithNextJob(t *testing.T) {
	f := setup(t)
	f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key("r0"), Bucket: f.bucket("0"), Permissions: storageREAD}))
	roles := f.envRoles(f.app, "dev")
	base := f.managedBase(roles.Auth)
	f.crowd(roles.Auth)
	ctx, stop := context.WithCancel(f.ctx)
	target := stopAtAttach{countingTarget: f.target, stop: stop, stopped: make(chan struct{}), once: &sync.Once{}}
	dying := New(f.store, target, f.runner.cfg)
	done := make(chan struct{})
	go func() { _ = dying.Run(ctx); close(done) }()
	var stopped store.Job
	for i := 1; i < 6 && stopped.ID == ""; i++ {
		j, err := dying.Create(f.ctx, CreateInput{Key: f.key(fmt.Sprintf("r%d", i)), Bucket: f.bucket(fmt.Sprint(i)), Permissions: storageAll})
		if err != nil {
			t.Fatal(err)
		}
		// Until the job settles or the process stops in it.
		for settled := false; !settled && stopped.ID == ""; {
			select {
			case <-target.stopped:
				stopped = j
			case <-time.After(5 * time.Millisecond):
				if err := f.store.View(f.ctx, func(tx *store.Tx) error {
					got, err := tx.Job(j.ID)
					settled = !got.Pending()
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	<-done
	if stopped.ID == "" {
		t.Fatal("five full-permission resources beside a crowding policy needed no managed policy")
	}
	first := policy.EnvManagedPolicyName(f.app, "dev", string(store.RoleAuth), 1)
	if doc, err := gateway.ManagedPolicy(f.ctx, base+first); err != nil || doc == nil {
		t.Fatalf("the stopped job left no managed policy %s: %v", first, err)
	}
	if n := f.managedMark(store.RoleAuth); n < 1 {
		t.Fatalf("mark of the auth role = %d after a job created managed policy 1", n)
	}
	if _, err := f.runner.UpdateJob(f.ctx, f.app, "dev", stopped.ID, "", store.StatusCancelled); err != nil {
		t.Fatal(err)
	}
	f.runUntilIdle(stopped.ID)
	if got := f.wait(stopped.ID); got.Status != store.StatusCancelled {
		t.Fatalf("cancelled job: %+v", got)
	}
	if left := f.managedLeft(base, "dev"); len(left) > 0 {
		t.Fatalf("managed policies left by the stopped job: %v", left)
	}
	if n := f.managedMark(store.RoleAuth); n != 0 {
		t.Fatalf("mark of the auth role = %d after the orphan went", n)
	}
}

// noManagedPolicies is the gateway as a target without managed policies
// (Ceph RGW 16) answers.
type noManagedPolicies struct{ *countingTarget }

func (noManagedPolicies) AttachedRolePolicies(context.Context, string) ([]s3iam.AttachedPolicy, error) {
	return nil, &smithy.GenericAPIError{Code: "NotImplemented", Message: "no managed policies here"}
}

// TestTargetWithoutManagedPoliciesDropsTheMark: the marks migration 7
// gives an environment's roles go with its next job on a target that can
// hold no managed policy, and the job looks for none.
func TestTargetWithoutManagedPoliciesDropsTheMark(t *testing.T) {
	f := setup(t)
	f.runner = New(f.store, noManagedPolicies{f.target}, f.runner.cfg)
	f.mustComplete(f.runner.Create(f.ctx, CreateInput{Key: f.key("photos"), Bucket: f.bucket("photos"), Permissions: storageAll}))
	for _, kind := range roleKinds {
		if err := f.runner.setManagedMark(f.ctx, f.key(""), kind, MaxManagedPoliciesPerRole); err != nil {
			t.Fatal(err)
		}
	}
	f.mustComplete(f.runner.Update(f.ctx, f.key("photos"), storageREAD))
	for _, kind := range roleKinds {
		if n := f.managedMark(kind); n != 0 {
			t.Fatalf("mark of the %s role = %d on a target without managed policies", kind, n)
		}
	}
	if n := f.target.policyReads.Load(); n != 0 {
		t.Fatalf("%d GetPolicy calls on a target without managed policies", n)
	}
}
