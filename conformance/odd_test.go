package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestOddButLegalRequests sends what SDKs cannot be made to send but other
// clients do: unknown JSON fields at every level (ignored, as the real
// service's JSON binding ignores them), no Content-Type header, an empty
// body where every field is optional, and nulls for optional fields.
func TestOddButLegalRequests(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	raw := func(method, path, body string, contentType bool) testserver.Response {
		req := s.NewRequest(method, path, []byte(body))
		if !contentType {
			req.Header.Del("Content-Type")
		}
		testserver.Sign(t, req, []byte(body), s.APICreds, time.Now())
		return testserver.Do(t, req)
	}
	r := testserver.MustOK(t, raw("POST", "/backend/odd/storage", `{
		"backendEnvironmentName": "dev", "resourceName": "files", "clientToken": "x", "tags": {"a": 1},
		"resourceConfig": {"serviceName": "S3", "futureField": [1, 2], "bucketName": null,
			"permissions": {"authenticated": ["READ", "READ", "DELETE"], "unAuthenticated": [], "owner": "me"}}}`, false))
	if job := s.WaitJob("odd", "dev", r.Str("jobId")); job.Str("status") != "COMPLETED" {
		t.Fatalf("create with unknown fields: %s", job.Raw)
	}
	got := testserver.MustOK(t, raw("POST", "/backend/odd/storage/dev/details", `{"resourceName":"files","extra":true}`, false))
	body := string(got.Raw)
	if !strings.Contains(body, `"authenticated":["DELETE","READ"]`) || strings.Contains(body, "unAuthenticated") {
		t.Fatalf("repeated elements and an empty guest list: %s", body)
	}
	// Every ListBackendJobs field is optional: an empty body and a JSON null both list everything.
	for _, b := range []string{"", "{}", `{"maxResults": null, "nextToken": null}`} {
		list := testserver.MustOK(t, raw("POST", "/backend/odd/job/dev", b, false))
		if jobs, _ := list.Body["jobs"].([]any); len(jobs) != 1 {
			t.Fatalf("list with body %q: %s", b, list.Raw)
		}
	}
	testserver.MustOK(t, raw("POST", "/s3Buckets", "", false))
	// Unknown fields never make a bad request good.
	testserver.WantError(t, raw("POST", "/backend/odd/storage/dev/details", `{"ResourceName":"files"}`, true), 400, "BadRequestException", "resourceName")
}

// TestEmptyPathLabels sends what boto3, the AWS CLI and the JS SDK send
// when a path label is the empty string: nothing between the slashes, so
// an empty last label leaves the path ending in "/". Each is a 400
// BadRequestException naming the label, wherever it is in the path; an
// empty last label matched no route and was a 404
// UnknownOperationException, a type the model does not know, naming
// nothing.
func TestEmptyPathLabels(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	call := s.CallRaw
	storage := `{"resourceName":"files","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}}`
	for _, c := range []struct{ operation, method, path, body, field string }{
		{"ListBackendJobs", "POST", "/backend/app/job/", `{}`, "backendEnvironmentName"},
		{"GetBackendJob", "GET", "/backend/app/job/dev/", ``, "jobId"},
		{"UpdateBackendJob", "POST", "/backend/app/job/dev/", `{"status":"CANCELLED"}`, "jobId"},
		{"UpdateBackendStorage", "POST", "/backend/app/storage/", storage, "backendEnvironmentName"},
		{"GetToken", "GET", "/backend/app/challenge/", ``, "sessionId"},
		// Inside the path, as it always was.
		{"GetBackendStorage", "POST", "/backend/app/storage//details", `{"resourceName":"files"}`, "backendEnvironmentName"},
		{"GetBackendJob", "GET", "/backend//job/dev/x", ``, "appId"},
		{"DeleteToken", "POST", "/backend/app/challenge//remove", ``, "sessionId"},
	} {
		r := call(c.method, c.path, c.body)
		if r.Status != 400 || r.Str("__type") != "BadRequestException" || r.Str("message") != "Missing required field "+c.field+"." {
			t.Errorf("%s with an empty %s (%s %s): %d %s", c.operation, c.field, c.method, c.path, r.Status, r.Raw)
		}
	}
	// An operation the server does not implement still says so.
	testserver.WantError(t, call("POST", "/backend/app/api/", `{}`), 400, "BadRequestException", "UpdateBackendAPI")
	// A trailing slash after a complete path is no operation's.
	testserver.WantError(t, call("POST", "/backend/app/storage/dev/", storage), 404, "UnknownOperationException", "No operation")
}

// TestJobOperationFilters filters ListBackendJobs, and names the operation
// of UpdateBackendJob, with operations of the service model this server
// runs no jobs for: on AWS they do run as jobs, so a client written
// against it may ask for them and finds none here, rather than a 400. A
// name outside the model is still refused, naming the field.
func TestJobOperationFilters(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	call := s.CallRaw
	r := testserver.MustOK(t, call("POST", "/backend/ops/storage", `{"backendEnvironmentName":"dev","resourceName":"files",
		"resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}}`))
	id := r.Str("jobId")
	s.WaitJob("ops", "dev", id)
	for _, op := range []string{"CreateBackendAuth", "UpdateBackendAPI", "GenerateBackendAPIModels"} {
		list := testserver.MustOK(t, call("POST", "/backend/ops/job/dev", `{"operation":"`+op+`"}`))
		if jobs, ok := list.Body["jobs"].([]any); !ok || len(jobs) != 0 || list.Body["nextToken"] != nil {
			t.Errorf("jobs of %s: %s", op, list.Raw)
		}
	}
	list := testserver.MustOK(t, call("POST", "/backend/ops/job/dev", `{"operation":"CreateBackendStorage"}`))
	if jobs, _ := list.Body["jobs"].([]any); len(jobs) != 1 {
		t.Errorf("jobs of CreateBackendStorage: %s", list.Raw)
	}
	testserver.WantError(t, call("POST", "/backend/ops/job/dev/"+id, `{"operation":"CreateBackendAuth","status":"CANCELLED"}`),
		400, "BadRequestException", `Invalid operation "CreateBackendAuth": job `+id+` is a CreateBackendStorage job.`)
	testserver.WantError(t, call("POST", "/backend/ops/job/dev", `{"operation":"createBackendStorage"}`), 400, "BadRequestException", `Invalid operation "createBackendStorage"`)
	testserver.WantError(t, call("POST", "/backend/ops/job/dev/"+id, `{"operation":"Bogus"}`), 400, "BadRequestException", `Invalid operation "Bogus"`)
}
