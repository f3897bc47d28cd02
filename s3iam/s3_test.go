package s3iam_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
)

func TestPingRegionHasIAM(t *testing.T) {
	e := setup(t)
	if err := e.tgt.Ping(e.ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if got := e.tgt.Region(); got != "us-east-1" {
		t.Errorf("Region() = %q, want us-east-1", got)
	}
	if !e.tgt.HasIAM() {
		t.Error("HasIAM() = false with an IAM endpoint")
	}
}

func TestListBuckets(t *testing.T) {
	e := setup(t)
	bs, err := e.tgt.ListBuckets(e.ctx)
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	i := slices.IndexFunc(bs, func(b s3iam.Bucket) bool { return b.Name == e.bucket })
	if i < 0 {
		t.Fatalf("ListBuckets does not list %s: %v", e.bucket, bs)
	}
	if bs[i].CreationDate.IsZero() {
		t.Errorf("bucket %s has no creation date", e.bucket)
	}
}

func TestHeadBucket(t *testing.T) {
	e := setup(t)
	ok, err := e.tgt.HeadBucket(e.ctx, e.bucket)
	if err != nil || !ok {
		t.Fatalf("HeadBucket(existing) = %v, %v; want true, nil", ok, err)
	}
	ok, err = e.tgt.HeadBucket(e.ctx, e.bucket+"-missing")
	if err != nil || ok {
		t.Fatalf("HeadBucket(missing) = %v, %v; want false, nil", ok, err)
	}

	// A caller without rights on the bucket gets 403: Permanent, and the
	// message names the target's code.
	access, secret := e.iamUser("")
	other := newEnv(t, access, secret)
	ok, err = other.tgt.HeadBucket(e.ctx, e.bucket)
	if err == nil {
		t.Fatalf("HeadBucket by a user without rights = %v, nil; want 403", ok)
	}
	if c := s3iam.Classify(err); c != s3iam.Permanent {
		t.Errorf("HeadBucket 403 classified %v, want Permanent (%v)", c, err)
	}
	if !strings.Contains(err.Error(), e.bucket) || !strings.Contains(err.Error(), "HeadBucket") {
		t.Errorf("error %q does not name the operation and bucket", err)
	}
	t.Logf("HeadBucket without rights: %s", s3iam.APIMessage(err))
}

func TestCreateBucket(t *testing.T) {
	e := setup(t) // created once in setup
	m := e.rec.mark()
	if created, err := e.tgt.CreateBucket(e.ctx, e.bucket); err != nil || created {
		t.Fatalf("CreateBucket of a bucket we own = %v, %v; want false, nil (BucketAlreadyOwnedByYou)", created, err)
	}
	if got := e.rec.since(m); len(got) != 1 {
		t.Errorf("second CreateBucket sent %v", got)
	}

	// Versity links IAM users to one account whose root owns every bucket
	// (auth.FixedBucketOwner), so another user of that account re-creating
	// the bucket also gets BucketAlreadyOwnedByYou, as on AWS.
	// BucketAlreadyExists cannot happen here; fake_test.go covers it.
	access, secret := e.iamUser(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:CreateBucket","Resource":"*"}]}`)
	other := newEnv(t, access, secret)
	if created, err := other.tgt.CreateBucket(e.ctx, e.bucket); err != nil || created {
		t.Fatalf("CreateBucket of the account's bucket by an IAM user = %v, %v; want false, nil", created, err)
	}
	fresh := uniqueName(t, "fresh")
	if created, err := e.tgt.CreateBucket(e.ctx, fresh); err != nil || !created {
		t.Fatalf("CreateBucket of a new bucket = %v, %v; want true, nil", created, err)
	}
}

// answerLost forwards every request to the gateway but loses the answer to
// CreateBucket (PUT on a bucket, no subresource), as a connection cut after
// the server acted would.
type answerLost struct{ puts atomic.Int64 }

func (a *answerLost) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if req.Method != http.MethodPut || req.URL.RawQuery != "" || err != nil {
		return resp, err
	}
	a.puts.Add(1)
	resp.Body.Close()
	return nil, fmt.Errorf("read answer: %w", syscall.ECONNRESET)
}

// TestCreateBucketAnswerLost: a CreateBucket whose answer is lost is not
// retried by the SDK (the retry would hear BucketAlreadyOwnedByYou for the
// bucket the first try made) but reported, Transient, for the caller to find
// out.
func TestCreateBucketAnswerLost(t *testing.T) {
	t.Parallel()
	lost := &answerLost{}
	tgt, err := s3iam.New(t.Context(), s3iam.Config{S3Endpoint: gw.S3Endpoint, AccessKey: rootAccess, SecretKey: rootSecret,
		NoIAM: true, HTTPClient: &http.Client{Transport: lost}})
	if err != nil {
		t.Fatal(err)
	}
	b := uniqueName(t, "lost")
	created, err := tgt.CreateBucket(t.Context(), b)
	if err == nil || s3iam.Classify(err) != s3iam.Transient {
		t.Fatalf("CreateBucket with its answer lost = %v, %v; want a Transient error", created, err)
	}
	if n := lost.puts.Load(); n != 1 {
		t.Errorf("CreateBucket sent %d times, want once", n)
	}
	if ok, err := tgt.HeadBucket(t.Context(), b); !ok || err != nil {
		t.Fatalf("the bucket whose answer was lost is not there: %v %v", ok, err)
	}
}

func TestBucketEmpty(t *testing.T) {
	e := setup(t)
	if empty, err := e.tgt.BucketEmpty(e.ctx, e.bucket); err != nil || !empty {
		t.Fatalf("BucketEmpty(new bucket) = %v, %v; want true, nil", empty, err)
	}
	if _, err := e.s3.PutObject(e.ctx, &s3.PutObjectInput{
		Bucket: aws.String(e.bucket), Key: aws.String("deep/down/x"), Body: strings.NewReader("x"),
	}); err != nil {
		t.Fatal(err)
	}
	if empty, err := e.tgt.BucketEmpty(e.ctx, e.bucket); err != nil || empty {
		t.Fatalf("BucketEmpty(one object) = %v, %v; want false, nil", empty, err)
	}
}

func TestDeleteBucketIfEmpty(t *testing.T) {
	e := setup(t)
	if _, err := e.s3.PutObject(e.ctx, &s3.PutObjectInput{
		Bucket: aws.String(e.bucket), Key: aws.String("keep/me"), Body: strings.NewReader("data"),
	}); err != nil {
		t.Fatal(err)
	}
	deleted, err := e.tgt.DeleteBucketIfEmpty(e.ctx, e.bucket)
	if err != nil || deleted {
		t.Fatalf("DeleteBucketIfEmpty(non-empty) = %v, %v; want false, nil", deleted, err)
	}
	if _, err := e.s3.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("keep/me")}); err != nil {
		t.Fatalf("object gone after DeleteBucketIfEmpty: %v", err)
	}
	if _, err := e.s3.DeleteObject(e.ctx, &s3.DeleteObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("keep/me")}); err != nil {
		t.Fatal(err)
	}
	deleted, err = e.tgt.DeleteBucketIfEmpty(e.ctx, e.bucket)
	if err != nil || !deleted {
		t.Fatalf("DeleteBucketIfEmpty(empty) = %v, %v; want true, nil", deleted, err)
	}
	deleted, err = e.tgt.DeleteBucketIfEmpty(e.ctx, e.bucket)
	if err != nil || deleted {
		t.Fatalf("DeleteBucketIfEmpty(gone) = %v, %v; want false, nil", deleted, err)
	}
}

func TestTags(t *testing.T) {
	e := setup(t)
	tags, err := e.tgt.Tags(e.ctx, e.bucket)
	if err != nil || tags == nil || len(tags) != 0 {
		t.Fatalf("Tags(untagged) = %v, %v; want empty map", tags, err)
	}
	if _, err := e.s3.PutBucketTagging(e.ctx, &s3.PutBucketTaggingInput{
		Bucket:  aws.String(e.bucket),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("owner"), Value: aws.String("finance")}}},
	}); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{"amplify:app": "app1", "amplify:env": "dev"}
	changed, err := e.tgt.EnsureTags(e.ctx, e.bucket, want)
	if err != nil || !changed {
		t.Fatalf("EnsureTags = %v, %v; want true, nil", changed, err)
	}
	m := e.rec.mark()
	changed, err = e.tgt.EnsureTags(e.ctx, e.bucket, want)
	if err != nil || changed {
		t.Fatalf("EnsureTags again = %v, %v; want false, nil", changed, err)
	}
	e.noWrites(m, "EnsureTags")

	changed, err = e.tgt.EnsureTags(e.ctx, e.bucket, map[string]string{"amplify:env": "prod"})
	if err != nil || !changed {
		t.Fatalf("EnsureTags(new value) = %v, %v; want true, nil", changed, err)
	}
	got, err := e.tgt.Tags(e.ctx, e.bucket)
	if err != nil {
		t.Fatal(err)
	}
	wantAll := map[string]string{"owner": "finance", "amplify:app": "app1", "amplify:env": "prod"}
	if !maps.Equal(got, wantAll) {
		t.Errorf("tags = %v, want %v (foreign tag kept)", got, wantAll)
	}
}

// amplifyCORS is the rule design.md §4 asks for.
func amplifyCORS() s3iam.CORSRule {
	return s3iam.CORSRule{
		ID:             "amplify-storage",
		AllowedOrigins: []string{"*"},
		AllowedHeaders: []string{"*"},
		AllowedMethods: []string{"GET", "HEAD", "PUT", "POST", "DELETE"},
		ExposeHeaders:  []string{"x-amz-server-side-encryption", "x-amz-request-id", "x-amz-id-2", "ETag"},
		MaxAgeSeconds:  3000,
	}
}

func TestEnsureCORSRule(t *testing.T) {
	e := setup(t)
	foreign := types.CORSRule{ID: aws.String("theirs"), AllowedOrigins: []string{"https://example.com"}, AllowedMethods: []string{"GET"}}
	if _, err := e.s3.PutBucketCors(e.ctx, &s3.PutBucketCorsInput{
		Bucket: aws.String(e.bucket), CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{foreign}},
	}); err != nil {
		t.Fatal(err)
	}

	rule := amplifyCORS()
	changed, err := e.tgt.EnsureCORSRule(e.ctx, e.bucket, rule)
	if err != nil || !changed {
		t.Fatalf("EnsureCORSRule = %v, %v; want true, nil", changed, err)
	}
	m := e.rec.mark()
	changed, err = e.tgt.EnsureCORSRule(e.ctx, e.bucket, rule)
	if err != nil || changed {
		t.Fatalf("EnsureCORSRule again = %v, %v; want false, nil", changed, err)
	}
	e.noWrites(m, "EnsureCORSRule")

	// The same rule with lists reordered and header case changed is equal.
	shuffled := rule
	shuffled.AllowedMethods = []string{"DELETE", "POST", "PUT", "HEAD", "GET"}
	shuffled.ExposeHeaders = []string{"etag", "X-Amz-Id-2", "x-amz-request-id", "x-amz-server-side-encryption"}
	m = e.rec.mark()
	if changed, err = e.tgt.EnsureCORSRule(e.ctx, e.bucket, shuffled); err != nil || changed {
		t.Fatalf("EnsureCORSRule(reordered) = %v, %v; want false, nil", changed, err)
	}
	e.noWrites(m, "EnsureCORSRule(reordered)")

	// A changed rule replaces ours only.
	rule.MaxAgeSeconds = 600
	if changed, err = e.tgt.EnsureCORSRule(e.ctx, e.bucket, rule); err != nil || !changed {
		t.Fatalf("EnsureCORSRule(changed) = %v, %v; want true, nil", changed, err)
	}
	out, err := e.s3.GetBucketCors(e.ctx, &s3.GetBucketCorsInput{Bucket: aws.String(e.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.CORSRules) != 2 {
		t.Fatalf("CORS rules = %d, want 2 (theirs and ours): %+v", len(out.CORSRules), out.CORSRules)
	}
	for _, r := range out.CORSRules {
		switch aws.ToString(r.ID) {
		case "theirs":
			if !slices.Equal(r.AllowedOrigins, foreign.AllowedOrigins) || !slices.Equal(r.AllowedMethods, foreign.AllowedMethods) {
				t.Errorf("foreign rule altered: %+v", r)
			}
		case rule.ID:
			if aws.ToInt32(r.MaxAgeSeconds) != 600 || !slices.Equal(r.AllowedMethods, rule.AllowedMethods) {
				t.Errorf("our rule = %+v", r)
			}
		default:
			t.Errorf("unexpected rule %+v", r)
		}
	}
}

// TestEnsureDefaultEncryptionVersity records that Versity has no default
// encryption (501) and that this classifies NotImplemented, which the job
// layer turns into a warning.
func TestEnsureDefaultEncryptionVersity(t *testing.T) {
	e := setup(t)
	changed, err := e.tgt.EnsureDefaultEncryption(e.ctx, e.bucket)
	if err == nil {
		t.Fatalf("EnsureDefaultEncryption = %v, nil; Versity v1.8.0 was measured answering 501", changed)
	}
	if c := s3iam.Classify(err); c != s3iam.NotImplemented {
		t.Fatalf("classified %v, want NotImplemented: %v", c, err)
	}
	t.Logf("EnsureDefaultEncryption on Versity: %s", s3iam.APIMessage(err))
}

// TestEnsureAbortMultipartRuleVersity checks the rule reads back from the
// embedded gateway as written: the first call writes it beside a foreign
// rule, which survives, and the second finds nothing to change.
func TestEnsureAbortMultipartRuleVersity(t *testing.T) {
	e := setup(t)
	theirs := types.LifecycleRule{ID: aws.String("theirs"), Status: types.ExpirationStatusEnabled,
		Filter:     &types.LifecycleRuleFilter{Prefix: aws.String("tmp/")},
		Expiration: &types.LifecycleExpiration{Days: aws.Int32(7)}}
	if _, err := e.s3.PutBucketLifecycleConfiguration(e.ctx, &s3.PutBucketLifecycleConfigurationInput{
		Bucket: aws.String(e.bucket), LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{theirs}},
	}); err != nil {
		t.Fatalf("PutBucketLifecycleConfiguration: %v", err)
	}
	for i, want := range []bool{true, false} {
		changed, err := e.tgt.EnsureAbortMultipartRule(e.ctx, e.bucket, "amplify-abort-mpu", 1)
		if err != nil || changed != want {
			t.Fatalf("EnsureAbortMultipartRule #%d = %v, %v; want %v, nil", i+1, changed, err, want)
		}
	}
	out, err := e.s3.GetBucketLifecycleConfiguration(e.ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(e.bucket)})
	if err != nil {
		t.Fatalf("GetBucketLifecycleConfiguration: %v", err)
	}
	var ids []string
	for _, r := range out.Rules {
		ids = append(ids, aws.ToString(r.ID))
	}
	if !slices.Equal(ids, []string{"theirs", "amplify-abort-mpu"}) || aws.ToInt32(out.Rules[0].Expiration.Days) != 7 ||
		aws.ToString(out.Rules[0].Filter.Prefix) != "tmp/" {
		t.Errorf("rules after ensuring ours: %q %+v", ids, out.Rules)
	}
}

// TestPublicAccessBlockVersity records design.md §7's claim with the raw
// client: PublicAccessBlock is 501 on Versity, and Classify says so.
func TestPublicAccessBlockVersity(t *testing.T) {
	e := setup(t)
	_, err := e.s3.PutPublicAccessBlock(e.ctx, &s3.PutPublicAccessBlockInput{
		Bucket:                         aws.String(e.bucket),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicPolicy: aws.Bool(false)},
	})
	if c := s3iam.Classify(err); c != s3iam.NotImplemented {
		t.Fatalf("PutPublicAccessBlock: %v classified %v, want NotImplemented", err, c)
	}
	_, err = e.s3.GetPublicAccessBlock(e.ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(e.bucket)})
	if c := s3iam.Classify(err); c != s3iam.NotImplemented {
		t.Fatalf("GetPublicAccessBlock: %v classified %v, want NotImplemented", err, c)
	}
}

func TestBucketPolicy(t *testing.T) {
	e := setup(t)
	doc, err := e.tgt.BucketPolicy(e.ctx, e.bucket)
	if err != nil || doc != nil {
		t.Fatalf("BucketPolicy(none) = %q, %v; want nil, nil", doc, err)
	}
	want := `{"Version":"2012-10-17","Statement":[{"Sid":"amplify-r1-public","Effect":"Allow","Principal":"*",` +
		`"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + e.bucket + `/public/*"]}]}`
	if err := e.tgt.PutBucketPolicy(e.ctx, e.bucket, []byte(want)); err != nil {
		t.Fatalf("PutBucketPolicy: %v", err)
	}
	got, err := e.tgt.BucketPolicy(e.ctx, e.bucket)
	if err != nil {
		t.Fatalf("BucketPolicy: %v", err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("BucketPolicy returned invalid JSON %q: %v", got, err)
	}
	_ = json.Unmarshal([]byte(want), &w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("BucketPolicy round trip:\n got %s\nwant %s", got, want)
	}
	if string(got) != want {
		t.Logf("Versity reformats stored policies: %s", got)
	}

	err = e.tgt.PutBucketPolicy(e.ctx, e.bucket, []byte(`{"Version":"2012-10-17","Statement":[]}`))
	if c := s3iam.Classify(err); err == nil || c != s3iam.Permanent {
		t.Errorf("PutBucketPolicy(empty statement) = %v (%v), want a Permanent error", err, c)
	} else {
		t.Logf("malformed policy: %s", s3iam.APIMessage(err))
	}

	for i := range 2 {
		if err := e.tgt.DeleteBucketPolicy(e.ctx, e.bucket); err != nil {
			t.Fatalf("DeleteBucketPolicy #%d: %v", i+1, err)
		}
	}
	if doc, err := e.tgt.BucketPolicy(e.ctx, e.bucket); err != nil || doc != nil {
		t.Fatalf("BucketPolicy after delete = %q, %v", doc, err)
	}
	if err := e.tgt.DeleteBucketPolicy(e.ctx, e.bucket+"-missing"); err != nil {
		t.Fatalf("DeleteBucketPolicy(missing bucket): %v", err)
	}
}

// TestMissingBucket checks what the read paths say when the bucket is gone:
// errors, classified Permanent, that name the bucket.
func TestMissingBucket(t *testing.T) {
	e := setup(t)
	missing := e.bucket + "-missing"
	_, err := e.tgt.Tags(e.ctx, missing)
	if err == nil || s3iam.Classify(err) != s3iam.Permanent || !strings.Contains(s3iam.APIMessage(err), "NoSuchBucket") {
		t.Errorf("Tags(missing bucket) = %v", err)
	}
	_, err = e.tgt.EnsureCORSRule(e.ctx, missing, amplifyCORS())
	if err == nil || s3iam.Classify(err) != s3iam.Permanent {
		t.Errorf("EnsureCORSRule(missing bucket) = %v", err)
	}
	_, err = e.tgt.BucketPolicy(e.ctx, missing)
	if err == nil || s3iam.Classify(err) != s3iam.Permanent {
		t.Errorf("BucketPolicy(missing bucket) = %v", err)
	}
}
