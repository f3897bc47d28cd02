package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
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
	// GetBackend shows the resource's warnings in its error field.
	if n := len(res.Warnings); n == 0 || !strings.HasSuffix(res.Warnings[n-1], want) {
		t.Fatalf("the resource does not carry the failure for GetBackend: %q", res.Warnings)
	}

	j, err = f.runner.Delete(f.ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	got = f.wait(j.ID)
	if got.Status != store.StatusCompleted || got.Error != "" || !strings.Contains(strings.Join(got.Warnings, ";"), `bucket "`+b+`" no longer exists`) {
		t.Fatalf("delete of a resource without its bucket: %+v", got)
	}
	if _, err := f.resource(k); err == nil {
		t.Fatal("the deleted resource is still recorded")
	}
	name := policy.EnvRolePolicyName(k.AppID, k.Env)
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
	*s3iam.Target
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

// WithAttrs and WithGroup keep the panic on the loggers a job's events go
// through, which carry the job's fields.
func (h panicOn) WithAttrs(as []slog.Attr) slog.Handler {
	return panicOn{Handler: h.Handler.WithAttrs(as), msg: h.msg}
}

func (h panicOn) WithGroup(name string) slog.Handler {
	return panicOn{Handler: h.Handler.WithGroup(name), msg: h.msg}
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
	if _, err := gateway.CreateBucket(f.ctx, b); err != nil {
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

// otherParty is an S3 client of someone else sharing the target's account
// (an operator, another tool): buckets it creates answer our CreateBucket
// with BucketAlreadyOwnedByYou.
func otherParty() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3Endpoint), UsePathStyle: true,
		Credentials: credentials.StaticCredentialsProvider{Value: aws.Credentials{AccessKeyID: rootKey, SecretAccessKey: rootSecret}}})
}

// racedTarget is the real gateway where another party creates the bucket
// just before our CreateBucket reaches it, after our HeadBucket found none.
type racedTarget struct{ *countingTarget }

func (r racedTarget) CreateBucket(ctx context.Context, b string) (bool, error) {
	if _, err := otherParty().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		return false, err
	}
	return r.countingTarget.CreateBucket(ctx, b)
}

// untouched fails the test unless bucket b exists and carries nothing of
// ours: no tags, no CORS rule, no bucket policy.
func untouched(t *testing.T, b string) {
	t.Helper()
	if ok, err := gateway.HeadBucket(context.Background(), b); !ok {
		t.Fatalf("bucket %q was removed: %v", b, err)
	}
	if tags, err := gateway.Tags(context.Background(), b); err != nil || tags[OwnerTag] != "" {
		t.Fatalf("bucket %q got our tags: %v %v", b, tags, err)
	}
	cors, err := otherParty().GetBucketCors(context.Background(), &s3.GetBucketCorsInput{Bucket: aws.String(b)})
	if err == nil && len(cors.CORSRules) > 0 {
		t.Fatalf("bucket %q got a CORS rule", b)
	}
	if doc, err := gateway.BucketPolicy(context.Background(), b); err != nil || strings.Contains(string(doc), "amplifybackendd") {
		t.Fatalf("bucket %q got our policy: %s %v", b, doc, err)
	}
}

// TestBucketCreatedByOthersMidCreateIsForeign: within one execution, a
// bucket our CreateBucket did not create is someone else's: the job fails,
// and neither it nor its rollback touches the bucket.
func TestBucketCreatedByOthersMidCreateIsForeign(t *testing.T) {
	f := setup(t)
	f.runner = New(f.store, racedTarget{f.target}, f.runner.cfg)
	f.runner.cfg.DeleteBuckets = true
	f.start()
	b := f.bucket("raced")
	j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key("raced"), Bucket: b,
		Permissions: store.Permissions{Unauthenticated: []string{"READ"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := f.wait(j.ID)
	if got.Status != store.StatusFailed || !strings.Contains(got.Error, "created by someone else") {
		t.Fatalf("create raced by another party: %+v", got)
	}
	untouched(t, b)
}

// TestCrashWindowAdoptsOnlyAFreshBucket: a create recorded that it was about
// to create the bucket, then the process died before the answer. The next
// execution takes the bucket it finds as its own only while it has no tags,
// no policy and no objects; anything else is left untouched.
func TestCrashWindowAdoptsOnlyAFreshBucket(t *testing.T) {
	f := setup(t)
	cases := []struct {
		name    string
		prepare func(b string) error
		reason  string // "" adopts
	}{
		{"fresh", func(string) error { return nil }, ""},
		{"object", func(b string) error {
			_, err := otherParty().PutObject(f.ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("theirs"), Body: strings.NewReader("x")})
			return err
		}, "holds objects"},
		{"tagged", func(b string) error {
			_, err := gateway.EnsureTags(f.ctx, b, map[string]string{"team": "data"})
			return err
		}, "carries tags"},
		{"policy", func(b string) error {
			return gateway.PutBucketPolicy(f.ctx, b, []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"Theirs","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::`+b+`/x/*"}]}`))
		}, "has a bucket policy"},
	}
	var ids []string
	for _, c := range cases {
		b := f.bucket(c.name)
		j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key(c.name), Bucket: b})
		if err != nil {
			t.Fatal(err)
		}
		// The intent is recorded and CreateBucket went out; the process died
		// before its answer.
		err = f.store.Batch(f.ctx, func(tx *store.Tx) error {
			j, err := tx.Job(j.ID)
			if err != nil {
				return err
			}
			j.BucketRequested = true
			return tx.PutJob(j)
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := otherParty().CreateBucket(f.ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
		if err := c.prepare(b); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	f.runUntilIdle(ids...)
	for i, c := range cases {
		got := f.wait(ids[i])
		b := f.bucket(c.name)
		if c.reason == "" {
			tags, _ := gateway.Tags(f.ctx, b)
			if got.Status != store.StatusCompleted || tags[OwnerTag] == "" {
				t.Fatalf("%s: %+v, tags %v", c.name, got, tags)
			}
			continue
		}
		if got.Status != store.StatusFailed || !strings.Contains(got.Error, c.reason) {
			t.Fatalf("%s: %+v, want FAILED saying it %s", c.name, got, c.reason)
		}
		untouched(t, b)
	}
}

// lostAnswerTarget is the real gateway where the answer to the first
// CreateBucket is lost after the bucket was made, as a cut connection does.
type lostAnswerTarget struct {
	*countingTarget
	lost atomic.Bool
}

func (l *lostAnswerTarget) CreateBucket(ctx context.Context, b string) (bool, error) {
	created, err := l.countingTarget.CreateBucket(ctx, b)
	if err != nil || l.lost.Swap(true) {
		return created, err
	}
	return false, fmt.Errorf("s3 CreateBucket %q: %w", b, syscall.ECONNRESET)
}

// TestLostCreateAnswerIsOurs: the answer to our CreateBucket is lost; the
// retried step finds the bucket fresh and takes it as the one it made. The
// retry is counted (Runner.Retries).
func TestLostCreateAnswerIsOurs(t *testing.T) {
	f := setup(t)
	f.runner = New(f.store, &lostAnswerTarget{countingTarget: f.target}, f.runner.cfg)
	f.start()
	b := f.bucket("lost")
	j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key("lost"), Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.wait(j.ID); got.Status != store.StatusCompleted {
		t.Fatalf("create whose CreateBucket answer was lost: %+v", got)
	}
	if n := f.runner.Retries(); n != 1 {
		t.Fatalf("%d retries counted, want 1", n)
	}
	if tags, err := gateway.Tags(f.ctx, b); err != nil || tags[OwnerTag] == "" {
		t.Fatalf("bucket not tagged as ours: %v %v", tags, err)
	}
}
