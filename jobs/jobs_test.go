package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	gateway    *s3iam.Target
	s3Endpoint string
)

const rootKey, rootSecret = "jobstestroot", "jobstestrootsecret"

func TestMain(m *testing.M) {
	os.Exit(embeddedtest.Main(m, rootKey, rootSecret, func(gw *embedded.Server) (err error) {
		s3Endpoint = gw.S3Endpoint
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
	// A fresh runner on the same store finds it through the pending index.
	f.runner = New(f.store, f.target, f.runner.cfg)
	f.start()
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
		ours, _ := policy.OurStatements(cur, policy.SidPrefix(k.AppID, k.Env, k.Name))
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
		if c.fill && !strings.Contains(got.Error, "not empty") {
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
		n, _ := policy.OurStatements(cur, prefix)
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

// overlapTarget is the real gateway with CreateBucket held open a moment
// and the most creates seen in flight at once, to observe how many jobs
// execute together.
type overlapTarget struct {
	*s3iam.Target
	now, most atomic.Int64
}

func (o *overlapTarget) CreateBucket(ctx context.Context, b string) (bool, error) {
	n := o.now.Add(1)
	defer o.now.Add(-1)
	for m := o.most.Load(); n > m && !o.most.CompareAndSwap(m, n); m = o.most.Load() {
	}
	time.Sleep(30 * time.Millisecond)
	return o.Target.CreateBucket(ctx, b)
}

// TestWorkersYieldToAPICalls: while Config.YieldAt API calls are in flight
// one job executes at a time and jobs still finish; once the calls end the
// backlog runs at full width.
func TestWorkersYieldToAPICalls(t *testing.T) {
	f := setup(t)
	ot := &overlapTarget{Target: gateway}
	f.runner = New(f.store, ot, Config{Workers: 4, YieldAt: 2, PublicGuestAccess: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.runner.BeginCall()
	f.runner.BeginCall()
	f.start()
	create := func(i int) string {
		j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key("y" + strconv.Itoa(i)), Bucket: f.bucket("y" + strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	var busy []string
	for i := 0; i < 4; i++ {
		busy = append(busy, create(i))
	}
	for _, id := range busy {
		if j := f.wait(id); j.Status != store.StatusCompleted {
			t.Fatalf("job under API load: %+v", j)
		}
	}
	if m := ot.most.Load(); m != 1 {
		t.Fatalf("%d jobs executed at once while the API was busy, want 1", m)
	}
	f.runner.EndCall()
	f.runner.EndCall()
	var idle []string
	for i := 4; i < 12; i++ {
		idle = append(idle, create(i))
	}
	for _, id := range idle {
		if j := f.wait(id); j.Status != store.StatusCompleted {
			t.Fatalf("job: %+v", j)
		}
	}
	if m := ot.most.Load(); m < 2 {
		t.Fatalf("at most %d job executed at once with the API idle, want several", m)
	}
}
