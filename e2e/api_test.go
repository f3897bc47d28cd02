package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// jobCount returns how many jobs ListBackendJobs reports for app/env (0 when
// the app or environment is unknown).
func jobCount(t *testing.T, s *testserver.Server, app, env string) int {
	t.Helper()
	n := 0
	var token string
	for {
		body := map[string]any{}
		if token != "" {
			body["nextToken"] = token
		}
		r := s.Call("POST", fmt.Sprintf("/backend/%s/job/%s", testserver.Esc(app), testserver.Esc(env)), body)
		if r.Status == 404 {
			return 0
		}
		testserver.MustOK(t, r)
		jobs, _ := r.Body["jobs"].([]any)
		n += len(jobs)
		if token = r.Str("nextToken"); token == "" {
			return n
		}
	}
}

// TestBadInputChangesNothing sends every kind of bad request and checks the
// error, and that no job or resource appeared.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	// One good resource so app/env exist and duplicates can be tried.
	r := testserver.MustOK(t, s.Call("POST", "/backend/app1/storage", storageBody("dev", "photos", "amplify-e2e-bad", []string{"READ"}, nil)))
	s.WaitJob("app1", "dev", r.Str("jobId"))
	before := jobCount(t, s, "app1", "dev")

	raw := s.CallRaw
	perms := func(auth, guest any) map[string]any {
		return map[string]any{"serviceName": "S3", "permissions": map[string]any{"authenticated": auth, "unAuthenticated": guest}}
	}
	cases := []struct {
		name   string
		resp   func() testserver.Response
		status int
		errTyp string
		msg    string
	}{
		{"malformed JSON", func() testserver.Response { return raw("POST", "/backend/app1/storage", `{"resourceName":`) }, 400, "BadRequestException", "not valid JSON"},
		{"wrong type", func() testserver.Response { return raw("POST", "/backend/app1/storage", `{"resourceName":5}`) }, 400, "BadRequestException", "resourceName"},
		{"missing env", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", map[string]any{"resourceName": "x", "resourceConfig": perms([]string{}, nil)})
		}, 400, "BadRequestException", "backendEnvironmentName"},
		{"missing resourceName", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", map[string]any{"backendEnvironmentName": "dev", "resourceConfig": perms([]string{}, nil)})
		}, 400, "BadRequestException", "resourceName"},
		{"missing resourceConfig", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", map[string]any{"backendEnvironmentName": "dev", "resourceName": "x"})
		}, 400, "BadRequestException", "resourceConfig"},
		{"missing authenticated", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", map[string]any{"backendEnvironmentName": "dev", "resourceName": "x",
				"resourceConfig": map[string]any{"serviceName": "S3", "permissions": map[string]any{}}})
		}, 400, "BadRequestException", "resourceConfig.permissions.authenticated"},
		{"bad service", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", map[string]any{"backendEnvironmentName": "dev", "resourceName": "x",
				"resourceConfig": map[string]any{"serviceName": "DynamoDB", "permissions": map[string]any{"authenticated": []string{}}}})
		}, 400, "BadRequestException", "serviceName"},
		{"bad permission", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", map[string]any{"backendEnvironmentName": "dev", "resourceName": "x",
				"resourceConfig": perms([]string{"WRITE"}, nil)})
		}, 400, "BadRequestException", "resourceConfig.permissions.authenticated"},
		{"bad guest permission", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", map[string]any{"backendEnvironmentName": "dev", "resourceName": "x",
				"resourceConfig": perms([]string{}, []string{"read"})})
		}, 400, "BadRequestException", "unAuthenticated"},
		{"uppercase bucket", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", storageBody("dev", "x", "Amplify-Bucket", []string{}, nil))
		}, 400, "BadRequestException", "bucketName"},
		{"ip bucket", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", storageBody("dev", "x", "192.168.1.1", []string{}, nil))
		}, 400, "BadRequestException", "IP address"},
		{"short bucket", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", storageBody("dev", "x", "ab", []string{}, nil))
		}, 400, "BadRequestException", "between 3 and 63"},
		{"xn-- bucket", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", storageBody("dev", "x", "xn--bucket", []string{}, nil))
		}, 400, "BadRequestException", "xn--"},
		{"s3alias bucket", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", storageBody("dev", "x", "bucket-s3alias", []string{}, nil))
		}, 400, "BadRequestException", "-s3alias"},
		{"duplicate resource", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", storageBody("dev", "photos", "", []string{}, nil))
		}, 400, "BadRequestException", "already exists"},
		{"bucket of another resource", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", storageBody("dev", "other", "amplify-e2e-bad", []string{}, nil))
		}, 400, "BadRequestException", "already used"},
		{"control character in name", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage", storageBody("dev", "a\tb", "", []string{}, nil))
		}, 400, "BadRequestException", "control characters"},
		{"update unknown resource", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage/dev", map[string]any{"resourceName": "nope", "resourceConfig": perms([]string{}, nil)})
		}, 404, "NotFoundException", "nope"},
		{"delete unknown resource", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage/dev/remove", map[string]any{"resourceName": "nope", "serviceName": "S3"})
		}, 404, "NotFoundException", "nope"},
		{"delete without serviceName", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage/dev/remove", map[string]any{"resourceName": "photos"})
		}, 400, "BadRequestException", "serviceName"},
		{"import without bucket", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage/dev/import", map[string]any{"serviceName": "S3"})
		}, 400, "BadRequestException", "bucketName"},
		{"import bad bucket name", func() testserver.Response {
			return s.Call("POST", "/backend/app1/storage/dev/import", map[string]any{"serviceName": "S3", "bucketName": "a_b"})
		}, 400, "BadRequestException", "bucketName"},
		{"maxResults too big", func() testserver.Response {
			return s.Call("POST", "/backend/app1/job/dev", map[string]any{"maxResults": 26})
		}, 400, "BadRequestException", "maxResults"},
		{"bad status filter", func() testserver.Response {
			return s.Call("POST", "/backend/app1/job/dev", map[string]any{"status": "DONE"})
		}, 400, "BadRequestException", "status"},
		{"forged token", func() testserver.Response {
			return s.Call("POST", "/backend/app1/job/dev", map[string]any{"nextToken": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
		}, 400, "BadRequestException", "nextToken"},
		{"CreateBackend without appName", func() testserver.Response {
			return s.Call("POST", "/backend", map[string]any{"appId": "app1", "backendEnvironmentName": "new"})
		}, 400, "BadRequestException", "appName"},
		{"CreateBackend without appId", func() testserver.Response {
			return s.Call("POST", "/backend", map[string]any{"appName": "n", "backendEnvironmentName": "new"})
		}, 400, "BadRequestException", "appId"},
		{"CreateBackend with a resourceConfig that is not an object", func() testserver.Response {
			return raw("POST", "/backend", `{"appId":"app1","appName":"n","backendEnvironmentName":"new","resourceConfig":"x"}`)
		}, 400, "BadRequestException", "resourceConfig"},
		{"CreateBackend of an existing environment", func() testserver.Response {
			return s.Call("POST", "/backend", map[string]any{"appId": "app1", "appName": "n", "backendEnvironmentName": "dev"})
		}, 400, "BadRequestException", "already exists"},
		{"CloneBackend without target", func() testserver.Response {
			return s.Call("POST", "/backend/app1/environments/dev/clone", map[string]any{})
		}, 400, "BadRequestException", "targetEnvironmentName"},
		{"CloneBackend onto an existing environment", func() testserver.Response {
			return s.Call("POST", "/backend/app1/environments/dev/clone", map[string]any{"targetEnvironmentName": "dev"})
		}, 400, "BadRequestException", "already exists"},
		{"CloneBackend of an unknown environment", func() testserver.Response {
			return s.Call("POST", "/backend/app1/environments/nope/clone", map[string]any{"targetEnvironmentName": "new"})
		}, 404, "NotFoundException", "nope"},
		{"DeleteBackend of an unknown environment", func() testserver.Response {
			return s.Call("POST", "/backend/app1/environments/nope/remove", nil)
		}, 404, "NotFoundException", "nope"},
		{"RemoveAllBackends with cleanAmplifyApp not a boolean", func() testserver.Response {
			return raw("POST", "/backend/app1/remove", `{"cleanAmplifyApp":"yes"}`)
		}, 400, "BadRequestException", "cleanAmplifyApp"},
		{"RemoveAllBackends of an unknown app", func() testserver.Response {
			return s.Call("POST", "/backend/nope/remove", nil)
		}, 404, "NotFoundException", "nope"},
		{"body over 1 MiB", func() testserver.Response {
			return raw("POST", "/backend/app1/storage", `{"resourceName":"`+strings.Repeat("a", 1<<20)+`"}`)
		}, 400, "BadRequestException", "1 MiB"},
	}
	for _, c := range cases {
		r := c.resp()
		t.Run(c.name, func(t *testing.T) { testserver.WantError(t, r, c.status, c.errTyp, c.msg) })
	}
	if after := jobCount(t, s, "app1", "dev"); after != before {
		t.Fatalf("rejected calls changed the job list: %d jobs before, %d after", before, after)
	}
	for _, name := range []string{"x", "other"} {
		if r := s.Call("POST", "/backend/app1/storage/dev/details", map[string]any{"resourceName": name}); r.Status != 404 {
			t.Fatalf("rejected create left resource %q: %s", name, r.Raw)
		}
	}
	be := testserver.MustOK(t, s.Call("POST", "/backend/app1/details", map[string]any{}))
	if envs, _ := be.Body["backendEnvironmentList"].([]any); len(envs) != 1 || be.Str("appName") != "" {
		t.Fatalf("rejected environment calls changed the app: %s", be.Raw)
	}
	// Unknown app, environment and job are 404s that say which.
	for path, rt := range map[string]string{
		"/backend/nope/job/dev/x":                              "app",
		"/backend/app1/job/prod/x":                             "backendEnvironment",
		"/backend/app1/job/dev/00000000-0000-0000-0000-000000": "job",
	} {
		r := s.Call("GET", path, nil)
		testserver.WantError(t, r, 404, "NotFoundException", "")
		if r.Str("resourceType") != rt {
			t.Fatalf("%s: resourceType %q, want %q", path, r.Str("resourceType"), rt)
		}
	}
}

// TestAuthentication checks every way a request can fail SigV4.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	body := []byte(`{}`)
	path := "/s3Buckets"
	signed := func(creds aws.Credentials, at time.Time, mutate func(*http.Request)) testserver.Response {
		req := s.NewRequest("POST", path, body)
		testserver.Sign(t, req, body, creds, at)
		if mutate != nil {
			mutate(req)
		}
		return testserver.Do(t, req)
	}
	testserver.MustOK(t, signed(s.APICreds, time.Now(), nil))
	testserver.WantError(t, testserver.Do(t, s.NewRequest("POST", path, body)), 403, "MissingAuthenticationTokenException", "Missing Authentication Token")
	wrong := s.APICreds
	wrong.SecretAccessKey = "not-the-secret"
	testserver.WantError(t, signed(wrong, time.Now(), nil), 403, "InvalidSignatureException", "signature")
	unknown := aws.Credentials{AccessKeyID: "AKIAUNKNOWNKEY000000", SecretAccessKey: "x"}
	testserver.WantError(t, signed(unknown, time.Now(), nil), 403, "UnrecognizedClientException", "invalid")
	testserver.WantError(t, signed(s.APICreds, time.Now().Add(-10*time.Minute), nil), 403, "InvalidSignatureException", "Signature expired")
	testserver.WantError(t, signed(s.APICreds, time.Now(), func(r *http.Request) {
		r.Body = http.NoBody
		r.ContentLength = 0
		r.URL.Path = "/backend/x/details"
	}), 403, "InvalidSignatureException", "signature")
	// The embedded S3 root key is not an API key.
	testserver.WantError(t, signed(s.S3Creds, time.Now(), nil), 403, "UnrecognizedClientException", "")
	// Health is open.
	resp, err := http.Get(s.API + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestImportGetBackendAndPaging covers import (found and missing), the
// GetBackend summary, ListS3Buckets and job pagination with filters.
func TestImportGetBackendAndPaging(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	if _, err := s.S3Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("existing-bucket")}); err != nil {
		t.Fatal(err)
	}
	r := testserver.MustOK(t, s.Call("POST", "/backend/app%2F1/storage/dev/import", map[string]any{"serviceName": "S3", "bucketName": "existing-bucket"}))
	if job := s.WaitJob("app/1", "dev", r.Str("jobId")); job.Str("status") != "COMPLETED" || job.Str("operation") != "ImportBackendStorage" {
		t.Fatalf("import job: %s", job.Raw)
	}
	got := testserver.MustOK(t, s.Call("POST", "/backend/app%2F1/storage/dev/details", map[string]any{"resourceName": "existing-bucket"}))
	if !strings.Contains(string(got.Raw), `"imported":true`) || !strings.Contains(string(got.Raw), `"bucketName":"existing-bucket"`) {
		t.Fatalf("imported details: %s", got.Raw)
	}
	// Update on an imported bucket adds our statements to its policy.
	r = testserver.MustOK(t, s.Call("POST", "/backend/app%2F1/storage/dev", map[string]any{"resourceName": "existing-bucket",
		"resourceConfig": map[string]any{"serviceName": "S3", "permissions": map[string]any{"authenticated": []string{}, "unAuthenticated": []string{"READ"}}}}))
	if job := s.WaitJob("app/1", "dev", r.Str("jobId")); job.Str("status") != "COMPLETED" {
		t.Fatalf("update of import: %s", job.Raw)
	}
	putObject(t, s, "existing-bucket", "public/p")
	if got := s.Anon("GET", "/existing-bucket/public/p", ""); got != 200 {
		t.Fatalf("guest read on imported bucket: %d", got)
	}

	r = testserver.MustOK(t, s.Call("POST", "/backend/app%2F1/storage/dev/import", map[string]any{"serviceName": "S3", "bucketName": "missing-bucket"}))
	job := s.WaitJob("app/1", "dev", r.Str("jobId"))
	if job.Str("status") != "FAILED" || job.Str("error") != `The specified bucket: "missing-bucket" does not exist.` {
		t.Fatalf("import of a missing bucket: %s", job.Raw)
	}
	if r := s.Call("POST", "/backend/app%2F1/storage/dev/details", map[string]any{"resourceName": "missing-bucket"}); r.Status != 404 {
		t.Fatalf("failed import left a resource: %s", r.Raw)
	}

	// Six creates in two environments.
	for i := 0; i < 6; i++ {
		env := []string{"dev", "prod"}[i%2]
		r := testserver.MustOK(t, s.Call("POST", "/backend/app%2F1/storage", storageBody(env, fmt.Sprintf("res%d", i), "", []string{"READ"}, nil)))
		s.WaitJob("app/1", env, r.Str("jobId"))
	}
	gb := testserver.MustOK(t, s.Call("POST", "/backend/app%2F1/details", map[string]any{"backendEnvironmentName": "prod"}))
	var backend struct {
		AppID                  string   `json:"appId"`
		BackendEnvironmentList []string `json:"backendEnvironmentList"`
		AmplifyMetaConfig      string   `json:"amplifyMetaConfig"`
		AmplifyFeatureFlags    string   `json:"amplifyFeatureFlags"`
		Error                  *string  `json:"error"`
		AppName                *string  `json:"appName"`
	}
	_ = json.Unmarshal(gb.Raw, &backend)
	var flags struct {
		Features map[string]map[string]any `json:"features"`
	}
	if err := json.Unmarshal([]byte(backend.AmplifyFeatureFlags), &flags); err != nil || flags.Features["auth"] == nil {
		t.Fatalf("amplifyFeatureFlags is not cli.json's features: %s", gb.Raw)
	}
	// A healthy environment has no error, whatever its warnings; no name
	// is known for an app that only has storage.
	if backend.Error != nil || backend.AppName != nil {
		t.Fatalf("GetBackend of a healthy environment: %s", gb.Raw)
	}
	var meta struct {
		Storage map[string]struct {
			Service string
			Output  map[string]string `json:"output"`
		} `json:"storage"`
	}
	if err := json.Unmarshal([]byte(backend.AmplifyMetaConfig), &meta); err != nil {
		t.Fatalf("amplifyMetaConfig is not JSON: %s", gb.Raw)
	}
	if backend.AppID != "app/1" || strings.Join(backend.BackendEnvironmentList, ",") != "dev,prod" || len(meta.Storage) != 3 ||
		meta.Storage["res1"].Service != "S3" || meta.Storage["res1"].Output["BucketName"] == "" || meta.Storage["res1"].Output["Region"] != "us-east-1" {
		t.Fatalf("GetBackend: %s", gb.Raw)
	}
	testserver.WantError(t, s.Call("POST", "/backend/nope/details", map[string]any{}), 404, "NotFoundException", "nope")

	buckets := testserver.MustOK(t, s.Call("POST", "/s3Buckets", map[string]any{}))
	if !strings.Contains(string(buckets.Raw), `"name":"existing-bucket"`) || !strings.Contains(string(buckets.Raw), `"creationDate":"`) {
		t.Fatalf("ListS3Buckets: %s", buckets.Raw)
	}

	// dev has: import, update, failed import, three creates = 6 jobs. Page by 4, filtered and not.
	var seen []string
	token := ""
	for {
		body := map[string]any{"maxResults": 4}
		if token != "" {
			body["nextToken"] = token
		}
		page := testserver.MustOK(t, s.Call("POST", "/backend/app%2F1/job/dev", body))
		var p struct {
			Jobs []struct {
				JobID, CreateTime string
			}
			NextToken *string
		}
		_ = json.Unmarshal(page.Raw, &p)
		for _, j := range p.Jobs {
			seen = append(seen, j.JobID)
		}
		if p.NextToken == nil {
			break
		}
		if *p.NextToken == "" {
			t.Fatal("nextToken sent as an empty string instead of being left out")
		}
		// A token is bound to its request: other filters refuse it.
		testserver.WantError(t, s.Call("POST", "/backend/app%2F1/job/dev", map[string]any{"nextToken": *p.NextToken, "status": "FAILED"}), 400, "BadRequestException", "nextToken")
		token = *p.NextToken
	}
	if len(seen) != 6 {
		t.Fatalf("paged %d jobs, want 6", len(seen))
	}
	failed := testserver.MustOK(t, s.Call("POST", "/backend/app%2F1/job/dev", map[string]any{"status": "FAILED"}))
	if jobs, _ := failed.Body["jobs"].([]any); len(jobs) != 1 {
		t.Fatalf("status filter: %s", failed.Raw)
	}
	imports := testserver.MustOK(t, s.Call("POST", "/backend/app%2F1/job/dev", map[string]any{"operation": "ImportBackendStorage"}))
	if jobs, _ := imports.Body["jobs"].([]any); len(jobs) != 2 {
		t.Fatalf("operation filter: %s", imports.Raw)
	}
	one := testserver.MustOK(t, s.Call("POST", "/backend/app%2F1/job/dev", map[string]any{"jobId": seen[2]}))
	if jobs, _ := one.Body["jobs"].([]any); len(jobs) != 1 {
		t.Fatalf("jobId filter: %s", one.Raw)
	}
}

// TestFailedCreateLeavesNothing makes the role-policy step fail for good
// (the gateway refuses a trust policy with a wildcard pool) after the bucket
// was created, and checks the rollback removed bucket and resource.
func TestFailedCreateLeavesNothing(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, "--identity-pool-id", "*")
	r := testserver.MustOK(t, s.Call("POST", "/backend/app1/storage", storageBody("dev", "doomed", "amplify-e2e-doomed", []string{"READ"}, nil)))
	job := s.WaitJob("app1", "dev", r.Str("jobId"))
	if job.Str("status") != "FAILED" || !strings.Contains(job.Str("error"), "role policy") {
		t.Fatalf("job: %s", job.Raw)
	}
	if bucketExists(t, s, "amplify-e2e-doomed") {
		t.Fatal("the failed create left its bucket")
	}
	testserver.WantError(t, s.Call("POST", "/backend/app1/storage/dev/details", map[string]any{"resourceName": "doomed"}), 404, "NotFoundException", "doomed")
	s.Stop() // its stderr is then read to the end
	if !strings.Contains(s.Logs.String(), "job failed") {
		t.Fatalf("failure not logged:\n%s", s.Logs)
	}
}
