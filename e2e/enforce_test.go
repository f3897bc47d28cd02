package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
	"github.com/amplifybackendd/amplifybackendd/policy"
)

// The request kinds of the enforcement tables: a method and a key (LIST
// lists with the key as prefix).
var requestKinds = []struct{ method, key string }{
	{"GET", "public/x"}, {"PUT", "public/x"}, {"DELETE", "public/x"},
	{"GET", "protected/someone/x"}, {"PUT", "protected/someone/x"}, {"DELETE", "protected/someone/x"},
	{"GET", "private/someone/x"}, {"PUT", "private/someone/x"}, {"DELETE", "private/someone/x"},
	{"GET", "uploads/x"}, {"PUT", "uploads/x"}, {"DELETE", "uploads/x"},
	{"LIST", "public/"}, {"LIST", "protected/"}, {"LIST", "private/"},
}

// expectedAllowed is design.md §5 written out by hand, independently of the
// policy package: what a user holding perms may do with a request kind on
// paths that involve no identity (someone else's protected/ and private/).
// The rules are the same for guests and for signed-in users there.
func expectedAllowed(perms []string, method, key string) bool {
	has := func(p string) bool { return slices.Contains(perms, p) }
	folder, _, _ := strings.Cut(key, "/")
	switch method {
	case "LIST":
		return has("READ") && (folder == "public" || folder == "protected")
	case "GET":
		return has("READ") && (folder == "public" || folder == "protected")
	case "PUT":
		return has("CREATE_AND_UPDATE") && (folder == "public" || folder == "uploads")
	case "DELETE":
		return has("DELETE") && folder == "public"
	}
	return false
}

// permissionSets are all subsets of the three elements.
func permissionSets() [][]string {
	all := []string{"READ", "CREATE_AND_UPDATE", "DELETE"}
	var out [][]string
	for mask := 0; mask < 8; mask++ {
		set := []string{}
		for i, p := range all {
			if mask&(1<<i) != 0 {
				set = append(set, p)
			}
		}
		out = append(out, set)
	}
	return out
}

func seedObjects(t *testing.T, s *testserver.Server, bucket string) {
	t.Helper()
	for _, k := range []string{"public/x", "protected/someone/x", "private/someone/x", "uploads/x"} {
		putObject(t, s, bucket, k)
	}
}

func createAndWait(t *testing.T, s *testserver.Server, app, name, bucket string, auth, guest []string) {
	t.Helper()
	r := testserver.MustOK(t, s.Call("POST", "/backend/"+app+"/storage", storageBody("dev", name, bucket, auth, guest)))
	if job := s.WaitJob(app, "dev", r.Str("jobId")); job.Str("status") != "COMPLETED" {
		t.Fatalf("create %s: %s", name, job.Raw)
	}
}

// TestGuestPermissionsEnforced applies every guest permission set through the
// API and checks every anonymous request kind against the expected table, in
// an environment of 50 resources (the others with full permissions).
func TestGuestPermissionsEnforced(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	fillEnvironment(t, s, "guests", 50-len(permissionSets()))
	for i, set := range permissionSets() {
		bucket := fmt.Sprintf("guest-matrix-%d", i)
		createAndWait(t, s, "guests", fmt.Sprintf("r%d", i), bucket, []string{}, set)
		seedObjects(t, s, bucket)
		var row []string
		for _, rk := range requestKinds {
			path := "/" + bucket + "/" + rk.key
			method := rk.method
			if method == "LIST" {
				method, path = "GET", "/"+bucket+"?list-type=2&prefix="+url.QueryEscape(rk.key)
			}
			body := ""
			if method == "PUT" {
				body = "guest"
			}
			code := s.Anon(method, path, body)
			allowed := code >= 200 && code < 300
			if want := expectedAllowed(set, rk.method, rk.key); allowed != want {
				t.Errorf("guest %v: anonymous %s %s = %d, want allowed=%v", set, rk.method, rk.key, code, want)
			}
			row = append(row, fmt.Sprintf("%s %s:%d", rk.method, rk.key, code))
		}
		t.Logf("guest %-35v %s", set, strings.Join(row, " "))
	}
}

// TestAuthenticatedPermissionsEnforced attaches what the authenticated
// role's policies grant on each bucket to a gateway IAM user and makes
// every request kind with that user's key, in an environment of 50
// resources (the others with full permissions), whose grants the role holds
// in its inline policy and managed policies.
func TestAuthenticatedPermissionsEnforced(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	fillEnvironment(t, s, "users", 50-len(permissionSets()))
	for i, set := range permissionSets() {
		if len(set) == 0 {
			continue // no permission, no document: nothing to attach
		}
		bucket := fmt.Sprintf("auth-matrix-%d", i)
		name := fmt.Sprintf("r%d", i)
		createAndWait(t, s, "users", name, bucket, set, []string{})
		seedObjects(t, s, bucket)
		doc := bucketOnly(t, roleGrants(t, s, "amplify-users-dev-authRole"), bucket)
		if doc == "" {
			t.Fatalf("no auth role policy for %v", set)
		}
		user := fmt.Sprintf("matrix-user-%d", i)
		c := s.IAMClient()
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String("storage"), PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
		key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
		if err != nil {
			t.Fatal(err)
		}
		as := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.S3), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")})
		var row []string
		for _, rk := range requestKinds {
			var err error
			switch rk.method {
			case "GET":
				var out *s3.GetObjectOutput
				if out, err = as.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(rk.key)}); err == nil {
					out.Body.Close()
				}
			case "PUT":
				_, err = as.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(rk.key), Body: strings.NewReader("user")})
			case "DELETE":
				_, err = as.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(rk.key)})
			case "LIST":
				_, err = as.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(rk.key)})
			}
			allowed := err == nil
			var ae smithy.APIError
			if err != nil && !(errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied") {
				t.Fatalf("%v %s %s: unexpected error %v", set, rk.method, rk.key, err)
			}
			if want := expectedAllowed(set, rk.method, rk.key); allowed != want {
				t.Errorf("authenticated %v: %s %s allowed=%v, want %v", set, rk.method, rk.key, allowed, want)
			}
			row = append(row, fmt.Sprintf("%s %s:%v", rk.method, rk.key, allowed))
		}
		t.Logf("auth %-35v %s", set, strings.Join(row, " "))
	}
}

// bucketOnly keeps of an environment's role document (all its resources'
// grants, merged) what it grants on bucket: what the role lets its users do
// there. The gateway's IAM users take 2,048 bytes of inline policy, less
// than a whole environment's document.
func bucketOnly(t *testing.T, doc, bucket string) string {
	t.Helper()
	if doc == "" {
		return ""
	}
	var d policy.Document
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:s3:::" + bucket
	var kept []policy.Statement
	for _, st := range d.Statement {
		var rs policy.Strings
		for _, r := range st.Resource {
			if r == arn || strings.HasPrefix(r, arn+"/") {
				rs = append(rs, r)
			}
		}
		if len(rs) > 0 {
			st.Resource = rs
			kept = append(kept, st)
		}
	}
	if len(kept) == 0 {
		return ""
	}
	d.Statement = kept
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fillEnvironment creates n full-permission resources in app's "dev"
// environment, accepted all at once.
func fillEnvironment(t *testing.T, s *testserver.Server, app string, n int) {
	t.Helper()
	all := []string{"READ", "CREATE_AND_UPDATE", "DELETE"}
	var ids []string
	for i := range n {
		r := testserver.MustOK(t, s.Call("POST", "/backend/"+app+"/storage",
			storageBody("dev", fmt.Sprintf("fill%02d", i), fmt.Sprintf("%s-fill-%02d", app, i), all, all)))
		ids = append(ids, r.Str("jobId"))
	}
	for _, id := range ids {
		if job := s.WaitJob(app, "dev", id); job.Str("status") != "COMPLETED" {
			t.Fatalf("filling the environment: %s", job.Raw)
		}
	}
}

// roleGrants gathers the statements of every policy of ours on role, the
// environment's inline policy and its managed policies, into one document.
func roleGrants(t *testing.T, s *testserver.Server, role string) string {
	t.Helper()
	ctx := context.Background()
	c := s.IAMClient()
	var all policy.Document
	add := func(raw string) {
		doc, err := policy.DecodeDocument(raw)
		if err != nil {
			t.Fatal(err)
		}
		var d policy.Document
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatal(err)
		}
		all.Version = d.Version
		all.Statement = append(all.Statement, d.Statement...)
	}
	names, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names.PolicyNames {
		if strings.HasPrefix(n, "amplifybackendd-") {
			out, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(n)})
			if err != nil {
				t.Fatal(err)
			}
			add(aws.ToString(out.PolicyDocument))
		}
	}
	attached, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range attached.AttachedPolicies {
		p, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: a.PolicyArn})
		if err != nil {
			t.Fatal(err)
		}
		v, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: a.PolicyArn, VersionId: p.Policy.DefaultVersionId})
		if err != nil {
			t.Fatal(err)
		}
		add(aws.ToString(v.PolicyVersion.Document))
	}
	if len(attached.AttachedPolicies) == 0 {
		t.Fatalf("role %q of an environment of 50 resources has no managed policies", role)
	}
	b, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
