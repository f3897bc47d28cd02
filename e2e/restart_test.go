package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
)

// stalledPair runs a gateway server A and a second server B that uses A's
// S3 and IAM as an external target through proxies the test can pause, so
// B's jobs can be held mid-flight on demand.
type stalledPair struct {
	gw, api  *server
	s3p, iam *faultproxy.Proxy
}

func newStalledPair(t *testing.T) *stalledPair {
	t.Helper()
	gw := startServer(t)
	s3p, err := faultproxy.New(strings.TrimPrefix(gw.S3, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	iamp, err := faultproxy.New(strings.TrimPrefix(gw.IAM, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3p.Close(); iamp.Close() })
	api := startServerEnv(t, []string{
		"AWS_ACCESS_KEY_ID=" + gw.s3Creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + gw.s3Creds.SecretAccessKey,
		"AMPLIFYBACKENDD_JOB_TIMEOUT=2m",
	}, "--target", "external", "--s3-endpoint", s3p.URL(), "--iam-endpoint", iamp.URL(), "--public-guest-access", "true")
	// B's embedded-s3 credentials do not exist; checks go through A.
	api.S3, api.IAM, api.s3Creds = gw.S3, gw.IAM, gw.s3Creds
	return &stalledPair{gw: gw, api: api, s3p: s3p, iam: iamp}
}

func (p *stalledPair) pause()  { p.s3p.Pause(); p.iam.Pause() }
func (p *stalledPair) resume() { p.s3p.Resume(); p.iam.Resume() }

func bucketExists(t *testing.T, s *server, bucket string) bool {
	t.Helper()
	_, err := s.s3Client().HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	return err == nil
}

// TestKillDuringJobResumes kills the server with SIGKILL while a create is
// stuck on the target, restarts it, and expects the job to finish.
func TestKillDuringJobResumes(t *testing.T) {
	t.Parallel()
	p := newStalledPair(t)
	p.pause()
	r := mustOK(t, p.api.call("POST", "/backend/app1/storage", storageBody("dev", "docs", "amplify-e2e-restart",
		[]string{"READ"}, []string{"READ"})))
	id := r.str("jobId")
	p.api.kill()

	p.resume()
	p.api.restart()
	job := p.api.waitJob("app1", "dev", id)
	if job.str("status") != "COMPLETED" {
		t.Fatalf("job after restart: %s\nlog:\n%s", job.Raw, p.api.logs)
	}
	if !bucketExists(t, p.gw, "amplify-e2e-restart") {
		t.Fatal("bucket missing after resumed create")
	}
	putObject(t, p.gw, "amplify-e2e-restart", "public/x")
	if got := p.gw.anon("GET", "/amplify-e2e-restart/public/x", ""); got != 200 {
		t.Fatalf("guest READ not in force after resumed job: %d", got)
	}
	mustOK(t, p.api.call("POST", "/backend/app1/storage/dev/details", map[string]any{"resourceName": "docs"}))
}

// TestCancelStuckCreate cancels a create while the target hangs: the job
// reports CANCELLED at once, and once the target answers again the
// resource is gone and the bucket it may have created is removed.
func TestCancelStuckCreate(t *testing.T) {
	t.Parallel()
	p := newStalledPair(t)
	p.pause()
	r := mustOK(t, p.api.call("POST", "/backend/app2/storage", storageBody("dev", "stuck", "amplify-e2e-cancel", []string{"READ"}, nil)))
	id := r.str("jobId")
	jobPath := "/backend/app2/job/dev/" + id

	// A second change to the same resource waits its turn.
	wantError(t, p.api.call("POST", "/backend/app2/storage", storageBody("dev", "stuck", "", []string{"READ"}, nil)), 400, "BadRequestException", "pending job")

	c := mustOK(t, p.api.call("POST", jobPath, map[string]any{"status": "CANCELLED"}))
	if c.str("status") != "CANCELLED" || c.str("operation") != "CreateBackendStorage" {
		t.Fatalf("cancel answer: %s", c.Raw)
	}
	if got := mustOK(t, p.api.call("GET", jobPath, nil)); got.str("status") != "CANCELLED" {
		t.Fatalf("job after cancel: %s", got.Raw)
	}
	// Cancelling again is harmless, and a client cannot move a job anywhere else.
	if again := mustOK(t, p.api.call("POST", jobPath, map[string]any{"status": "CANCELLED"})); again.str("status") != "CANCELLED" {
		t.Fatalf("second cancel: %s", again.Raw)
	}
	wantError(t, p.api.call("POST", jobPath, map[string]any{"status": "COMPLETED"}), 400, "BadRequestException", "only status a client can set")
	wantError(t, p.api.call("POST", "/backend/app2/storage/dev/details", map[string]any{"resourceName": "stuck"}), 404, "NotFoundException", "stuck")

	p.resume()
	// Once the undo is done the name is free again; a new create proves it.
	var r2 response
	for i := 0; ; i++ {
		r2 = p.api.call("POST", "/backend/app2/storage", storageBody("dev", "stuck", "amplify-e2e-cancel-2", []string{"READ"}, nil))
		if r2.Status == 200 || i > 500 {
			break
		}
		p.api.waitJob("app2", "dev", id) // CANCELLED already; just paces the loop
	}
	mustOK(t, r2)
	if job := p.api.waitJob("app2", "dev", r2.str("jobId")); job.str("status") != "COMPLETED" {
		t.Fatalf("create after cancel: %s", job.Raw)
	}
	if bucketExists(t, p.gw, "amplify-e2e-cancel") {
		t.Fatal("the cancelled create left its bucket behind")
	}
}
