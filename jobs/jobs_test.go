package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/embedded"
	"github.com/amplifybackendd/amplifybackendd/embedded/embeddedtest"
	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// gateway is the embedded Versity gateway shared by this package's tests
// (one per process); tests keep apart by app ids and bucket names.
var (
	gateway     *s3iam.Target
	s3Endpoint  string
	iamEndpoint string
)

const rootKey, rootSecret = "jobstestroot", "jobstestrootsecret"

func TestMain(m *testing.M) {
	os.Exit(embeddedtest.Main(m, rootKey, rootSecret, func(gw *embedded.Server) (err error) {
		s3Endpoint, iamEndpoint = gw.S3Endpoint, gw.IAMEndpoint
		gateway, err = s3iam.New(context.Background(), s3iam.Config{S3Endpoint: gw.S3Endpoint, IAMEndpoint: gw.IAMEndpoint,
			AccessKey: rootKey, SecretKey: rootSecret})
		return err
	}))
}

// countingTarget is the real gateway with a count of the calls that change
// something: Put/Create/Delete calls, and Ensure calls that report a write.
type countingTarget struct {
	*s3iam.Target
	writes atomic.Int64
	mu     sync.Mutex
	log    []string
	// buckets are the buckets CreateBucket was asked for, in order.
	buckets []string
	// policyReads counts ManagedPolicy calls (IAM GetPolicy), which
	// change nothing but count against the target's request quota.
	policyReads atomic.Int64
}

func (c *countingTarget) ManagedPolicy(ctx context.Context, arn string) ([]byte, error) {
	c.policyReads.Add(1)
	return c.Target.ManagedPolicy(ctx, arn)
}

func (c *countingTarget) wrote(name string) {
	c.writes.Add(1)
	c.mu.Lock()
	c.log = append(c.log, name)
	c.mu.Unlock()
}

func (c *countingTarget) ensured(name string, changed bool, err error) (bool, error) {
	if changed {
		c.wrote(name)
	}
	return changed, err
}

func (c *countingTarget) CreateBucket(ctx context.Context, b string) (bool, error) {
	c.wrote("CreateBucket")
	c.mu.Lock()
	c.buckets = append(c.buckets, b)
	c.mu.Unlock()
	return c.Target.CreateBucket(ctx, b)
}
func (c *countingTarget) DeleteBucketIfEmpty(ctx context.Context, b string) (bool, error) {
	c.wrote("DeleteBucket")
	return c.Target.DeleteBucketIfEmpty(ctx, b)
}
func (c *countingTarget) EnsureTags(ctx context.Context, b string, w map[string]string) (bool, error) {
	ch, err := c.Target.EnsureTags(ctx, b, w)
	return c.ensured("Tags", ch, err)
}
func (c *countingTarget) EnsureCORSRule(ctx context.Context, b string, r s3iam.CORSRule) (bool, error) {
	ch, err := c.Target.EnsureCORSRule(ctx, b, r)
	return c.ensured("CORS", ch, err)
}
func (c *countingTarget) EnsureDefaultEncryption(ctx context.Context, b string) (bool, error) {
	ch, err := c.Target.EnsureDefaultEncryption(ctx, b)
	return c.ensured("Encryption", ch, err)
}
func (c *countingTarget) EnsureAbortMultipartRule(ctx context.Context, b, id string, d int32) (bool, error) {
	ch, err := c.Target.EnsureAbortMultipartRule(ctx, b, id, d)
	return c.ensured("Lifecycle", ch, err)
}
func (c *countingTarget) PutBucketPolicy(ctx context.Context, b string, doc []byte) error {
	c.wrote("PutBucketPolicy")
	return c.Target.PutBucketPolicy(ctx, b, doc)
}
func (c *countingTarget) DeleteBucketPolicy(ctx context.Context, b string) error {
	c.wrote("DeleteBucketPolicy")
	return c.Target.DeleteBucketPolicy(ctx, b)
}
func (c *countingTarget) EnsureRole(ctx context.Context, role string, trust []byte, tags map[string]string) (bool, error) {
	ch, err := c.Target.EnsureRole(ctx, role, trust, tags)
	return c.ensured("Role", ch, err)
}
func (c *countingTarget) PutRolePolicy(ctx context.Context, role, name string, doc []byte) error {
	c.wrote("PutRolePolicy")
	return c.Target.PutRolePolicy(ctx, role, name, doc)
}
func (c *countingTarget) DeleteRolePolicy(ctx context.Context, role, name string) error {
	c.wrote("DeleteRolePolicy")
	return c.Target.DeleteRolePolicy(ctx, role, name)
}
func (c *countingTarget) PutManagedPolicy(ctx context.Context, arn, name string, doc []byte) error {
	c.wrote("PutManagedPolicy")
	return c.Target.PutManagedPolicy(ctx, arn, name, doc)
}
func (c *countingTarget) AttachRolePolicy(ctx context.Context, role, arn string) error {
	c.wrote("AttachRolePolicy")
	return c.Target.AttachRolePolicy(ctx, role, arn)
}
func (c *countingTarget) DeleteManagedPolicy(ctx context.Context, role, arn string) error {
	c.wrote("DeleteManagedPolicy")
	return c.Target.DeleteManagedPolicy(ctx, role, arn)
}

type fixture struct {
	t      *testing.T
	ctx    context.Context
	store  *store.Store
	target *countingTarget
	runner *Runner
	app    string
}

// setup returns a runner over a fresh store and the shared gateway; the
// runner is not running until start is called.
func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	st, err := store.Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ct := &countingTarget{Target: gateway}
	f := &fixture{t: t, ctx: context.Background(), store: st, target: ct,
		app: strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))}
	f.runner = New(st, ct, Config{Workers: 2, PublicGuestAccess: true,
		Retry:  RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return f
}

// start runs the runner until the test ends.
func (f *fixture) start() {
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { _ = f.runner.Run(ctx); close(done) }()
	f.t.Cleanup(func() { cancel(); <-done })
}

func (f *fixture) key(name string) store.ResourceKey {
	return store.ResourceKey{AppID: f.app, Env: "dev", Name: name}
}

// wait polls the store until the job is no longer pending.
func (f *fixture) wait(id string) store.Job {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var j store.Job
		if err := f.store.View(f.ctx, func(tx *store.Tx) (err error) { j, err = tx.Job(id); return }); err != nil {
			f.t.Fatal(err)
		}
		if !j.Pending() {
			return j
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("job %s still pending: %+v", id, j)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) resource(k store.ResourceKey) (store.Resource, error) {
	var r store.Resource
	err := f.store.View(f.ctx, func(tx *store.Tx) (err error) { r, err = tx.Resource(k); return })
	return r, err
}

// bucket names a bucket unique to this test.
func (f *fixture) bucket(suffix string) string {
	sum := sha256.Sum256([]byte(f.t.Name()))
	return "t-" + hex.EncodeToString(sum[:6]) + "-" + suffix
}

func putTestObject(t *testing.T, bucket string) {
	t.Helper()
	if _, err := otherParty().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("public/x"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateThenReconcileTwiceWritesNothing(t *testing.T) {
	f := setup(t)
	f.start()
	k := f.key("photos")
	j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: f.bucket("a"),
		Permissions: store.Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.wait(j.ID); got.Status != store.StatusCompleted {
		t.Fatalf("create: %+v", got)
	}
	if f.target.writes.Load() == 0 {
		t.Fatal("create wrote nothing")
	}
	res, err := f.resource(k)
	if err != nil || !res.CreatedBucket || res.Applied == nil || res.Phase != store.PhaseActive || res.ActiveJob != "" {
		t.Fatalf("resource after create: %+v %v", res, err)
	}
	// Running the whole reconcile again, twice, changes nothing.
	for i := 0; i < 2; i++ {
		f.target.writes.Store(0)
		f.target.log = nil
		w := &work{job: store.Job{ID: "again", Operation: store.OpUpdate}, res: res}
		if err := f.runner.reconcilePresent(f.ctx, w); err != nil {
			t.Fatal(err)
		}
		if n := f.target.writes.Load(); n != 0 {
			t.Fatalf("second reconcile wrote %d times: %v", n, f.target.log)
		}
	}
	// Removing twice: the second run writes nothing either.
	w := &work{job: store.Job{ID: "gone", Operation: store.OpDelete}, res: res}
	if err := f.runner.applyPolicies(f.ctx, w, store.Permissions{}); err != nil {
		t.Fatal(err)
	}
	f.target.writes.Store(0)
	if err := f.runner.applyPolicies(f.ctx, w, store.Permissions{}); err != nil {
		t.Fatal(err)
	}
	if n := f.target.writes.Load(); n != 0 {
		t.Fatalf("second removal wrote %d times: %v", n, f.target.log)
	}
}

func TestRecoveryResumesPendingJobs(t *testing.T) {
	f := setup(t)
	k := f.key("resumed")
	// Accept without a running runner, as a crashed process would leave it.
	j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: f.bucket("r"), Permissions: store.Permissions{Authenticated: []string{"READ"}}})
	if err != nil {
		t.Fatal(err)
	}
	// A fresh runner on the same store finds it through the pending index,
	// and says it has recovered (readiness waits on that) only once Run
	// has queued it.
	f.runner = New(f.store, f.target, f.runner.cfg)
	select {
	case <-f.runner.Recovered():
		t.Fatal("recovered before Run")
	default:
	}
	f.start()
	<-f.runner.Recovered()
	if got := f.wait(j.ID); got.Status != store.StatusCompleted {
		t.Fatalf("resumed job: %+v", got)
	}
}

func TestOneJobPerResource(t *testing.T) {
	f := setup(t)
	k := f.key("busy")
	created, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: f.bucket("b")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.runner.Update(f.ctx, k, store.Permissions{Authenticated: []string{"READ"}})
	var pending *PendingJobError
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &pending) || *pending != (PendingJobError{Resource: k, Job: created.ID}) {
		t.Fatalf("update during create: %v, want the resource and its pending job named", err)
	}
	_, err = f.runner.Delete(f.ctx, k)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete during create: %v", err)
	}
	// A different resource is not blocked.
	if _, err := f.runner.Create(f.ctx, CreateInput{Key: f.key("other"), Bucket: f.bucket("c")}); err != nil {
		t.Fatal(err)
	}
}

// TestImportRefusesBucketOfAnotherResource deletes a resource, which keeps
// its bucket, and imports that bucket into another environment: the import
// fails without writing a statement or recording a resource, since a
// bucket this service created is its resource's alone (an import would
// hand that resource's objects to whoever may import in the other
// environment). The resource itself takes the bucket back by being created
// again.
func TestImportRefusesBucketOfAnotherResource(t *testing.T) {
	f := setup(t)
	f.start()
	b := f.bucket("kept")
	k := f.key("orig")
	perms := store.Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ"}}
	for _, step := range []func() (store.Job, error){
		func() (store.Job, error) {
			return f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: b, Permissions: perms})
		},
		func() (store.Job, error) { return f.runner.Delete(f.ctx, k) },
	} {
		j, err := step()
		if err != nil {
			t.Fatal(err)
		}
		if got := f.wait(j.ID); got.Status != store.StatusCompleted {
			t.Fatalf("%s: %+v", j.Operation, got)
		}
	}
	before, err := gateway.BucketPolicy(f.ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	j, err := f.runner.Import(f.ctx, f.app, "other", b)
	if err != nil {
		t.Fatal(err)
	}
	got := f.wait(j.ID)
	if got.Status != store.StatusFailed || !strings.Contains(got.Error, "created by this service for another storage resource") {
		t.Fatalf("import of a bucket another resource created: %+v", got)
	}
	if after, _ := gateway.BucketPolicy(f.ctx, b); !bytes.Equal(before, after) && !policy.Equivalent(before, after) {
		t.Errorf("the refused import changed the bucket policy:\n%s\n->\n%s", before, after)
	}
	if _, err := f.resource(store.ResourceKey{AppID: f.app, Env: "other", Name: b}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused import left a resource: %v", err)
	}
	j, err = f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: b, Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.wait(j.ID); got.Status != store.StatusCompleted {
		t.Fatalf("the resource taking its bucket back: %+v", got)
	}
}

func TestForeignBucketPolicySurvives(t *testing.T) {
	f := setup(t)
	f.start()
	b := f.bucket("shared")
	if _, err := gateway.CreateBucket(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	foreign := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"SomeoneElse","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/shared/*"}]}`, b)
	if err := gateway.PutBucketPolicy(f.ctx, b, []byte(foreign)); err != nil {
		t.Fatal(err)
	}
	k := store.ResourceKey{AppID: f.app, Env: "dev", Name: b}
	steps := []func() (store.Job, error){
		func() (store.Job, error) { return f.runner.Import(f.ctx, f.app, "dev", b) },
		func() (store.Job, error) {
			return f.runner.Update(f.ctx, k, store.Permissions{Unauthenticated: []string{"READ", "DELETE"}})
		},
		func() (store.Job, error) { return f.runner.Delete(f.ctx, k) },
	}
	for i, step := range steps {
		j, err := step()
		if err != nil {
			t.Fatal(err)
		}
		if got := f.wait(j.ID); got.Status != store.StatusCompleted {
			t.Fatalf("step %d: %+v", i, got)
		}
		cur, err := gateway.BucketPolicy(f.ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(cur), `"SomeoneElse"`) {
			t.Fatalf("step %d removed the foreign statement: %s", i, cur)
		}
		ours := ourStatements(t, cur, policy.SidPrefix(k.AppID, k.Env, k.Name))
		if want := []int{0, 3, 0}[i]; ours != want {
			t.Fatalf("step %d: %d statements of ours, want %d: %s", i, ours, want, cur)
		}
	}
	if ok, _ := gateway.HeadBucket(f.ctx, b); !ok {
		t.Fatal("deleting an imported resource removed the bucket")
	}
}

func TestDeleteBucketsOnlyWhenOursAndEmpty(t *testing.T) {
	f := setup(t)
	f.runner.cfg.DeleteBuckets = true
	f.start()
	for _, c := range []struct {
		name  string
		fill  bool
		exist bool
	}{{"empty", false, false}, {"full", true, true}} {
		k := f.key(c.name)
		b := f.bucket(c.name)
		j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: b})
		if err != nil {
			t.Fatal(err)
		}
		f.wait(j.ID)
		if c.fill {
			if _, err := gateway.EnsureTags(f.ctx, b, map[string]string{"keep": "me"}); err != nil {
				t.Fatal(err)
			}
			putTestObject(t, b)
		}
		j, err = f.runner.Delete(f.ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		got := f.wait(j.ID)
		if got.Status != store.StatusCompleted {
			t.Fatalf("%s: %+v", c.name, got)
		}
		if ok, _ := gateway.HeadBucket(f.ctx, b); ok != c.exist {
			t.Fatalf("%s: bucket exists=%v, want %v (job %+v)", c.name, ok, c.exist, got)
		}
		if c.fill && (got.Error != "" || !strings.Contains(strings.Join(got.Warnings, ";"), "not empty")) {
			t.Fatalf("kept bucket not reported: %+v", got)
		}
	}
}

func TestRefusesSomeoneElsesBucket(t *testing.T) {
	f := setup(t)
	f.start()
	b := f.bucket("taken")
	if _, err := gateway.CreateBucket(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key("mine"), Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	got := f.wait(j.ID)
	if got.Status != store.StatusFailed || !strings.Contains(got.Error, "ImportBackendStorage") {
		t.Fatalf("create over an existing bucket: %+v", got)
	}
	if ok, _ := gateway.HeadBucket(f.ctx, b); !ok {
		t.Fatal("the rollback deleted a bucket that was not ours")
	}
	if _, err := f.resource(f.key("mine")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed create left its resource: %v", err)
	}
}

// runUntilIdle runs a runner until the given jobs are no longer pending,
// then stops it.
func (f *fixture) runUntilIdle(ids ...string) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { _ = f.runner.Run(ctx); close(done) }()
	for _, id := range ids {
		f.wait(id)
	}
	cancel()
	<-done
}

func TestCancelledUpdateAndDeleteAreUndone(t *testing.T) {
	f := setup(t)
	k := f.key("undo")
	b := f.bucket("undo")
	orig := store.Permissions{Unauthenticated: []string{"READ"}}
	j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: b, Permissions: orig})
	if err != nil {
		t.Fatal(err)
	}
	f.runUntilIdle(j.ID)
	prefix := policy.SidPrefix(k.AppID, k.Env, k.Name)
	ours := func() int {
		cur, err := gateway.BucketPolicy(f.ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		n := ourStatements(t, cur, prefix)
		return n
	}
	if ours() != 3 {
		t.Fatalf("guest READ should give 3 bucket statements, got %d", ours())
	}

	// Accepted but not yet executed, then cancelled: the desired state goes back.
	up, err := f.runner.Update(f.ctx, k, store.Permissions{Unauthenticated: []string{"CREATE_AND_UPDATE"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.runner.UpdateJob(f.ctx, k.AppID, k.Env, up.ID, "", store.StatusCancelled)
	if err != nil || c.Status != store.StatusCancelled {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	f.runUntilIdle(up.ID)
	res, err := f.resource(k)
	if err != nil || !res.Desired.Equal(orig) || res.ActiveJob != "" {
		t.Fatalf("after cancelled update: %+v %v", res, err)
	}
	if ours() != 3 {
		t.Fatalf("cancelled update changed the bucket policy: %d statements of ours", ours())
	}

	del, err := f.runner.Delete(f.ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.runner.UpdateJob(f.ctx, k.AppID, k.Env, del.ID, store.OpDelete, store.StatusCancelled); err != nil {
		t.Fatal(err)
	}
	f.runUntilIdle(del.ID)
	res, err = f.resource(k)
	if err != nil || res.Phase != store.PhaseActive || res.ActiveJob != "" {
		t.Fatalf("after cancelled delete: %+v %v", res, err)
	}
	if ours() != 3 {
		t.Fatal("cancelled delete removed our statements")
	}
	// Finished jobs cannot be cancelled, and a job is only found in its own environment.
	if _, err := f.runner.UpdateJob(f.ctx, k.AppID, k.Env, j.ID, "", store.StatusCancelled); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("cancel of a completed job: %v", err)
	}
	if _, err := f.runner.UpdateJob(f.ctx, k.AppID, "prod", j.ID, "", store.StatusCancelled); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("job from another environment: %v", err)
	}
}

func TestBucketPolicyLimitAppliesNothing(t *testing.T) {
	f := setup(t)
	// The embedded gateway keeps bucket policies in an extended attribute
	// and refuses ones near 4 KB, so the limit is lowered as for that target.
	f.runner.cfg.BucketPolicyLimit = 3000
	f.start()
	b := f.bucket("big")
	if _, err := gateway.CreateBucket(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	// Someone else's statements fill the bucket policy almost to the limit.
	var stmts []string
	for i := 0; len(strings.Join(stmts, ",")) < f.runner.cfg.BucketPolicyLimit-400; i++ {
		stmts = append(stmts, fmt.Sprintf(`{"Sid":"Theirs%03d","Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::%s/locked-%03d/*"}`, i, b, i))
	}
	foreign := `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	if err := gateway.PutBucketPolicy(f.ctx, b, []byte(foreign)); err != nil {
		t.Fatal(err)
	}
	k := store.ResourceKey{AppID: f.app, Env: "dev", Name: b}
	j, err := f.runner.Import(f.ctx, f.app, "dev", b)
	if err != nil {
		t.Fatal(err)
	}
	f.wait(j.ID)
	f.target.writes.Store(0)
	j, err = f.runner.Update(f.ctx, k, store.Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ", "CREATE_AND_UPDATE", "DELETE"}})
	if err != nil {
		t.Fatal(err)
	}
	got := f.wait(j.ID)
	if got.Status != store.StatusFailed || !strings.Contains(got.Error, "bytes, over the 3000 the target allows") {
		t.Fatalf("update over the bucket policy limit: %+v", got)
	}
	if n := f.target.writes.Load(); n != 0 {
		t.Fatalf("a refused update wrote %d times: %v", n, f.target.log)
	}
	cur, _ := gateway.BucketPolicy(f.ctx, b)
	if !policy.Equivalent(cur, []byte(foreign)) {
		t.Fatal("the foreign bucket policy changed")
	}
	res, _ := f.resource(k)
	if len(res.Desired.Unauthenticated) != 0 || res.ActiveJob != "" {
		t.Fatalf("the failed update is still the desired state: %+v", res)
	}
}

// heldCreate is one CreateBucket call held by gatedTarget: how many calls
// were in flight when it began, and how to let it go on.
type heldCreate struct {
	inFlight int64
	release  chan struct{}
}

// gatedTarget is the real gateway with every CreateBucket held until the
// test releases it, so the test looks at how many jobs execute together at
// moments it chooses instead of hoping a pause is long enough to catch them
// overlapping.
type gatedTarget struct {
	*s3iam.Target
	inFlight atomic.Int64
	held     chan heldCreate
	// done lets every call go when the test ends: the job gives
	// CreateBucket a context that stopping the runner does not cancel.
	done chan struct{}
}

func (g *gatedTarget) CreateBucket(ctx context.Context, b string) (bool, error) {
	h := heldCreate{inFlight: g.inFlight.Add(1), release: make(chan struct{})}
	defer g.inFlight.Add(-1)
	select {
	case g.held <- h:
	case <-g.done:
		return false, context.Canceled
	}
	select {
	case <-h.release:
	case <-g.done:
		return false, context.Canceled
	}
	return g.Target.CreateBucket(ctx, b)
}

// TestWorkersYieldToAPICalls: while Config.YieldAt API calls are in flight
// one job executes at a time and jobs still finish; once the calls end the
// backlog runs at full width. The runner says when a worker yields
// (Config.onYield) and the target holds each job in CreateBucket, so both
// are observed as events.
func TestWorkersYieldToAPICalls(t *testing.T) {
	f := setup(t)
	gt := &gatedTarget{Target: gateway, held: make(chan heldCreate), done: make(chan struct{})}
	yields := make(chan struct{}, 16)
	f.runner = New(f.store, gt, Config{Workers: 4, YieldAt: 2, PublicGuestAccess: true,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		onYield: func() { yields <- struct{}{} }})
	// A deadline only so that a broken runner fails the test instead of
	// hanging it; nothing below waits for time to pass.
	failsafe := time.After(60 * time.Second)
	held := func(what string) heldCreate {
		t.Helper()
		select {
		case h := <-gt.held:
			return h
		case <-failsafe:
			t.Fatalf("no job reached CreateBucket: %s", what)
		}
		panic("unreachable")
	}
	// Buckets new to the shared gateway on every run (-count): a job whose
	// bucket is there already never calls CreateBucket.
	run := strconv.FormatUint(rand.Uint64N(1<<30), 36)
	create := func(i int) string {
		j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key("y" + strconv.Itoa(i)), Bucket: f.bucket("y" + strconv.Itoa(i) + "-" + run)})
		if err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	completed := func(ids []string) {
		t.Helper()
		for _, id := range ids {
			if j := f.wait(id); j.Status != store.StatusCompleted {
				t.Fatalf("job: %+v", j)
			}
		}
	}

	f.runner.BeginCall()
	f.runner.BeginCall()
	f.start()
	t.Cleanup(func() { close(gt.done) }) // before the runner's stop, which waits for the calls
	var busy []string
	for i := 0; i < 4; i++ {
		busy = append(busy, create(i))
	}
	// Four workers, four jobs: one reaches CreateBucket and is held there;
	// each of the other three must say it yields, and none may get that far.
	first := held("API busy")
	for yielded := 0; yielded < 3; {
		select {
		case <-yields:
			yielded++
		case h := <-gt.held:
			t.Fatalf("%d jobs executed at once while the API was busy, want 1", h.inFlight)
		case <-failsafe:
			t.Fatalf("%d of 3 workers yielded while the API was busy", yielded)
		}
	}
	if first.inFlight != 1 {
		t.Fatalf("%d jobs executed at once while the API was busy, want 1", first.inFlight)
	}
	close(first.release)
	for i := 1; i < len(busy); i++ {
		h := held("API busy, backlog")
		if h.inFlight != 1 {
			t.Fatalf("%d jobs executed at once while the API was busy, want 1", h.inFlight)
		}
		close(h.release)
	}
	completed(busy)

	f.runner.EndCall()
	f.runner.EndCall()
	var idle []string
	for i := 4; i < 12; i++ {
		idle = append(idle, create(i))
	}
	// With no call in flight nobody yields, and a second job reaches
	// CreateBucket while the first is still held there.
	var waiting []heldCreate
	for len(waiting) == 0 || waiting[len(waiting)-1].inFlight < 2 {
		select {
		case h := <-gt.held:
			waiting = append(waiting, h)
		case <-yields:
			t.Fatal("a worker yielded with no API call in flight")
		case <-failsafe:
			t.Fatalf("at most %d job executed at once with the API idle, want several", len(waiting))
		}
	}
	for _, h := range waiting {
		close(h.release)
	}
	for i := len(waiting); i < len(idle); i++ {
		close(held("API idle, backlog").release)
	}
	completed(idle)
}

// TestWarningsAreNotErrors: what a completed create could not do is a
// warning, never the job's error; a gap the runner was told about before
// (Config.KnownGaps) is neither tried nor warned about on each job.
func TestWarningsAreNotErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		gaps []BucketSetting
	}{{"gaps found by the job", nil}, {"gaps known at start", []BucketSetting{SettingDefaultEncryption, SettingLifecycleRule}}} {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			f.runner = New(f.store, f.target, Config{Workers: 2, PublicGuestAccess: true, KnownGaps: tt.gaps,
				Retry: RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			f.start()
			j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key("w"), Bucket: f.bucket("w"), Permissions: store.Permissions{Authenticated: []string{"READ"}}})
			if err != nil {
				t.Fatal(err)
			}
			got := f.wait(j.ID)
			if got.Status != store.StatusCompleted || got.Error != "" {
				t.Fatalf("create: %+v", got)
			}
			encryption := strings.Contains(strings.Join(got.Warnings, ";"), "default encryption")
			if known := tt.gaps != nil; encryption == known {
				// The embedded gateway answers 501 for default encryption.
				t.Fatalf("default encryption warned = %v with gaps %v: %q", encryption, tt.gaps, got.Warnings)
			}
		})
	}
}

// ourStatements counts the statements of a bucket policy whose Sid starts
// with prefix: the test's own reading of the document, independent of the
// policy package's.
func ourStatements(t *testing.T, doc []byte, prefix string) int {
	t.Helper()
	if len(doc) == 0 {
		return 0
	}
	var p struct{ Statement []struct{ Sid string } }
	if err := json.Unmarshal(doc, &p); err != nil {
		t.Fatalf("bucket policy %s: %v", doc, err)
	}
	n := 0
	for _, st := range p.Statement {
		if strings.HasPrefix(st.Sid, prefix) {
			n++
		}
	}
	return n
}
