package embedded_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/amplifybackendd/amplifybackendd/embedded"
	"github.com/amplifybackendd/amplifybackendd/embedded/embeddedtest"
)

const (
	rootAccess = "EMBEDDEDTESTROOT"
	rootSecret = "embedded-test-root-secret-0123456789"
)

// srv is the one gateway of this test process (Versity allows only one).
var srv *embedded.Server

func TestMain(m *testing.M) {
	os.Exit(embeddedtest.Main(m, rootAccess, rootSecret, func(gw *embedded.Server) error { srv = gw; return nil }))
}

var bucketSeq atomic.Int64

// newBucket creates a bucket with a name unique to this test run.
func newBucket(t *testing.T, c *s3.Client) string {
	t.Helper()
	name := fmt.Sprintf("emb-%d-%s", bucketSeq.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
	return name
}

func s3Client(access, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.S3Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
	})
}

func iamClient() *iam.Client {
	return iam.New(iam.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.IAMEndpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(rootAccess, rootSecret, ""),
	})
}

func putObject(t *testing.T, c *s3.Client, bucket, key string) {
	t.Helper()
	_, err := c.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("hello " + key),
	})
	if err != nil {
		t.Fatalf("PutObject %s/%s: %v", bucket, key, err)
	}
}

// anonGet issues an unsigned GET and returns the status and body.
func anonGet(t *testing.T, rawURL string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestStartRejectsRelativeDir(t *testing.T) {
	t.Parallel()
	_, err := embedded.Start(t.Context(), embedded.Config{Dir: "relative/dir", AccessKey: "a", SecretKey: "b"})
	if err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Fatalf("Start with relative Dir: err = %v, want an 'absolute' error", err)
	}
}

func TestSecondStartFails(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := embedded.Start(t.Context(), embedded.Config{Dir: dir, AccessKey: "a", SecretKey: "b"})
	if err == nil {
		t.Fatalf("second Start succeeded (S3 %s); Versity allows one gateway per process", s.S3Endpoint)
	}
	if !strings.Contains(err.Error(), "only one instance per process") {
		t.Fatalf("second Start: %v", err)
	}
}

func TestEndpointsReported(t *testing.T) {
	t.Parallel()
	for _, ep := range []string{srv.S3Endpoint, srv.IAMEndpoint} {
		u, err := url.Parse(ep)
		if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Port() == "0" {
			t.Errorf("endpoint %q is not http://127.0.0.1:PORT", ep)
		}
	}
	if srv.S3Endpoint == srv.IAMEndpoint {
		t.Errorf("S3 and IAM share endpoint %s", srv.S3Endpoint)
	}
}

// TestAnonymousBucketPolicy proves that a bucket policy with Principal "*"
// is what decides unsigned requests: allowed paths are served, others are
// refused, including the s3:prefix condition on listing.
func TestAnonymousBucketPolicy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := s3Client(rootAccess, rootSecret)
	b := newBucket(t, root)
	putObject(t, root, b, "public/x")
	putObject(t, root, b, "private/x")

	// Before any policy nothing is public.
	if code, _ := anonGet(t, srv.S3Endpoint+"/"+b+"/public/x"); code != http.StatusForbidden {
		t.Fatalf("anonymous GET public/x without policy: %d, want 403", code)
	}

	policy := fmt.Sprintf(`{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
     "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::%[1]s/public/*"]},
    {"Sid": "PublicUpload", "Effect": "Allow", "Principal": "*",
     "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::%[1]s/uploads/*"]},
    {"Sid": "PublicList", "Effect": "Allow", "Principal": "*",
     "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::%[1]s"],
     "Condition": {"StringLike": {"s3:prefix": ["public/", "public/*"]}}}
  ]
}`, b)
	if _, err := root.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(policy)}); err != nil {
		t.Fatalf("PutBucketPolicy: %v", err)
	}

	cases := []struct {
		path string
		want int
	}{
		{"/" + b + "/public/x", http.StatusOK},
		{"/" + b + "/private/x", http.StatusForbidden},
		{"/" + b + "?list-type=2&prefix=public/", http.StatusOK},
		{"/" + b + "?list-type=2&prefix=private/", http.StatusForbidden},
		{"/" + b + "?list-type=2", http.StatusForbidden},
		{"/" + b + "?prefix=public/", http.StatusOK}, // ListObjects v1
	}
	for _, c := range cases {
		code, body := anonGet(t, srv.S3Endpoint+c.path)
		if code != c.want {
			t.Errorf("anonymous GET %s: %d, want %d\n%s", c.path, code, c.want, body)
		}
		if c.want == http.StatusOK && strings.Contains(c.path, "prefix=public/") && !strings.Contains(body, "public/x") {
			t.Errorf("anonymous list %s does not show public/x:\n%s", c.path, body)
		}
	}

	// Unsigned writes: allowed under uploads/, refused elsewhere.
	for _, c := range []struct {
		key  string
		want int
	}{{"uploads/y", http.StatusOK}, {"public/y", http.StatusForbidden}} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, srv.S3Endpoint+"/"+b+"/"+c.key, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("anonymous PUT %s: %d, want %d\n%s", c.key, resp.StatusCode, c.want, body)
		}
	}
	if _, err := root.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String("uploads/y")}); err != nil {
		t.Errorf("anonymously uploaded object missing: %v", err)
	}
}

// cognitoTrust is the trust policy Amplify gives its authenticated role.
const cognitoTrust = `{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Principal": {"Federated": "cognito-identity.amazonaws.com"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {
      "StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:00000000-0000-0000-0000-000000000000"},
      "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}
    }
  }]
}`

// TestIAMRolePolicyRoundTrip proves that the IAM API accepts a Cognito trust
// policy and stores inline role policies that use the ${cognito-identity...}
// variable and StringLike conditions, returning them URL-encoded as AWS does.
func TestIAMRolePolicyRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := iamClient()
	role := "amplify-test-authRole"
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(cognitoTrust),
	}); err != nil {
		t.Fatalf("CreateRole with the Cognito trust policy: %v", err)
	}

	// Without a Condition, a Cognito trust policy is refused (as on AWS).
	_, err := c.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String("amplify-test-nocond"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
			`"Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`),
	})
	if apiCode(err) != "MalformedPolicyDocument" {
		t.Errorf("CreateRole with a Cognito trust policy without Condition: %v, want MalformedPolicyDocument", err)
	} else {
		t.Logf("Cognito trust without Condition: %v", err)
	}

	// A Condition is not enough: it must scope cognito-identity.amazonaws.com:aud.
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String("amplify-test-amronly"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
			`"Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity",` +
			`"Condition":{"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"}}}]}`),
	})
	if apiCode(err) != "MalformedPolicyDocument" {
		t.Errorf("CreateRole with a Cognito trust policy whose Condition lacks :aud: %v, want MalformedPolicyDocument", err)
	}

	doc := `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"Private","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],` +
		`"Resource":["arn:aws:s3:::b/private/${cognito-identity.amazonaws.com:sub}/*"]},` +
		`{"Sid":"List","Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::b"],` +
		`"Condition":{"StringLike":{"s3:prefix":["public/","public/*","private/${cognito-identity.amazonaws.com:sub}/","private/${cognito-identity.amazonaws.com:sub}/*"]}}}]}`
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String(role), PolicyName: aws.String("res-a"), PolicyDocument: aws.String(doc),
	}); err != nil {
		t.Fatalf("PutRolePolicy: %v", err)
	}
	out, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("res-a")})
	if err != nil {
		t.Fatalf("GetRolePolicy: %v", err)
	}
	got := aws.ToString(out.PolicyDocument)
	// Measured: Versity, like AWS, returns the document URL-encoded.
	if strings.HasPrefix(got, "{") {
		t.Errorf("GetRolePolicy returned the document raw; Versity v1.8.0 was measured URL-encoding it")
	}
	if got, err = url.PathUnescape(got); err != nil {
		t.Fatalf("PathUnescape: %v", err)
	}
	if got != doc {
		t.Errorf("GetRolePolicy round trip:\n got %s\nwant %s", got, doc)
	}

	_, err = c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("missing")})
	if apiCode(err) != "NoSuchEntity" {
		t.Errorf("GetRolePolicy of a missing policy: %v, want NoSuchEntity", err)
	}
	_, err = c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("no-such-role")})
	if apiCode(err) != "NoSuchEntity" {
		t.Errorf("GetRole of a missing role: %v, want NoSuchEntity", err)
	}
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(cognitoTrust)})
	if apiCode(err) != "EntityAlreadyExists" {
		t.Errorf("CreateRole twice: %v, want EntityAlreadyExists", err)
	}
}

// TestIAMUserPolicyEnforcedOnGateway proves the identity link between the
// IAM API and the gateway: a key made through the IAM API signs S3 requests,
// and its user policy decides what they may do.
func TestIAMUserPolicyEnforcedOnGateway(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := s3Client(rootAccess, rootSecret)
	b := newBucket(t, root)
	putObject(t, root, b, "public/x")
	putObject(t, root, b, "private/x")

	c := iamClient()
	user := "reader-" + b
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("CreateAccessKey: %v", err)
	}
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/public/*"}]}`, b)
	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
		UserName: aws.String(user), PolicyName: aws.String("read-public"), PolicyDocument: aws.String(doc),
	}); err != nil {
		t.Fatalf("PutUserPolicy: %v", err)
	}

	u := s3Client(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey))
	out, err := u.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("public/x")})
	if err != nil {
		t.Fatalf("user GET public/x: %v", err)
	}
	out.Body.Close()
	_, err = u.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("private/x")})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("user GET private/x: %v, want AccessDenied", err)
	}
	_, err = u.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("public/y"), Body: strings.NewReader("y")})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("user PUT public/y: %v, want AccessDenied", err)
	}
	// A wrong secret for the same key is rejected as a signature error.
	bad := s3Client(aws.ToString(key.AccessKey.AccessKeyId), "wrong-secret")
	_, err = bad.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("public/x")})
	if apiCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("GET with a wrong secret: %v, want SignatureDoesNotMatch", err)
	}
}

// TestUploadIDCannotLeaveTheBucket sends the multipart calls that take an
// upload id with ids that climb out of the gateway's folder. The posix
// backend would join them to a path: UploadPart would write a file into
// any directory, AbortMultipartUpload remove any directory tree. Each must
// be NoSuchUpload and touch nothing, and a real upload beside them lives on.
func TestUploadIDCannotLeaveTheBucket(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := s3Client(rootAccess, rootSecret)
	bucket := newBucket(t, c)
	key := "public/x"
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.MkdirAll(filepath.Join(victim, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Enough ".." to reach "/" from wherever the gateway's folder is.
	climb := strings.Repeat("../", 64) + strings.TrimPrefix(outside, "/")

	ids := []string{climb, climb + "/victim", "..", ".", "../" + aws.ToString(up.UploadId)}
	for _, id := range ids {
		_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key),
			UploadId: aws.String(id), PartNumber: aws.Int32(7), Body: strings.NewReader("written outside")})
		if code := apiCode(err); code != "NoSuchUpload" {
			t.Errorf("UploadPart with upload id %q: %v (code %q), want NoSuchUpload", id, err, code)
		}
		_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id)})
		if code := apiCode(err); code != "NoSuchUpload" {
			t.Errorf("ListParts with upload id %q: %v (code %q), want NoSuchUpload", id, err, code)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "7")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("UploadPart wrote outside the gateway's folder: stat %s: %v", filepath.Join(outside, "7"), err)
	}
	for _, id := range ids {
		_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id)})
		if code := apiCode(err); code != "NoSuchUpload" {
			t.Errorf("AbortMultipartUpload with upload id %q: %v (code %q), want NoSuchUpload", id, err, code)
		}
	}
	if _, err := os.Stat(filepath.Join(victim, "sub")); err != nil {
		t.Errorf("AbortMultipartUpload removed a directory outside the gateway's folder: %v", err)
	}
	if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId}); err != nil {
		t.Errorf("the real upload is gone: ListParts: %v", err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId}); err != nil {
		t.Errorf("AbortMultipartUpload of the real upload: %v", err)
	}
}
