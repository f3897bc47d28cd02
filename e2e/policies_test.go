package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
	"github.com/amplifybackendd/amplifybackendd/policy"
)

// foreignStatement finds the statement with sid in a bucket policy.
func foreignStatement(t *testing.T, policyDoc, sid string) map[string]any {
	t.Helper()
	var doc struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(policyDoc), &doc); err != nil {
		t.Fatalf("bucket policy is not JSON: %s", policyDoc)
	}
	for _, st := range doc.Statement {
		if st["Sid"] == sid {
			return st
		}
	}
	return nil
}

// TestOthersPoliciesSurvive plants a foreign bucket-policy statement and a
// foreign inline policy on our role, then runs create, update and delete:
// ours come and go, theirs stay exactly as written.
func TestOthersPoliciesSurvive(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	const bucket = "shared-with-others"
	createAndWait(t, s, "keep", "photos", bucket, []string{"READ"}, []string{"READ"})

	theirs := `{"Sid":"TheirAnalytics","Effect":"Deny","Principal":"*",` +
		`"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::shared-with-others/reports/*"}`
	cur := bucketPolicy(t, s, bucket)
	var doc map[string]any
	json.Unmarshal([]byte(cur), &doc)
	var st map[string]any
	json.Unmarshal([]byte(theirs), &st)
	doc["Statement"] = append([]any{st}, doc["Statement"].([]any)...)
	planted, _ := json.Marshal(doc)
	if _, err := s.S3Client().PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(string(planted))}); err != nil {
		t.Fatal(err)
	}
	theirRole := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}`
	if _, err := s.IAMClient().PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("amplify-keep-dev-authRole"),
		PolicyName: aws.String("someone-elses"), PolicyDocument: aws.String(theirRole)}); err != nil {
		t.Fatal(err)
	}
	want := foreignStatement(t, string(planted), "TheirAnalytics")

	steps := []struct {
		name string
		call func() testserver.Response
	}{
		{"update", func() testserver.Response {
			return s.Call("POST", "/backend/keep/storage/dev", map[string]any{"resourceName": "photos", "resourceConfig": map[string]any{
				"serviceName": "S3", "permissions": map[string]any{"authenticated": []string{"READ", "DELETE"}, "unAuthenticated": []string{"READ", "CREATE_AND_UPDATE"}}}})
		}},
		{"delete", func() testserver.Response {
			return s.Call("POST", "/backend/keep/storage/dev/remove", map[string]any{"resourceName": "photos", "serviceName": "S3"})
		}},
	}
	for _, step := range steps {
		r := testserver.MustOK(t, step.call())
		if job := s.WaitJob("keep", "dev", r.Str("jobId")); job.Str("status") != "COMPLETED" {
			t.Fatalf("%s: %s", step.name, job.Raw)
		}
		pol := bucketPolicy(t, s, bucket)
		got := foreignStatement(t, pol, "TheirAnalytics")
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Fatalf("after %s the foreign statement changed:\n got %s\nwant %s", step.name, gb, wb)
		}
		out, err := s.IAMClient().GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("amplify-keep-dev-authRole"), PolicyName: aws.String("someone-elses")})
		if err != nil {
			t.Fatalf("after %s the foreign role policy is gone: %v", step.name, err)
		}
		if !strings.Contains(aws.ToString(out.PolicyDocument), "ListAllMyBuckets") {
			t.Fatalf("after %s the foreign role policy changed: %s", step.name, aws.ToString(out.PolicyDocument))
		}
	}
	// After delete nothing of ours is left anywhere.
	if pol := bucketPolicy(t, s, bucket); strings.Contains(pol, "Amplifybackendd") {
		t.Fatalf("our statements survived delete: %s", pol)
	}
	for _, role := range []string{"amplify-keep-dev-authRole", "amplify-keep-dev-unauthRole"} {
		if doc := rolePolicy(t, s, role, "amplifybackendd-"); doc != "" {
			t.Fatalf("%s still holds our policy: %s", role, doc)
		}
	}
	// A second resource cannot take the same bucket while the first exists.
	createAndWait(t, s, "keep", "again", "shared-bucket-two", []string{}, nil)
	testserver.WantError(t, s.Call("POST", "/backend/keep/storage", storageBody("prod", "other", "shared-bucket-two", []string{}, nil)), 400, "BadRequestException", "already used")
	testserver.WantError(t, s.Call("POST", "/backend/keep/storage/prod/import", map[string]any{"serviceName": "S3", "bucketName": "shared-bucket-two"}), 400, "BadRequestException", "already used")
}

// TestRolePolicyLimit fills one app/environment's roles, beside an inline
// policy and nine managed policies of other tooling, until the next resource
// would pass what is left (1,240 characters of inline policy, one managed
// policy of 6,144): that create fails with a message naming the role, the
// sizes and the limits, and nothing of it is applied.
func TestRolePolicyLimit(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	c := s.IAMClient()
	all := []string{"READ", "CREATE_AND_UPDATE", "DELETE"}
	const role = "amplify-full-dev-authRole"
	create := func(i int) testserver.Response {
		r := testserver.MustOK(t, s.Call("POST", "/backend/full/storage", storageBody("dev", fmt.Sprintf("resource-%02d", i), fmt.Sprintf("limit-bucket-%02d", i), all, all)))
		return s.WaitJob("full", "dev", r.Str("jobId"))
	}
	if job := create(0); job.Str("status") != "COMPLETED" {
		t.Fatalf("first create: %s", job.Raw)
	}
	filler := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::elsewhere/`
	inline := filler + strings.Repeat("x", 9000-len(filler)-len(`"]}]}`)) + `"]}]}`
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("someone-elses"), PolicyDocument: aws.String(inline)}); err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		p, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(fmt.Sprintf("someone-elses-%d", i)), PolicyDocument: aws.String(filler + `*"]}]}`)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(role), PolicyArn: p.Policy.Arn}); err != nil {
			t.Fatal(err)
		}
	}
	var failed testserver.Response
	created := 1
	for i := 1; i < 60; i++ {
		job := create(i)
		if job.Str("status") == "FAILED" {
			failed = job
			if bucketExists(t, s, fmt.Sprintf("limit-bucket-%02d", i)) {
				t.Fatal("the refused create left its bucket")
			}
			break
		}
		created++
	}
	if failed.Raw == nil {
		t.Fatalf("no create was refused after %d resources", created)
	}
	msg := failed.Str("error")
	for _, want := range []string{`"` + role + `"`, "10240", "6144", "(9000 of them taken by other policies)", "(9 of the 10 per role attached by others)"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("limit message without %s: %s", want, msg)
		}
	}
	names, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil || !slices.Equal(names.PolicyNames, []string{policy.EnvRolePolicyName("full", "dev"), "someone-elses"}) &&
		!slices.Equal(names.PolicyNames, []string{"someone-elses", policy.EnvRolePolicyName("full", "dev")}) {
		t.Fatalf("auth role's inline policies after %d creates: %v %v", created, names, err)
	}
	if grants := roleGrants(t, s, role); strings.Contains(grants, fmt.Sprintf("limit-bucket-%02d", created)) {
		t.Fatalf("the refused create's bucket is in the role's policies")
	}
	t.Logf("%d resources fit beside the others' policies; the next was refused: %s", created, msg)
}

// TestTargetWithoutIAM points a server at an S3 endpoint with no IAM API
// configured: the bucket and its bucket policy are provisioned, and the job
// and GetBackend say plainly that role policies were not written.
func TestTargetWithoutIAM(t *testing.T) {
	t.Parallel()
	gw := testserver.Start(t)
	s := testserver.StartEnv(t, []string{"AWS_ACCESS_KEY_ID=" + gw.S3Creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + gw.S3Creds.SecretAccessKey},
		"--target", "external", "--s3-endpoint", gw.S3, "--no-iam", "--public-guest-access", "true")
	s.S3, s.S3Creds = gw.S3, gw.S3Creds
	r := testserver.MustOK(t, s.Call("POST", "/backend/noiam/storage", storageBody("dev", "media", "no-iam-bucket", []string{"READ"}, []string{"READ"})))
	job := s.WaitJob("noiam", "dev", r.Str("jobId"))
	warnings := string(job.Raw)
	if job.Str("status") != "COMPLETED" || job.Str("error") != "" || !strings.Contains(warnings, `"warnings":[`) ||
		!strings.Contains(warnings, "no IAM API") || !strings.Contains(warnings, "amplify-noiam-dev-authRole") {
		t.Fatalf("job: %s", job.Raw)
	}
	putObject(t, gw, "no-iam-bucket", "public/x")
	if code := gw.Anon("GET", "/no-iam-bucket/public/x", ""); code != 200 {
		t.Fatalf("guest READ through the bucket policy: %d", code)
	}
	gb := testserver.MustOK(t, s.Call("POST", "/backend/noiam/details", map[string]any{"backendEnvironmentName": "dev"}))
	if gb.Str("error") != "" || !strings.Contains(string(gb.Raw), `"warnings":["storage media:`) || !strings.Contains(string(gb.Raw), "role policy") {
		t.Fatalf("GetBackend does not report the missing role policies: %s", gb.Raw)
	}
}
