package ceph

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// anon makes an unsigned request to RGW and returns the status.
func anon(t *testing.T, method, path string) int {
	t.Helper()
	var body io.Reader
	if method == http.MethodPut {
		body = strings.NewReader("x")
	}
	req, err := http.NewRequest(method, cluster.endpoint+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func bucketStatements(t *testing.T, bucket string) []map[string]any {
	t.Helper()
	out, err := s3Client(cluster.admin).GetBucketPolicy(t.Context(), &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("GetBucketPolicy: %v", err)
	}
	var doc struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(aws.ToString(out.Policy)), &doc); err != nil {
		t.Fatalf("bucket policy: %v: %s", err, aws.ToString(out.Policy))
	}
	return doc.Statement
}

// TestDeleteKeepsForeignStatements runs with public guest access, so guest
// permissions are also in the bucket policy for anonymous requests. A
// statement written by someone else is planted in that policy; an update
// and then the delete leave it alone while ours and the role policies go.
func TestDeleteKeepsForeignStatements(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--public-guest-access", "true")
	const app, env, name, bucket = "cephdel", "dev", "docs", "amplifybackendd-ceph-delete"
	authRole, unauthRole := "amplify-"+app+"-"+env+"-authRole", "amplify-"+app+"-"+env+"-unauthRole"
	ctx := t.Context()
	admin := s3Client(cluster.admin)

	runJob(t, s, app, env, "/backend/"+app+"/storage", storageBody(env, name, bucket, []string{"READ"}, []string{"READ"}))
	for _, k := range []string{"public/x", "foreign/x"} {
		if err := putObject(t, admin, bucket, k); err != nil {
			t.Fatal(err)
		}
	}
	if got := anon(t, "GET", "/"+bucket+"/public/x"); got != 200 {
		t.Fatalf("anonymous GET public/x with guest READ = %d, want 200", got)
	}
	if got := anon(t, "PUT", "/"+bucket+"/public/y"); got != 403 {
		t.Fatalf("anonymous PUT public/y with guest READ = %d, want 403", got)
	}
	if len(ourRolePolicies(t, authRole)) != 1 || len(ourRolePolicies(t, unauthRole)) != 1 {
		t.Fatal("role policies missing after create")
	}

	// Plant a foreign statement: the tester user, as itself, may read foreign/.
	stmts := bucketStatements(t, bucket)
	foreign := map[string]any{
		"Sid": "ForeignTesterReadsForeign", "Effect": "Allow",
		"Principal": map[string]any{"AWS": []string{"arn:aws:iam:::user/" + testerUID}},
		"Action":    []string{"s3:GetObject"}, "Resource": []string{"arn:aws:s3:::" + bucket + "/foreign/*"},
	}
	planted, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": append(stmts, foreign)})
	if _, err := admin.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(string(planted))}); err != nil {
		t.Fatalf("plant foreign statement: %v", err)
	}
	tester := s3Client(cluster.tester)
	readForeign := func() error {
		out, err := tester.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("foreign/x")})
		if err == nil {
			out.Body.Close()
		}
		return err
	}
	if !allowed(t, "tester GET foreign/x", readForeign()) {
		t.Fatal("the planted statement is not in force")
	}

	// An update rewrites our statements only.
	runJob(t, s, app, env, "/backend/"+app+"/storage/"+env, updateBody(name, []string{"READ"}, []string{"READ", "CREATE_AND_UPDATE"}))
	if got := anon(t, "PUT", "/"+bucket+"/uploads/y"); got != 200 {
		t.Fatalf("anonymous PUT uploads/y after granting guests CREATE_AND_UPDATE = %d, want 200", got)
	}
	if !allowed(t, "tester GET foreign/x after update", readForeign()) {
		t.Fatal("the update dropped the foreign statement")
	}

	runJob(t, s, app, env, "/backend/"+app+"/storage/"+env+"/remove", map[string]any{"resourceName": name, "serviceName": "S3"})
	testserver.WantError(t, s.Call("POST", "/backend/"+app+"/storage/"+env+"/details", map[string]any{"resourceName": name}), 404, "NotFoundException", name)
	stmts = bucketStatements(t, bucket)
	if len(stmts) != 1 || stmts[0]["Sid"] != "ForeignTesterReadsForeign" {
		t.Fatalf("bucket policy after delete: %v; want only the foreign statement", stmts)
	}
	if docs := ourRolePolicies(t, authRole); len(docs) != 0 {
		t.Fatalf("auth role policy survived delete: %v", docs)
	}
	if docs := ourRolePolicies(t, unauthRole); len(docs) != 0 {
		t.Fatalf("unauth role policy survived delete: %v", docs)
	}
	if got := anon(t, "GET", "/"+bucket+"/public/x"); got != 403 {
		t.Fatalf("anonymous GET public/x after delete = %d, want 403", got)
	}
	if !allowed(t, "tester GET foreign/x after delete", readForeign()) {
		t.Fatal("the delete dropped the foreign statement")
	}
	if _, err := admin.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("public/x")}); err != nil {
		t.Fatalf("objects are kept after delete: %v", err)
	}
}

// TestDeleteBackend: Ceph RGW has no managed policies (ListAttachedRolePolicies
// answers 405), so an environment's document is its roles' inline policy
// alone. DeleteBackend removes the environment's resource, takes that
// document off both roles and deletes the roles, which this service made
// and nothing else uses.
func TestDeleteBackend(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	const app, env, bucket = "cephenvdel", "dev", "amplifybackendd-ceph-envdel"
	roles := []string{"amplify-" + app + "-" + env + "-authRole", "amplify-" + app + "-" + env + "-unauthRole"}
	runJob(t, s, app, env, "/backend/"+app+"/storage", storageBody(env, "docs", bucket, []string{"READ", "DELETE"}, []string{"READ"}))
	for _, role := range roles {
		if len(ourRolePolicies(t, role)) != 1 {
			t.Fatalf("role %s holds no environment document after the create", role)
		}
	}
	job := runJob(t, s, app, env, "/backend/"+app+"/environments/"+env+"/remove", nil)
	if w, ok := job.Body["warnings"]; ok {
		t.Fatalf("DeleteBackend warned: %v", w)
	}
	for _, role := range roles {
		if _, err := adminIAM().GetRole(t.Context(), &iam.GetRoleInput{RoleName: aws.String(role)}); err == nil {
			t.Fatalf("role %s is left after DeleteBackend", role)
		}
	}
	testserver.WantError(t, s.Call("POST", "/backend/"+app+"/storage/"+env+"/details", map[string]any{"resourceName": "docs"}), 404, "NotFoundException", "docs")
}
