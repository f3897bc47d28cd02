package jobs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

var storageAll = store.Permissions{Authenticated: []string{"CREATE_AND_UPDATE", "DELETE", "READ"}, Unauthenticated: []string{"CREATE_AND_UPDATE", "DELETE", "READ"}}

// wantEnvPolicy checks that each role of f's "dev" environment holds
// exactly one policy of ours, the environment's, granting what want (bucket
// → permissions) grants, beside the policies named in others.
func (f *fixture) wantEnvPolicy(want map[string]store.Permissions, others ...string) {
	f.t.Helper()
	var in []policy.EnvResource
	for b, p := range want {
		in = append(in, envResource(b, p))
	}
	auth, unauth := policy.EnvDocuments(policy.EnvSidPrefix(f.app, "dev"), in)
	name := policy.EnvRolePolicyName(f.app, "dev")
	for _, role := range []struct {
		tmpl string
		doc  *policy.Document
	}{{DefaultAuthRoleTemplate, auth}, {DefaultUnauthRoleTemplate, unauth}} {
		r := RoleName(role.tmpl, f.app, "dev")
		names := f.policiesOn(r)
		wantNames := slices.Clone(others)
		if role.doc != nil {
			wantNames = append(wantNames, name)
		}
		slices.Sort(names)
		slices.Sort(wantNames)
		if !slices.Equal(names, wantNames) {
			f.t.Fatalf("role %q holds %v, want %v", r, names, wantNames)
		}
		if role.doc == nil {
			continue
		}
		got, err := gateway.RolePolicy(f.ctx, r, name)
		if err != nil {
			f.t.Fatal(err)
		}
		wantDoc, _ := json.Marshal(role.doc)
		if !policy.Equivalent(got, wantDoc) {
			f.t.Fatalf("role %q policy\n got %s\nwant %s", r, got, wantDoc)
		}
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
		return f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: b, Permissions: storageAll})
	})
	f.wantEnvPolicy(want)

	// Every other resource drops to READ, the rest stay as they are.
	change := func(i int, k store.ResourceKey) (store.Job, error) {
		p := storageAll
		if i%2 == 0 {
			p = storageREAD
		}
		want[f.bucket(fmt.Sprintf("c%02d", i))] = p
		return f.runner.Update(f.ctx, k, p)
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

// TestEnvironmentCeiling fills one environment with full-permission
// resources up to what its roles' 10,240 characters hold, computed from
// the policy package for these bucket names: all of them complete, and the
// next fails naming the role, the sizes and the limit, leaving no trace.
func TestEnvironmentCeiling(t *testing.T) {
	f := setup(t)
	f.start()
	bucket := func(i int) string { return f.bucket(fmt.Sprintf("%02d", i)) }
	var in []policy.EnvResource
	ceiling := 0
	for ; ; ceiling++ {
		in = append(in, envResource(bucket(ceiling), storageAll))
		auth, _ := policy.EnvDocuments(policy.EnvSidPrefix(f.app, "dev"), in)
		if b, _ := json.Marshal(auth); len(b) > MaxRolePolicyChars {
			break
		}
	}
	t.Logf("%d full-permission resources with %d-character bucket names fit", ceiling, len(bucket(0)))
	for i := 0; i <= ceiling; i++ {
		j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key(fmt.Sprintf("r%02d", i)), Bucket: bucket(i), Permissions: storageAll})
		if err != nil {
			t.Fatal(err)
		}
		got := f.wait(j.ID)
		if i < ceiling {
			if got.Status != store.StatusCompleted {
				t.Fatalf("create %d of %d: %+v", i+1, ceiling, got)
			}
			continue
		}
		role := RoleName(DefaultAuthRoleTemplate, f.app, "dev")
		for _, s := range []string{`"` + role + `"`, "10240", fmt.Sprintf("the %d storage resources", ceiling+1)} {
			if got.Status != store.StatusFailed || !strings.Contains(got.Error, s) {
				t.Fatalf("create past the ceiling: %s %q, want FAILED naming %s", got.Status, got.Error, s)
			}
		}
		if ok, _ := gateway.HeadBucket(f.ctx, bucket(i)); ok {
			t.Fatal("the refused create left its bucket")
		}
		doc, err := gateway.RolePolicy(f.ctx, role, policy.EnvRolePolicyName(f.app, "dev"))
		if err != nil || strings.Contains(string(doc), bucket(i)) {
			t.Fatalf("the refused create is in the role policy: %v", err)
		}
	}
}
