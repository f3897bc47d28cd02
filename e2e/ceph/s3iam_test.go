package ceph

import (
	"bytes"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/external"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// writes counts the requests a Target sends that change something.
type writes struct {
	mu sync.Mutex
	n  []string
}

func (w *writes) RoundTrip(r *http.Request) (*http.Response, error) {
	what := r.Method + " " + r.URL.RawQuery
	if r.Method == http.MethodPost && r.Body != nil { // IAM: the action is in the form
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		what = "IAM " + form.Get("Action")
	}
	if !(r.Method == http.MethodGet || r.Method == http.MethodHead ||
		strings.HasPrefix(what, "IAM Get") || strings.HasPrefix(what, "IAM List")) {
		w.mu.Lock()
		w.n = append(w.n, what)
		w.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (w *writes) since(mark int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.n[mark:]...)
}

func (w *writes) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.n)
}

// TestTargetOnCeph drives the s3iam package straight at RGW: every quirk
// in target/doc.go is met here, and each Ensure call, repeated, writes
// nothing (RGW's read-back matches what was written).
func TestTargetOnCeph(t *testing.T) {
	external.Require(t)
	t.Parallel()
	ctx := t.Context()
	w := &writes{}
	newTarget := func(region string) *s3iam.Target {
		tg, err := s3iam.New(ctx, s3iam.Config{
			Region: region, S3Endpoint: cluster.endpoint, IAMEndpoint: cluster.endpoint,
			AccessKey: cluster.admin.AccessKeyID, SecretKey: cluster.admin.SecretAccessKey,
			HTTPClient: &http.Client{Transport: w},
		})
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	tg := newTarget("us-east-1")
	const bucket = "amplifybackendd-ceph-target"

	// Buckets: create twice; a region RGW does not know still creates.
	if ok, err := tg.HeadBucket(ctx, bucket); err != nil || ok {
		t.Fatalf("HeadBucket(missing) = %v, %v", ok, err)
	}
	for range 2 {
		if _, err := tg.CreateBucket(ctx, bucket); err != nil {
			t.Fatalf("CreateBucket: %v", err)
		}
	}
	if _, err := newTarget("eu-west-1").CreateBucket(ctx, bucket+"-eu"); err != nil {
		t.Fatalf("CreateBucket with a location RGW does not know: %v", err)
	}

	// Bucket settings: each written once, then stable.
	ensure := []struct {
		name string
		fn   func() (bool, error)
	}{
		{"tags", func() (bool, error) { return tg.EnsureTags(ctx, bucket, map[string]string{"amplifybackendd:app": "a"}) }},
		{"CORS", func() (bool, error) { return tg.EnsureCORSRule(ctx, bucket, jobs.AmplifyCORSRule) }},
		{"lifecycle", func() (bool, error) { return tg.EnsureAbortMultipartRule(ctx, bucket, "abort-mpu", 1) }},
	}
	for _, e := range ensure {
		if changed, err := e.fn(); err != nil || !changed {
			t.Fatalf("%s first: %v, %v; want true, nil", e.name, changed, err)
		}
		m := w.mark()
		if changed, err := e.fn(); err != nil || changed {
			t.Fatalf("%s again: %v, %v; want false, nil", e.name, changed, err)
		}
		if got := w.since(m); len(got) > 0 {
			t.Errorf("%s again wrote %v", e.name, got)
		}
	}
	if _, err := tg.EnsureDefaultEncryption(ctx, bucket); s3iam.Classify(err) != s3iam.NotImplemented {
		t.Errorf("default encryption on RGW 16.2: %v classified %v, want NotImplemented", err, s3iam.Classify(err))
	}
	if doc, err := tg.BucketPolicy(ctx, bucket); err != nil || doc != nil {
		t.Fatalf("BucketPolicy(none) = %s, %v", doc, err)
	}
	if err := tg.DeleteBucketPolicy(ctx, bucket); err != nil {
		t.Fatalf("DeleteBucketPolicy(none): %v", err)
	}

	// IAM: the S3-shaped errors are understood.
	const role, name = "amplifybackendd-ceph-target-role", "p"
	if names, err := tg.RolePolicyNames(ctx, role); err != nil || names != nil {
		t.Fatalf("RolePolicyNames(missing role) = %v, %v", names, err)
	}
	if doc, err := tg.RolePolicy(ctx, role, name); err != nil || doc != nil {
		t.Fatalf("RolePolicy(missing role) = %s, %v", doc, err)
	}
	trust := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":["sts:AssumeRoleWithWebIdentity"]}]}`)
	if created, err := tg.EnsureRole(ctx, role, trust, nil); err != nil || !created {
		t.Fatalf("EnsureRole(missing) = %v, %v", created, err)
	}
	if created, err := tg.EnsureRole(ctx, role, trust, nil); err != nil || created {
		t.Fatalf("EnsureRole(existing) = %v, %v", created, err)
	}
	if err := tg.DeleteRolePolicy(ctx, role, name); err != nil {
		t.Fatalf("DeleteRolePolicy(missing): %v", err)
	}
	err := tg.PutRolePolicy(ctx, role+"-nope", name, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]}]}`))
	if s3iam.Classify(err) != s3iam.Permanent || s3iam.APIMessage(err) != "NoSuchEntity" {
		t.Fatalf("PutRolePolicy(missing role) = %v (%q), want a Permanent NoSuchEntity", err, s3iam.APIMessage(err))
	}

	// A document with the Cognito variable in a Resource is stored without
	// those resources; the condition keeps the variable verbatim.
	doc := `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"Public","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/public/*"]},` +
		`{"Sid":"Private","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/private/` + variable + `/*"]},` +
		`{"Sid":"List","Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::b"],"Condition":{"StringLike":{"s3:prefix":["private/` + variable + `/"]}}}]}`
	if err := tg.PutRolePolicy(ctx, role, name, []byte(doc)); err != nil {
		t.Fatalf("PutRolePolicy(with variable): %v", err)
	}
	stored, err := tg.RolePolicy(ctx, role, name)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(stored); strings.Contains(s, `"Private"`) || !strings.Contains(s, `"Public"`) || !strings.Contains(s, `"private/`+variable+`/"`) {
		t.Errorf("stored document: %s", stored)
	}
	if names, err := tg.RolePolicyNames(ctx, role); err != nil || len(names) != 1 || names[0] != name {
		t.Fatalf("RolePolicyNames = %v, %v", names, err)
	}
	if err := tg.DeleteRolePolicy(ctx, role, name); err != nil {
		t.Fatal(err)
	}

	// Role tags: given at creation, read back in RGW's own shape. RGW does
	// not decode '+' in the form it is sent, so a space (which the SDK
	// sends as '+') comes back as '+': role tags we write hold none.
	tagged := map[string]string{"amplifybackendd:owner": "0123abcd-authenticated", "amplifybackendd:app": "My App_1"}
	if created, err := tg.EnsureRole(ctx, role+"-tagged", trust, tagged); err != nil || !created {
		t.Fatalf("EnsureRole(with tags) = %v, %v", created, err)
	}
	want := map[string]string{"amplifybackendd:owner": "0123abcd-authenticated", "amplifybackendd:app": "My+App_1"}
	if tags, exists, err := tg.RoleTags(ctx, role+"-tagged"); err != nil || !exists || !maps.Equal(tags, want) {
		t.Errorf("RoleTags = %v, %v, %v; want %v", tags, exists, err, want)
	}
	if tags, exists, err := tg.RoleTags(ctx, role+"-nope"); err != nil || exists || tags != nil {
		t.Errorf("RoleTags(missing) = %v, %v, %v", tags, exists, err)
	}
}

// TestSecondReconcileOnCephWritesNoRolePolicy: RGW keeps a role policy
// without its per-identity resources; a second reconcile of the same
// resource knows that narrower form for what it wrote and writes nothing to
// the roles, while still saying the grant is narrower.
func TestSecondReconcileOnCephWritesNoRolePolicy(t *testing.T) {
	external.Require(t)
	t.Parallel()
	ctx := t.Context()
	w := &writes{}
	tg, err := s3iam.New(ctx, s3iam.Config{
		Region: "us-east-1", S3Endpoint: cluster.endpoint, IAMEndpoint: cluster.endpoint,
		AccessKey: cluster.admin.AccessKeyID, SecretKey: cluster.admin.SecretAccessKey,
		HTTPClient: &http.Client{Transport: w},
	})
	if err != nil {
		t.Fatal(err)
	}
	res := store.Resource{ResourceKey: store.ResourceKey{AppID: "cephtwice", Env: "dev", Name: "files"}, Bucket: "amplifybackendd-ceph-twice",
		Desired: store.Permissions{Authenticated: []string{"READ", "CREATE_AND_UPDATE", "DELETE"}, Unauthenticated: []string{"READ"}}}
	cfg := jobs.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for i := range 2 {
		m := w.mark()
		warnings, err := jobs.ApplyCreate(ctx, tg, cfg, res)
		if err != nil {
			t.Fatalf("reconcile %d: %v", i+1, err)
		}
		if !strings.Contains(strings.Join(warnings, ";"), "narrower policy") {
			t.Errorf("reconcile %d does not say the role policy is narrower: %q", i+1, warnings)
		}
		var puts []string
		for _, op := range w.since(m) {
			if op == "IAM PutRolePolicy" {
				puts = append(puts, op)
			}
		}
		if want := []int{1, 0}[i]; len(puts) < want || i == 1 && len(puts) > 0 {
			t.Errorf("reconcile %d wrote role policies %d times, want %s", i+1, len(puts), []string{"at least once", "never"}[i])
		}
	}
}
