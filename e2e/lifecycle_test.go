package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func storageBody(env, name, bucket string, auth, guest []string) map[string]any {
	perms := map[string]any{"authenticated": auth}
	if guest != nil {
		perms["unAuthenticated"] = guest
	}
	cfg := map[string]any{"serviceName": "S3", "permissions": perms}
	if bucket != "" {
		cfg["bucketName"] = bucket
	}
	return map[string]any{"backendEnvironmentName": env, "resourceName": name, "resourceConfig": cfg}
}

// rolePolicy reads our inline policy from a role through the IAM API; "" when absent.
func rolePolicy(t *testing.T, s *testserver.Server, role, prefix string) string {
	t.Helper()
	ctx := context.Background()
	names, err := s.IAMClient().ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchEntity" {
			return ""
		}
		t.Fatal(err)
	}
	for _, n := range names.PolicyNames {
		if strings.HasPrefix(n, prefix) {
			out, err := s.IAMClient().GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(n)})
			if err != nil {
				t.Fatal(err)
			}
			doc, err := url.PathUnescape(aws.ToString(out.PolicyDocument))
			if err != nil {
				t.Fatal(err)
			}
			return doc
		}
	}
	return ""
}

func bucketPolicy(t *testing.T, s *testserver.Server, bucket string) string {
	t.Helper()
	out, err := s.S3Client().GetBucketPolicy(context.Background(), &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && strings.Contains(ae.ErrorCode(), "NoSuchBucketPolicy") {
			return ""
		}
		t.Fatal(err)
	}
	return aws.ToString(out.Policy)
}

func putObject(t *testing.T, s *testserver.Server, bucket, key string) {
	t.Helper()
	_, err := s.S3Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("hello")})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStorageLifecycle drives create -> get -> update -> delete and checks,
// at each stage, what the gateway holds and what anonymous requests get.
func TestStorageLifecycle(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	const app, env, name, bucket = "app1", "dev", "photos", "amplify-e2e-lifecycle"

	r := testserver.MustOK(t, s.Call("POST", "/backend/app1/storage", storageBody(env, name, bucket,
		[]string{"READ", "CREATE_AND_UPDATE", "DELETE"}, []string{"READ"})))
	if r.Str("status") != "RUNNING" || r.Str("appId") != app || r.Str("backendEnvironmentName") != env || r.Str("jobId") == "" {
		t.Fatalf("create answer: %s", r.Raw)
	}
	job := s.WaitJob(app, env, r.Str("jobId"))
	if job.Str("status") != "COMPLETED" || job.Str("operation") != "CreateBackendStorage" {
		t.Fatalf("create job: %s\nlog:\n%s", job.Raw, s.Logs)
	}
	// A completed job carries no error, and on the embedded gateway no
	// warning either: its lifecycle rules are real, and its known gap
	// (default encryption) was reported at start-up, not here.
	if strings.Contains(string(job.Raw), `"error"`) || strings.Contains(string(job.Raw), `"warnings"`) {
		t.Fatalf("completed create job: %s", job.Raw)
	}

	got := testserver.MustOK(t, s.Call("POST", "/backend/app1/storage/dev/details", map[string]any{"resourceName": name}))
	var detail struct {
		ResourceConfig struct {
			BucketName  string `json:"bucketName"`
			Imported    *bool  `json:"imported"`
			ServiceName string `json:"serviceName"`
			Permissions struct {
				Authenticated   []string `json:"authenticated"`
				UnAuthenticated []string `json:"unAuthenticated"`
			} `json:"permissions"`
		} `json:"resourceConfig"`
		ResourceName string `json:"resourceName"`
	}
	if err := json.Unmarshal(got.Raw, &detail); err != nil {
		t.Fatal(err)
	}
	rc := detail.ResourceConfig
	if rc.BucketName != bucket || rc.Imported == nil || *rc.Imported || rc.ServiceName != "S3" ||
		strings.Join(rc.Permissions.Authenticated, ",") != "CREATE_AND_UPDATE,DELETE,READ" ||
		strings.Join(rc.Permissions.UnAuthenticated, ",") != "READ" || detail.ResourceName != name {
		t.Fatalf("details: %s", got.Raw)
	}

	// The bucket exists with Amplify's CORS rule and our tags.
	ctx := context.Background()
	cors, err := s.S3Client().GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(cors.CORSRules) != 1 || cors.CORSRules[0].MaxAgeSeconds == nil || *cors.CORSRules[0].MaxAgeSeconds != 3000 ||
		strings.Join(cors.CORSRules[0].AllowedMethods, ",") != "GET,HEAD,PUT,POST,DELETE" {
		t.Fatalf("CORS: %+v", cors.CORSRules)
	}
	tags, err := s.S3Client().GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	tagMap := map[string]string{}
	for _, tg := range tags.TagSet {
		tagMap[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tagMap["amplifybackendd:app"] != app || tagMap["amplifybackendd:env"] != env || tagMap["amplifybackendd:resource"] != name {
		t.Fatalf("tags: %v", tagMap)
	}

	// Role policies: auth role gets private/${sub}; unauth role only public/protected reads.
	authDoc := rolePolicy(t, s, "amplify-app1-dev-authRole", policy.EnvRolePolicyName(app, env))
	unauthDoc := rolePolicy(t, s, "amplify-app1-dev-unauthRole", policy.EnvRolePolicyName(app, env))
	if !strings.Contains(authDoc, "private/${cognito-identity.amazonaws.com:sub}/*") || !strings.Contains(authDoc, "s3:DeleteObject") {
		t.Fatalf("auth role policy: %s", authDoc)
	}
	if unauthDoc == "" || strings.Contains(unauthDoc, "private/") || strings.Contains(unauthDoc, "s3:PutObject") {
		t.Fatalf("unauth role policy: %s", unauthDoc)
	}

	// Guest READ: anonymous GET of public/ and protected/ works, writes and private/ do not.
	putObject(t, s, bucket, "public/a.txt")
	putObject(t, s, bucket, "protected/someone/b.txt")
	putObject(t, s, bucket, "private/someone/c.txt")
	checkAnon := func(stage string, cases map[string]int) {
		t.Helper()
		for req, want := range cases {
			method, path, _ := strings.Cut(req, " ")
			body := ""
			if method == "PUT" {
				body = "x"
			}
			if got := s.Anon(method, "/"+bucket+"/"+path, body); got != want {
				t.Errorf("%s: anonymous %s = %d, want %d", stage, req, got, want)
			}
		}
	}
	checkAnon("guest READ", map[string]int{
		"GET public/a.txt":                 200,
		"GET protected/someone/b.txt":      200,
		"GET private/someone/c.txt":        403,
		"PUT public/new.txt":               403,
		"PUT uploads/u.txt":                403,
		"DELETE public/a.txt":              403,
		"GET ?list-type=2&prefix=public/":  200,
		"GET ?list-type=2&prefix=private/": 403,
	})

	// Update: guests may now upload, and read stays.
	r = testserver.MustOK(t, s.Call("POST", "/backend/app1/storage/dev", map[string]any{"resourceName": name,
		"resourceConfig": map[string]any{"serviceName": "S3", "permissions": map[string]any{
			"authenticated": []string{"READ"}, "unAuthenticated": []string{"READ", "CREATE_AND_UPDATE"}}}}))
	if job := s.WaitJob(app, env, r.Str("jobId")); job.Str("status") != "COMPLETED" || job.Str("operation") != "UpdateBackendStorage" {
		t.Fatalf("update job: %s", job.Raw)
	}
	checkAnon("guest READ+CREATE_AND_UPDATE", map[string]int{
		"GET public/a.txt":            200,
		"PUT public/new.txt":          200,
		"PUT uploads/u.txt":           200,
		"PUT protected/someone/x.txt": 403,
		"PUT private/someone/x.txt":   403,
		"DELETE public/a.txt":         403,
	})
	if doc := rolePolicy(t, s, "amplify-app1-dev-authRole", policy.EnvRolePolicyName(app, env)); strings.Contains(doc, "s3:DeleteObject") || strings.Contains(doc, "s3:PutObject") {
		t.Fatalf("auth role policy after update still grants writes: %s", doc)
	}

	// Delete: our statements and role policies go, the bucket and objects stay.
	r = testserver.MustOK(t, s.Call("POST", "/backend/app1/storage/dev/remove", map[string]any{"resourceName": name, "serviceName": "S3"}))
	if job := s.WaitJob(app, env, r.Str("jobId")); job.Str("status") != "COMPLETED" {
		t.Fatalf("delete job: %s", job.Raw)
	}
	testserver.WantError(t, s.Call("POST", "/backend/app1/storage/dev/details", map[string]any{"resourceName": name}), 404, "NotFoundException", name)
	if pol := bucketPolicy(t, s, bucket); strings.Contains(pol, "Amplifybackendd") {
		t.Fatalf("bucket policy still holds our statements: %s", pol)
	}
	if doc := rolePolicy(t, s, "amplify-app1-dev-authRole", policy.EnvRolePolicyName(app, env)); doc != "" {
		t.Fatalf("auth role policy survived delete: %s", doc)
	}
	checkAnon("after delete", map[string]int{"GET public/a.txt": 403})
	if _, err := s.S3Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("public/a.txt")}); err != nil {
		t.Fatalf("object gone after delete (buckets are retained): %v", err)
	}

	// The job history tells the story, newest first.
	list := testserver.MustOK(t, s.Call("POST", "/backend/app1/job/dev", map[string]any{}))
	var jobs struct {
		Jobs []struct{ Operation, Status string }
	}
	_ = json.Unmarshal(list.Raw, &jobs)
	ops := []string{}
	for _, j := range jobs.Jobs {
		ops = append(ops, fmt.Sprintf("%s:%s", j.Operation, j.Status))
	}
	if strings.Join(ops, " ") != "DeleteBackendStorage:COMPLETED UpdateBackendStorage:COMPLETED CreateBackendStorage:COMPLETED" {
		t.Fatalf("jobs: %v", ops)
	}
}

// TestKnownGapsReportedOnceAtStart: the embedded gateway's known gap
// (default encryption) is logged once when the server starts, and the jobs
// after it say nothing of it.
func TestKnownGapsReportedOnceAtStart(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	for _, name := range []string{"one", "two"} {
		r := testserver.MustOK(t, s.Call("POST", "/backend/gaps/storage", storageBody("dev", name, "", []string{"READ"}, nil)))
		if job := s.WaitJob("gaps", "dev", r.Str("jobId")); job.Str("status") != "COMPLETED" || strings.Contains(string(job.Raw), "encryption") {
			t.Fatalf("create %s: %s", name, job.Raw)
		}
	}
	s.Stop() // the log is complete once the process has exited
	if n := strings.Count(s.Logs.String(), "does not implement bucket default encryption"); n != 1 {
		t.Fatalf("the known gap was logged %d times, want once at start-up:\n%s", n, s.Logs)
	}
}
