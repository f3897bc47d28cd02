package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestEnvironmentJobsSurviveKill drives the whole-environment operations
// through the real binary: CreateBackend names the app; CloneBackend and
// DeleteBackend are each accepted while the target stalls, the server is
// killed with SIGKILL, and the restarted server finishes them; while the
// DeleteBackend is pending, a storage call in its environment is refused
// naming the job. RemoveAllBackends' job is read under an environment
// name, and the app is left without environments.
func TestEnvironmentJobsSurviveKill(t *testing.T) {
	t.Parallel()
	p := testserver.NewStalledPair(t)
	api := p.API
	const app = "envapp"
	created := testserver.MustOK(t, api.Call("POST", "/backend", map[string]any{"appId": app, "appName": "Env App", "backendEnvironmentName": "dev"}))
	if created.Str("operation") != "CreateBackend" || created.Str("status") != "RUNNING" {
		t.Fatalf("CreateBackend answer: %s", created.Raw)
	}
	if j := api.WaitJob(app, "dev", created.Str("jobId")); j.Str("status") != "COMPLETED" || j.Str("operation") != "CreateBackend" {
		t.Fatalf("CreateBackend job: %s", j.Raw)
	}
	testserver.WantError(t, api.Call("POST", "/backend", map[string]any{"appId": app, "appName": "Env App", "backendEnvironmentName": "dev"}),
		400, "BadRequestException", "already exists")
	testserver.WantError(t, api.Call("POST", "/backend", map[string]any{"appId": app, "backendEnvironmentName": "x"}), 400, "BadRequestException", "appName")
	s := testserver.MustOK(t, api.Call("POST", "/backend/"+app+"/storage", storageBody("dev", "docs", "amplify-e2e-env-src", []string{"READ"}, []string{"READ"})))
	api.WaitJob(app, "dev", s.Str("jobId"))

	p.Pause()
	clone := testserver.MustOK(t, api.Call("POST", "/backend/"+app+"/environments/dev/clone", map[string]any{"targetEnvironmentName": "staging"}))
	testserver.WantError(t, api.Call("POST", "/backend/"+app+"/storage/dev", map[string]any{"resourceName": "docs",
		"resourceConfig": map[string]any{"serviceName": "S3", "permissions": map[string]any{"authenticated": []string{}}}}),
		400, "BadRequestException", clone.Str("jobId"))
	killAndResume(p)
	if j := api.WaitJob(app, "dev", clone.Str("jobId")); j.Str("status") != "COMPLETED" || j.Str("operation") != "CloneBackend" {
		t.Fatalf("CloneBackend job after kill: %s\nlog:\n%s", j.Raw, api.Logs)
	}
	got := testserver.MustOK(t, api.Call("POST", "/backend/"+app+"/storage/staging/details", map[string]any{"resourceName": "docs"}))
	bucket, _ := got.Body["resourceConfig"].(map[string]any)["bucketName"].(string)
	if bucket == "" || bucket == "amplify-e2e-env-src" || !bucketExists(t, p.GW, bucket) {
		t.Fatalf("the clone's bucket: %s", got.Raw)
	}
	be := testserver.MustOK(t, api.Call("POST", "/backend/"+app+"/details", map[string]any{}))
	if envs := be.Body["backendEnvironmentList"]; be.Str("appName") != "Env App" || !slices.Equal(envs.([]any), []any{"dev", "staging"}) {
		t.Fatalf("GetBackend after the clone: %s", be.Raw)
	}

	p.Pause()
	del := testserver.MustOK(t, api.Call("POST", "/backend/"+app+"/environments/staging/remove", nil))
	testserver.WantError(t, api.Call("POST", "/backend/"+app+"/storage", storageBody("staging", "late", "", []string{"READ"}, nil)),
		400, "BadRequestException", del.Str("jobId"))
	killAndResume(p)
	if j := api.WaitJob(app, "staging", del.Str("jobId")); j.Str("status") != "COMPLETED" || j.Str("operation") != "DeleteBackend" {
		t.Fatalf("DeleteBackend job after kill: %s\nlog:\n%s", j.Raw, api.Logs)
	}
	testserver.WantError(t, api.Call("POST", "/backend/"+app+"/storage/staging/details", map[string]any{"resourceName": "docs"}), 404, "NotFoundException", "docs")
	if !bucketExists(t, p.GW, bucket) {
		t.Fatal("DeleteBackend removed the bucket; buckets are kept unless bucket deletion is on")
	}
	testserver.WantError(t, api.Call("POST", "/backend/"+app+"/environments/nope/remove", nil), 404, "NotFoundException", "nope")

	all := testserver.MustOK(t, api.Call("POST", "/backend/"+app+"/remove", map[string]any{"cleanAmplifyApp": true}))
	if all.Str("operation") != "RemoveAllBackends" || all.Str("backendEnvironmentName") != "" {
		t.Fatalf("RemoveAllBackends answer: %s", all.Raw)
	}
	if j := api.WaitJob(app, "dev", all.Str("jobId")); j.Str("status") != "COMPLETED" {
		t.Fatalf("RemoveAllBackends job: %s", j.Raw)
	}
	be = testserver.MustOK(t, api.Call("POST", "/backend/"+app+"/details", map[string]any{}))
	if envs := be.Body["backendEnvironmentList"].([]any); len(envs) != 0 || be.Str("appName") != "" {
		t.Fatalf("GetBackend after RemoveAllBackends: %s", be.Raw)
	}
	list := testserver.MustOK(t, api.Call("POST", "/backend/"+app+"/job/dev", map[string]any{"operation": "CloneBackend"}))
	if jobs, _ := list.Body["jobs"].([]any); len(jobs) != 1 || jobs[0].(map[string]any)["jobId"] != clone.Str("jobId") {
		t.Fatalf("ListBackendJobs for CloneBackend: %s", list.Raw)
	}
}

// killAndResume kills the API server with SIGKILL while its target is
// paused, releases the target and starts the server again on its data.
func killAndResume(p *testserver.StalledPair) {
	p.API.Kill()
	p.Resume()
	p.API.Restart()
}

// TestCloneOfASharedImportAuthorizedAsTheImport: a clone imports each
// bucket its source imported again into the target, so a key needs what
// importing that bucket into the target would take: a grant in every other
// environment that uses it. A key confined to its app, cloning an
// environment that shares an imported bucket with another app, is refused
// naming the bucket, and nothing is made; the administrator's clone of the
// same environment completes, the bucket imported into the target.
func TestCloneOfASharedImportAuthorizedAsTheImport(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	const bucket = "e2e-clone-shared-import"
	if _, err := s.S3Client().CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"theirs", "mine"} {
		r := testserver.MustOK(t, s.Call("POST", "/backend/"+app+"/storage/dev/import", map[string]any{"serviceName": "S3", "bucketName": bucket}))
		if j := s.WaitJob(app, "dev", r.Str("jobId")); j.Str("status") != "COMPLETED" {
			t.Fatalf("import into %s: %s", app, j.Raw)
		}
	}
	r := testserver.MustOK(t, s.Call("POST", "/backend/mine/storage/dev", map[string]any{"resourceName": bucket,
		"resourceConfig": map[string]any{"serviceName": "S3", "permissions": map[string]any{"authenticated": []string{"READ"}, "unAuthenticated": []string{"READ"}}}}))
	if j := s.WaitJob("mine", "dev", r.Str("jobId")); j.Str("status") != "COMPLETED" {
		t.Fatalf("update in mine: %s", j.Raw)
	}

	dir := t.TempDir()
	doc := filepath.Join(dir, "mine.json")
	if err := os.WriteFile(doc, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"amplifybackend:*",
		"Resource":"arn:aws:amplifybackend:*:*:/backend/mine/*"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	handed := filepath.Join(dir, "credentials")
	if out, code := testserver.Run(t, "keys", "create", "mine", "--policy", doc, "--credentials-file", handed, "--data-dir", s.DataDir); code != 0 {
		t.Fatalf("keys create: exit %d\n%s", code, out)
	}
	mine, err := credfile.Profile(handed, "mine")
	if err != nil {
		t.Fatal(err)
	}
	s.Until("the new key accepted", func() bool {
		return s.CallAs(mine, "POST", "/backend/mine/job/dev", map[string]any{}).Status == 200
	})

	policyBefore := bucketPolicy(t, s, bucket)
	clone := func(creds aws.Credentials) testserver.Response {
		return s.CallAs(creds, "POST", "/backend/mine/environments/dev/clone", map[string]any{"targetEnvironmentName": "copy"})
	}
	arn := "arn:aws:s3:::" + bucket
	testserver.WantError(t, clone(mine), 403, "AccessDeniedException", "amplifybackend:CloneBackend on resource: "+arn)
	testserver.WantError(t, s.CallAs(mine, "POST", "/backend/mine/storage/copy/import", map[string]any{"serviceName": "S3", "bucketName": bucket}),
		403, "AccessDeniedException", "amplifybackend:ImportBackendStorage on resource: "+arn)
	be := testserver.MustOK(t, s.Call("POST", "/backend/mine/details", map[string]any{}))
	if envs := be.Body["backendEnvironmentList"]; !slices.Equal(envs.([]any), []any{"dev"}) {
		t.Fatalf("a refused clone left an environment: %s", be.Raw)
	}
	if got := bucketPolicy(t, s, bucket); got != policyBefore {
		t.Fatalf("a refused clone changed the bucket policy:\n%s\nwas:\n%s", got, policyBefore)
	}

	r = testserver.MustOK(t, clone(s.APICreds))
	if j := s.WaitJob("mine", "dev", r.Str("jobId")); j.Str("status") != "COMPLETED" {
		t.Fatalf("the administrator's clone: %s", j.Raw)
	}
	got := testserver.MustOK(t, s.Call("POST", "/backend/mine/storage/copy/details", map[string]any{"resourceName": bucket}))
	if cfg := got.Body["resourceConfig"].(map[string]any); cfg["bucketName"] != bucket || cfg["imported"] != true {
		t.Fatalf("the clone's import: %s", got.Raw)
	}
}
