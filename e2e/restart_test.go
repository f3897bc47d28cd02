package e2e

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

func bucketExists(t *testing.T, s *testserver.Server, bucket string) bool {
	t.Helper()
	_, err := s.S3Client().HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	return err == nil
}

// TestKillDuringJobResumes kills the server with SIGKILL while a create is
// stuck on the target, restarts it, and expects the job to finish.
func TestKillDuringJobResumes(t *testing.T) {
	t.Parallel()
	p := testserver.NewStalledPair(t)
	p.Pause()
	r := testserver.MustOK(t, p.API.Call("POST", "/backend/app1/storage", storageBody("dev", "docs", "amplify-e2e-restart",
		[]string{"READ"}, []string{"READ"})))
	id := r.Str("jobId")
	p.API.Kill()

	p.Resume()
	p.API.Restart()
	job := p.API.WaitJob("app1", "dev", id)
	if job.Str("status") != "COMPLETED" {
		t.Fatalf("job after restart: %s\nlog:\n%s", job.Raw, p.API.Logs)
	}
	if !bucketExists(t, p.GW, "amplify-e2e-restart") {
		t.Fatal("bucket missing after resumed create")
	}
	putObject(t, p.GW, "amplify-e2e-restart", "public/x")
	if got := p.GW.Anon("GET", "/amplify-e2e-restart/public/x", ""); got != 200 {
		t.Fatalf("guest READ not in force after resumed job: %d", got)
	}
	testserver.MustOK(t, p.API.Call("POST", "/backend/app1/storage/dev/details", map[string]any{"resourceName": "docs"}))
}

// TestCancelStuckCreate cancels a create while the target hangs: the job
// reports CANCELLED at once, and once the target answers again the
// resource is gone and the bucket it may have created is removed.
func TestCancelStuckCreate(t *testing.T) {
	t.Parallel()
	p := testserver.NewStalledPair(t)
	p.Pause()
	r := testserver.MustOK(t, p.API.Call("POST", "/backend/app2/storage", storageBody("dev", "stuck", "amplify-e2e-cancel", []string{"READ"}, nil)))
	id := r.Str("jobId")
	jobPath := "/backend/app2/job/dev/" + id

	// A second change to the same resource waits its turn.
	testserver.WantError(t, p.API.Call("POST", "/backend/app2/storage", storageBody("dev", "stuck", "", []string{"READ"}, nil)), 400, "BadRequestException", "pending job")

	c := testserver.MustOK(t, p.API.Call("POST", jobPath, map[string]any{"status": "CANCELLED"}))
	if c.Str("status") != "CANCELLED" || c.Str("operation") != "CreateBackendStorage" {
		t.Fatalf("cancel answer: %s", c.Raw)
	}
	if got := testserver.MustOK(t, p.API.Call("GET", jobPath, nil)); got.Str("status") != "CANCELLED" {
		t.Fatalf("job after cancel: %s", got.Raw)
	}
	// Cancelling again is harmless, and a client cannot move a job anywhere else.
	if again := testserver.MustOK(t, p.API.Call("POST", jobPath, map[string]any{"status": "CANCELLED"})); again.Str("status") != "CANCELLED" {
		t.Fatalf("second cancel: %s", again.Raw)
	}
	testserver.WantError(t, p.API.Call("POST", jobPath, map[string]any{"status": "COMPLETED"}), 400, "BadRequestException", "only status a client can set")
	testserver.WantError(t, p.API.Call("POST", "/backend/app2/storage/dev/details", map[string]any{"resourceName": "stuck"}), 404, "NotFoundException", "stuck")

	p.Resume()
	// Once the undo is done the name is free again; a new create proves it.
	var r2 testserver.Response
	p.API.Until("the cancelled create's name is still taken", func() bool {
		r2 = p.API.Call("POST", "/backend/app2/storage", storageBody("dev", "stuck", "amplify-e2e-cancel-2", []string{"READ"}, nil))
		return r2.Status == 200
	})
	if job := p.API.WaitJob("app2", "dev", r2.Str("jobId")); job.Str("status") != "COMPLETED" {
		t.Fatalf("create after cancel: %s", job.Raw)
	}
	if bucketExists(t, p.GW, "amplify-e2e-cancel") {
		t.Fatal("the cancelled create left its bucket behind")
	}
}
