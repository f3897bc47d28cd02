// Package lifecycletest tests what needs a gateway of its own: the lifecycle
// sweeper with a shortened day, and state that must survive a restart.
// Versity allows one gateway per process, so these tests run one after the
// other, each starting and stopping its own, in a binary apart from the
// embedded package's shared gateway.
package lifecycletest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/amplifybackendd/amplifybackendd/embedded"
	"github.com/amplifybackendd/amplifybackendd/embedded/embeddedtest"
)

const rootAccess, rootSecret = "LIFECYCLETESTROOT", "lifecycle-test-root-secret-0123456789"

// gateway is a running embedded server and a root S3 client of it.
type gateway struct {
	dir  string
	srv  *embedded.Server
	stop func()
	s3   *s3.Client
}

// start runs a gateway over dir until stop or the end of the test.
func start(t *testing.T, dir string, day, sweep time.Duration) *gateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := embedded.Start(ctx, embedded.Config{Dir: dir, AccessKey: rootAccess, SecretKey: rootSecret,
		LifecycleDay: day, LifecycleSweep: sweep})
	if err != nil {
		cancel()
		t.Fatalf("start gateway: %v", err)
	}
	g := &gateway{dir: dir, srv: srv}
	stopped := false
	g.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := srv.Wait(); err != nil {
			t.Errorf("gateway stopped with %v", err)
		}
	}
	t.Cleanup(g.stop)
	g.s3 = s3.New(s3.Options{
		Region: srv.Region, BaseEndpoint: aws.String(srv.S3Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(rootAccess, rootSecret, ""),
	})
	return g
}

func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func (g *gateway) createBucket(t *testing.T, name string) {
	t.Helper()
	if _, err := g.s3.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
}

func (g *gateway) putRules(t *testing.T, bucket string, rules ...types.LifecycleRule) {
	t.Helper()
	if _, err := g.s3.PutBucketLifecycleConfiguration(t.Context(), &s3.PutBucketLifecycleConfigurationInput{
		Bucket: aws.String(bucket), LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules},
	}); err != nil {
		t.Fatalf("PutBucketLifecycleConfiguration %s: %v", bucket, err)
	}
}

func abortRule(id, prefix string, status types.ExpirationStatus, days int32) types.LifecycleRule {
	return types.LifecycleRule{
		ID: aws.String(id), Status: status, Filter: &types.LifecycleRuleFilter{Prefix: aws.String(prefix)},
		AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(days)},
	}
}

// startUpload begins a multipart upload and sends it one part.
func (g *gateway) startUpload(t *testing.T, bucket, key string) string {
	t.Helper()
	ctx := t.Context()
	out, err := g.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("CreateMultipartUpload %s: %v", key, err)
	}
	if _, err := g.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: out.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part one")}); err != nil {
		t.Fatalf("UploadPart %s: %v", key, err)
	}
	return aws.ToString(out.UploadId)
}

// age moves an upload's initiation back by d. The gateway's Initiated is
// the modification time of the upload's directory, so an old upload is made
// by dating that directory back, not by waiting.
func (g *gateway) age(t *testing.T, bucket, key, id string, d time.Duration) {
	t.Helper()
	sum := sha256.Sum256([]byte(key))
	dir := filepath.Join(g.dir, "s3", bucket, ".sgwtmp", "multipart", fmt.Sprintf("%x", sum), id)
	then := time.Now().Add(-d)
	if err := os.Chtimes(dir, then, then); err != nil {
		t.Fatalf("date upload %s back: %v", key, err)
	}
}

// uploads lists the bucket's in-progress uploads as "key" entries.
func (g *gateway) uploads(t *testing.T, bucket string) []string {
	t.Helper()
	out, err := g.s3.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads %s: %v", bucket, err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	slices.Sort(keys)
	return keys
}

// waitFor polls cond until it holds, failing the test after a generous
// bound that only a broken sweeper reaches.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAbortRuleAbortsOnlyExpiredUploads: an upload older than its enabled
// rule's days is aborted; a younger one, one older under a prefix no rule
// covers, and one under a disabled rule stay.
func TestAbortRuleAbortsOnlyExpiredUploads(t *testing.T) {
	g := start(t, tempDir(t), time.Hour, 10*time.Millisecond)
	const b = "sweep"
	g.createBucket(t, b)
	g.putRules(t, b,
		abortRule("abort-uploads", "uploads/", types.ExpirationStatusEnabled, 2),
		abortRule("abort-tmp-off", "tmp/", types.ExpirationStatusDisabled, 1))

	old := g.startUpload(t, b, "uploads/old")
	g.startUpload(t, b, "uploads/young")
	other := g.startUpload(t, b, "keep/old")
	off := g.startUpload(t, b, "tmp/old")
	g.age(t, b, "uploads/young-ish", g.startUpload(t, b, "uploads/young-ish"), 90*time.Minute) // 1.5 of 2 days
	g.age(t, b, "uploads/old", old, 3*time.Hour)
	g.age(t, b, "keep/old", other, 3*time.Hour)
	g.age(t, b, "tmp/old", off, 3*time.Hour)

	// One sweep lists the bucket's uploads and then aborts the expired
	// ones: once uploads/old is gone, the others were judged in that pass.
	waitFor(t, "uploads/old aborted", func() bool { return !slices.Contains(g.uploads(t, b), "uploads/old") })
	want := []string{"keep/old", "tmp/old", "uploads/young", "uploads/young-ish"}
	if got := g.uploads(t, b); !slices.Equal(got, want) {
		t.Fatalf("uploads after the sweep: %q, want %q", got, want)
	}
	_, err := g.s3.AbortMultipartUpload(t.Context(), &s3.AbortMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("uploads/old"), UploadId: aws.String(old)})
	if apiCode(err) != "NoSuchUpload" {
		t.Errorf("the aborted upload can still be aborted: %v", err)
	}
}

// TestShortDayAbortsWithoutHelp: with a day shortened to 50 ms, a rule of
// one day aborts a fresh upload by itself.
func TestShortDayAbortsWithoutHelp(t *testing.T) {
	g := start(t, tempDir(t), 50*time.Millisecond, 10*time.Millisecond)
	const b = "shortday"
	g.createBucket(t, b)
	g.putRules(t, b, abortRule("abort", "", types.ExpirationStatusEnabled, 1))
	g.startUpload(t, b, "big/file")
	waitFor(t, "the upload aborted", func() bool { return len(g.uploads(t, b)) == 0 })
}

// TestBucketRecordsSurviveRestart: the lifecycle configuration and the
// creation date outlive the gateway; deleting the bucket removes the
// configuration, so a new bucket of the same name starts without one.
func TestBucketRecordsSurviveRestart(t *testing.T) {
	dir := tempDir(t)
	g := start(t, dir, 0, 0)
	ctx := t.Context()
	const b = "kept"
	g.createBucket(t, b)
	g.putRules(t, b, abortRule("abort", "", types.ExpirationStatusEnabled, 1))
	created := g.creationDate(t, b)
	g.stop()

	g = start(t, dir, 0, 0)
	out, err := g.s3.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(b)})
	if err != nil || len(out.Rules) != 1 || aws.ToString(out.Rules[0].ID) != "abort" {
		t.Fatalf("lifecycle after restart: %+v, %v", out, err)
	}
	if got := g.creationDate(t, b); !got.Equal(created) {
		t.Errorf("creation date after restart %s, want %s", got, created)
	}

	if _, err := g.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	g.createBucket(t, b)
	if _, err := g.s3.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(b)}); apiCode(err) != "NoSuchLifecycleConfiguration" {
		t.Errorf("a new bucket of a deleted one's name: %v, want NoSuchLifecycleConfiguration", err)
	}
}

// TestBucketsFromBeforeKeepABirthDate: a data directory from before the
// bucket records (simulated by removing them) gets each bucket's birth
// time, which objects written later no longer move.
func TestBucketsFromBeforeKeepABirthDate(t *testing.T) {
	dir := tempDir(t)
	g := start(t, dir, 0, 0)
	const b = "older"
	g.createBucket(t, b)
	created := g.creationDate(t, b)
	g.stop()
	if err := os.Remove(filepath.Join(dir, "buckets.db")); err != nil {
		t.Fatal(err)
	}

	g = start(t, dir, 0, 0)
	adopted := g.creationDate(t, b)
	// The birth time precedes the recorded time by the few microseconds the
	// CreateBucket took; a filesystem without birth times gives the
	// directory's modification time, as close on an empty bucket.
	if d := created.Sub(adopted); d < 0 || d > time.Second {
		t.Errorf("adopted creation date %s, recorded %s", adopted, created)
	}
	embeddedtest.NextSecond(adopted)
	if _, err := g.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("x"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if got := g.creationDate(t, b); !got.Equal(adopted) {
		t.Errorf("creation date moved from %s to %s after writing an object", adopted, got)
	}
}

func (g *gateway) creationDate(t *testing.T, bucket string) time.Time {
	t.Helper()
	d, err := embeddedtest.CreationDate(t.Context(), g.s3, bucket)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
