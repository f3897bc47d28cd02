package jobs

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/store"
	"github.com/amplifybackendd/amplifybackendd/target"
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

// panickyTarget is the real gateway with a bug: HasIAM panics while panics
// are left. Jobs call HasIAM both inside their steps and between them.
type panickyTarget struct {
	*target.Target
	panics atomic.Int64
}

func (p *panickyTarget) HasIAM() bool {
	if p.panics.Add(-1) >= 0 {
		panic("injected bug")
	}
	return p.Target.HasIAM()
}

// TestPanicIsAFailedAttempt: a panic in a job, inside a step or between
// steps, is retried like a failed attempt; once the budget is spent the job
// FAILS naming where, and the resource is released. The runner goes on.
func TestPanicIsAFailedAttempt(t *testing.T) {
	f := setup(t)
	k := f.key("buggy")
	perms := store.Permissions{Authenticated: []string{"READ"}}
	j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: f.bucket("buggy"), Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	f.runUntilIdle(j.ID)
	pt := &panickyTarget{Target: gateway}
	pt.panics.Store(1 << 30)
	f.runner = New(f.store, pt, f.runner.cfg)
	f.start()

	released := func(what string) {
		t.Helper()
		res, err := f.resource(k)
		if err != nil || res.ActiveJob != "" || res.Phase != store.PhaseActive || !res.Desired.Equal(perms) {
			t.Fatalf("resource after %s: %+v %v", what, res, err)
		}
	}
	// A delete first calls HasIAM between steps.
	j, err = f.runner.Delete(f.ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	got := f.wait(j.ID)
	if want := `internal error in step "DeleteBackendStorage": panic: injected bug (gave up after 3 attempts)`; got.Status != store.StatusFailed || got.Error != want {
		t.Fatalf("delete panicking between steps: %+v\nwant error %q", got, want)
	}
	released("the panicking delete")
	// An update first calls it inside the "check policy sizes" step.
	j, err = f.runner.Update(f.ctx, k, store.Permissions{Authenticated: []string{"READ", "DELETE"}})
	if err != nil {
		t.Fatal(err)
	}
	got = f.wait(j.ID)
	if want := `internal error in step "check policy sizes": panic: injected bug (gave up after 3 attempts)`; got.Status != store.StatusFailed || got.Error != want {
		t.Fatalf("update panicking in a step: %+v\nwant error %q", got, want)
	}
	released("the panicking update")
	// A single panic, in a step (update) or between steps (delete), is
	// retried within the budget and the job completes.
	for _, op := range []string{"update", "delete"} {
		pt.panics.Store(1)
		if op == "update" {
			j, err = f.runner.Update(f.ctx, k, perms)
		} else {
			j, err = f.runner.Delete(f.ctx, k)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := f.wait(j.ID); got.Status != store.StatusCompleted {
			t.Fatalf("%s after one panic: %+v", op, got)
		}
	}
}

// panicOn is a log handler that panics on one message: a fault in the
// executor's own bookkeeping, outside any step, which no target can cause.
type panicOn struct {
	slog.Handler
	msg string
}

func (h panicOn) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		panic("log handler broke on " + h.msg)
	}
	return h.Handler.Handle(ctx, r)
}

// TestPanicOutsideStepsFailsTheJob: a panic while the executor records a
// failure is retried, then the job is failed anyway with that error, its
// rollback run and its resource released.
func TestPanicOutsideStepsFailsTheJob(t *testing.T) {
	f := setup(t)
	cfg := f.runner.cfg
	cfg.Logger = slog.New(panicOn{Handler: slog.NewTextHandler(io.Discard, nil), msg: "job failed"})
	f.runner = New(f.store, f.target, cfg)
	f.start()
	b := f.bucket("taken")
	if err := gateway.CreateBucket(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	k := f.key("unlucky")
	j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	got := f.wait(j.ID)
	if got.Status != store.StatusFailed || !strings.Contains(got.Error, "internal error in step") ||
		!strings.Contains(got.Error, "panic: log handler broke on job failed (gave up after 3 attempts)") {
		t.Fatalf("create whose failure panics: %+v", got)
	}
	if _, err := f.resource(k); err == nil {
		t.Fatal("the failed create is still recorded")
	}
	if ok, _ := gateway.HeadBucket(f.ctx, b); !ok {
		t.Fatal("the rollback removed a bucket that was not ours")
	}
	// The resource is free: the same create can be asked for again.
	if _, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: f.bucket("free")}); err != nil {
		t.Fatalf("create after the failure: %v", err)
	}
}
