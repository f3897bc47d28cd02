package jobs

import (
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// TestBucketRemovedBehindTheResource: the bucket of a resource is deleted
// by hand. An update cannot apply and says what to do; a delete still
// removes the role policies and the record.
func TestBucketRemovedBehindTheResource(t *testing.T) {
	f := setup(t)
	f.runner.cfg.DeleteBuckets = true
	f.start()
	k := f.key("gone")
	b := f.bucket("gone")
	j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: b,
		Permissions: store.Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.wait(j.ID); got.Status != store.StatusCompleted {
		t.Fatalf("create: %+v", got)
	}
	if err := gateway.DeleteBucketPolicy(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	if deleted, err := gateway.DeleteBucketIfEmpty(f.ctx, b); err != nil || !deleted {
		t.Fatalf("removing the bucket by hand: %v %v", deleted, err)
	}

	j, err = f.runner.Update(f.ctx, k, store.Permissions{Authenticated: []string{"READ", "DELETE"}})
	if err != nil {
		t.Fatal(err)
	}
	got := f.wait(j.ID)
	want := `The bucket "` + b + `" of resource "gone" no longer exists; delete the resource with DeleteBackendStorage, or recreate the bucket and retry.`
	if got.Status != store.StatusFailed || got.Error != want {
		t.Fatalf("update of a resource without its bucket: %+v\nwant error %q", got, want)
	}
	res, err := f.resource(k)
	if err != nil || res.ActiveJob != "" || len(res.Desired.Authenticated) != 1 {
		t.Fatalf("resource after the failed update: %+v %v", res, err)
	}

	j, err = f.runner.Delete(f.ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	got = f.wait(j.ID)
	if got.Status != store.StatusCompleted || !strings.Contains(got.Error, `bucket "`+b+`" no longer exists`) {
		t.Fatalf("delete of a resource without its bucket: %+v", got)
	}
	if _, err := f.resource(k); err == nil {
		t.Fatal("the deleted resource is still recorded")
	}
	name := policy.RolePolicyName(k.AppID, k.Env, k.Name)
	for _, tmpl := range []string{f.runner.cfg.AuthRoleTemplate, f.runner.cfg.UnauthRoleTemplate} {
		role := RoleName(tmpl, k.AppID, k.Env)
		if doc, err := gateway.RolePolicy(f.ctx, role, name); err != nil || doc != nil {
			t.Fatalf("role %q still holds policy %q after the delete: %s %v", role, name, doc, err)
		}
	}
	if ok, _ := gateway.HeadBucket(f.ctx, b); ok {
		t.Fatal("the delete created the bucket again")
	}
}
