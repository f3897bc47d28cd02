package ceph

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// sub stands for the caller's Cognito identity id in the keys below. RGW
// has no Cognito: no session carries an identity id, and RGW never expands
// the policy variable ${cognito-identity.amazonaws.com:sub} (variable below).
const (
	sub      = "us-east-1:0c5e7b1d-6d0a-4d6f-9a55-4c1e0f2b7a10"
	variable = "${cognito-identity.amazonaws.com:sub}"
)

// What RGW 16.2 does with ${cognito-identity.amazonaws.com:sub}, measured:
//
//   - In a Resource it is refused outright: PutRolePolicy answers 400
//     MalformedPolicyDocument (RGW's ARN parser allows no ':' in the
//     resource part). The service's target layer then writes the role
//     policy without those resources, so the Protected and Private
//     statements (protected/${sub}/*, private/${sub}/*) are absent on Ceph:
//     nobody gets write access to protected/<id>/ or any access to
//     private/<id>/, not even to a key that literally reads
//     private/${cognito-identity.amazonaws.com:sub}/x.
//   - In a condition value (the List statement's s3:prefix) it is stored and
//     compared literally: listing the prefix
//     "private/${cognito-identity.amazonaws.com:sub}/" is allowed, listing
//     private/<id>/ is not.
//
// So on Ceph private/ is closed to everyone (isolation holds trivially) and
// only what does not depend on the identity is granted. The tables below
// give, per request, what design.md §5 grants on AWS (design) and what RGW
// was measured to do (ceph); they differ only on the identity-scoped rows.
type expect struct {
	req    string // "GET key", "PUT key", "DELETE key" or "LIST prefix"
	design bool   // allowed by design.md §5 for a caller whose identity id is sub
	ceph   bool   // allowed on RGW 16.2
}

var objectKeys = []string{
	"public/x",
	"protected/" + sub + "/x",
	"protected/someone-else/x",
	"private/" + sub + "/x",
	"private/someone-else/x",
	"private/" + variable + "/x",
	"uploads/x",
}

// Authenticated users with READ, CREATE_AND_UPDATE and DELETE (auth role).
var authAll = []expect{
	{"GET public/x", true, true},
	{"PUT public/x", true, true},
	{"DELETE public/x", true, true},
	{"GET protected/" + sub + "/x", true, true}, // on Ceph through protected/* (READ)
	{"PUT protected/" + sub + "/x", true, false},
	{"DELETE protected/" + sub + "/x", true, false},
	{"GET protected/someone-else/x", true, true},
	{"PUT protected/someone-else/x", false, false},
	{"DELETE protected/someone-else/x", false, false},
	{"GET private/" + sub + "/x", true, false},
	{"PUT private/" + sub + "/x", true, false},
	{"DELETE private/" + sub + "/x", true, false},
	{"GET private/someone-else/x", false, false},
	{"PUT private/someone-else/x", false, false},
	{"DELETE private/someone-else/x", false, false},
	{"GET private/" + variable + "/x", false, false},
	{"PUT private/" + variable + "/x", false, false},
	{"DELETE private/" + variable + "/x", false, false},
	{"GET uploads/x", false, false},
	{"PUT uploads/x", true, true},
	{"DELETE uploads/x", false, false},
	{"LIST public/", true, true},
	{"LIST protected/", true, true},
	{"LIST private/", false, false},
	{"LIST private/" + sub + "/", true, false},
	{"LIST private/" + variable + "/", false, true}, // literal match of the condition value
}

// Authenticated users with READ only (auth role, after an update).
var authRead = []expect{
	{"GET public/x", true, true},
	{"PUT public/x", false, false},
	{"DELETE public/x", false, false},
	{"GET protected/" + sub + "/x", true, true},
	{"PUT protected/" + sub + "/x", false, false},
	{"DELETE protected/" + sub + "/x", false, false},
	{"GET protected/someone-else/x", true, true},
	{"PUT protected/someone-else/x", false, false},
	{"DELETE protected/someone-else/x", false, false},
	{"GET private/" + sub + "/x", true, false},
	{"PUT private/" + sub + "/x", false, false},
	{"DELETE private/" + sub + "/x", false, false},
	{"GET private/someone-else/x", false, false},
	{"PUT private/someone-else/x", false, false},
	{"DELETE private/someone-else/x", false, false},
	{"GET private/" + variable + "/x", false, false},
	{"PUT private/" + variable + "/x", false, false},
	{"DELETE private/" + variable + "/x", false, false},
	{"GET uploads/x", false, false},
	{"PUT uploads/x", false, false},
	{"DELETE uploads/x", false, false},
	{"LIST public/", true, true},
	{"LIST protected/", true, true},
	{"LIST private/", false, false},
	{"LIST private/" + sub + "/", true, false},
	{"LIST private/" + variable + "/", false, true},
}

// Guests with READ (unauth role): no identity, so nothing identity-scoped,
// and the design and Ceph agree everywhere.
var guestRead = []expect{
	{"GET public/x", true, true},
	{"PUT public/x", false, false},
	{"DELETE public/x", false, false},
	{"GET protected/" + sub + "/x", true, true},
	{"PUT protected/" + sub + "/x", false, false},
	{"DELETE protected/" + sub + "/x", false, false},
	{"GET protected/someone-else/x", true, true},
	{"PUT protected/someone-else/x", false, false},
	{"DELETE protected/someone-else/x", false, false},
	{"GET private/" + sub + "/x", false, false},
	{"PUT private/" + sub + "/x", false, false},
	{"DELETE private/" + sub + "/x", false, false},
	{"GET private/someone-else/x", false, false},
	{"PUT private/someone-else/x", false, false},
	{"DELETE private/someone-else/x", false, false},
	{"GET private/" + variable + "/x", false, false},
	{"PUT private/" + variable + "/x", false, false},
	{"DELETE private/" + variable + "/x", false, false},
	{"GET uploads/x", false, false},
	{"PUT uploads/x", false, false},
	{"DELETE uploads/x", false, false},
	{"LIST public/", true, true},
	{"LIST protected/", true, true},
	{"LIST private/", false, false},
	{"LIST private/" + sub + "/", false, false},
	{"LIST private/" + variable + "/", false, false},
}

// nothing is the table for a role whose policy was removed.
func nothing(table []expect) []expect {
	out := make([]expect, len(table))
	for i, e := range table {
		out[i] = expect{e.req, false, false}
	}
	return out
}

// TestTablesDifferOnlyOnIdentity keeps the Ceph deviations honest: every row
// where Ceph differs from the design names the identity or the variable.
func TestTablesDifferOnlyOnIdentity(t *testing.T) {
	t.Parallel()
	for name, table := range map[string][]expect{"authAll": authAll, "authRead": authRead, "guestRead": guestRead} {
		for _, e := range table {
			if e.design != e.ceph && !strings.Contains(e.req, sub) && !strings.Contains(e.req, variable) {
				t.Errorf("%s: %q differs on Ceph but is not identity-scoped", name, e.req)
			}
		}
	}
}

// check seeds every object as the admin, then makes each request of table
// with the session client c, GET before PUT before DELETE per key.
func check(t *testing.T, stage string, c *s3.Client, bucket string, table []expect) {
	t.Helper()
	admin := s3Client(cluster.admin)
	for _, k := range objectKeys {
		if err := putObject(t, admin, bucket, k); err != nil {
			t.Fatalf("seed %s: %v", k, err)
		}
	}
	ctx := context.Background()
	var got []string
	for _, e := range table {
		op, key, _ := strings.Cut(e.req, " ")
		var err error
		switch op {
		case "GET":
			var out *s3.GetObjectOutput
			if out, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err == nil {
				out.Body.Close()
			}
		case "PUT":
			err = putObject(t, c, bucket, key)
		case "DELETE":
			_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		case "LIST":
			_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
		default:
			t.Fatalf("bad request %q", e.req)
		}
		ok := allowed(t, stage+": "+e.req, err)
		got = append(got, fmt.Sprintf("%-5v %s", ok, e.req))
		if ok != e.ceph {
			t.Errorf("%s: %s allowed=%v, want %v (design.md §5: %v)", stage, e.req, ok, e.ceph, e.design)
		}
	}
	t.Logf("%s, measured:\n%s", stage, strings.Join(got, "\n"))
}

// TestRolePoliciesEnforced provisions a resource through the API on Ceph,
// then checks with STS sessions of the auth and the unauth role what S3
// really allows, before and after updates.
func TestRolePoliciesEnforced(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	const app, env, name, bucket = "cephenf", "dev", "files", "amplifybackendd-ceph-enforce"
	authRole, unauthRole := "amplify-"+app+"-"+env+"-authRole", "amplify-"+app+"-"+env+"-unauthRole"

	job := runJob(t, s, app, env, "/backend/"+app+"/storage", storageBody(env, name, bucket,
		[]string{"READ", "CREATE_AND_UPDATE", "DELETE"}, []string{"READ"}))
	// RGW 16.2 has no default-encryption API: a warning, not a failure,
	// and never the completed job's error.
	warnings := string(job.Raw)
	if job.Str("error") != "" || !strings.Contains(warnings, `"warnings":[`) || !strings.Contains(warnings, "encryption") {
		t.Errorf("create job on Ceph should warn about default encryption: %s", job.Raw)
	}
	// RGW drops the per-identity resources: the job says so.
	if !strings.Contains(warnings, `narrower policy on role \"`+authRole+`\"`) {
		t.Errorf("create job on Ceph should warn that the auth role policy was narrowed: %s", job.Raw)
	}
	list := testserver.MustOK(t, s.Call("POST", "/s3Buckets", map[string]any{}))
	if !strings.Contains(string(list.Raw), `"name":"`+bucket+`"`) {
		t.Errorf("ListS3Buckets lacks %s: %s", bucket, list.Raw)
	}

	// What Ceph stored: the auth role policy without the resources that
	// carry the variable, the List condition with it, verbatim.
	docs := ourRolePolicies(t, authRole)
	if len(docs) != 1 {
		t.Fatalf("auth role policies: %v", docs)
	}
	for _, doc := range docs {
		if strings.Contains(doc, "/protected/"+variable) || strings.Contains(doc, "/private/"+variable) ||
			!strings.Contains(doc, `"private/`+variable+`/"`) || !strings.Contains(doc, "/public/*") {
			t.Errorf("auth role policy as stored on Ceph: %s", doc)
		}
	}

	allowTester(t, authRole)
	allowTester(t, unauthRole)
	check(t, "auth READ+CREATE_AND_UPDATE+DELETE", assume(t, authRole), bucket, authAll)
	check(t, "guest READ", assume(t, unauthRole), bucket, guestRead)

	// Update: authenticated users keep only READ; guests keep READ.
	runJob(t, s, app, env, "/backend/"+app+"/storage/"+env, updateBody(name, []string{"READ"}, []string{"READ"}))
	check(t, "auth READ", assume(t, authRole), bucket, authRead)
	check(t, "guest READ after auth update", assume(t, unauthRole), bucket, guestRead)

	// Update: guests lose everything; their role policy goes.
	runJob(t, s, app, env, "/backend/"+app+"/storage/"+env, updateBody(name, []string{"READ"}, []string{}))
	if docs := ourRolePolicies(t, unauthRole); len(docs) != 0 {
		t.Fatalf("unauth role policy survived removing guest access: %v", docs)
	}
	check(t, "guest none", assume(t, unauthRole), bucket, nothing(guestRead))
	check(t, "auth READ after guest update", assume(t, authRole), bucket, authRead)
}
