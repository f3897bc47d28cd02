// Package ceph runs the real amplifybackendd binary against a single-node
// Ceph cluster (radosgw 16.2 from Debian, started by scripts/ceph.sh) as an
// external target, and proves with STS AssumeRole sessions that the role
// policies it writes are enforced there. The cluster tests run with the
// external switch on (internal/external, set by ./test.sh); then the cluster
// must start: a machine where it cannot fails this package rather than
// skipping it.
package ceph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/amplifybackendd/amplifybackendd/internal/external"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
	"github.com/amplifybackendd/amplifybackendd/policy"
)

// cluster is what scripts/ceph.sh started, plus a plain RGW user ("tester")
// that owns nothing and has no caps: its role sessions can do only what the
// role policies (and bucket policies) grant.
var cluster struct {
	endpoint string
	admin    aws.Credentials
	conf     string
	tester   aws.Credentials
}

const testerUID = "tester"

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if !external.Enabled() {
		// Only the tests that need no cluster run; the others skip.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "amplifybackendd-ceph-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	// Building the race-enabled binary and starting the cluster overlap.
	var (
		wg       sync.WaitGroup
		cleanup  func()
		buildErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		cleanup, buildErr = testserver.Build("../../cmd/amplifybackendd")
	}()
	startErr := startCeph(dir)
	// Stopped on every way out of run; if the test binary dies instead (a
	// -timeout panic, kill -9), the script's watchdog stops the cluster.
	defer stopCeph(dir)
	wg.Wait()
	if cleanup != nil {
		defer cleanup()
	}
	if buildErr != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", buildErr)
		return 1
	}
	if startErr != nil {
		fmt.Fprintf(os.Stderr, "FAIL: Ceph could not be started with scripts/ceph.sh: %v\n", startErr)
		return 1
	}
	code := m.Run()
	if code != 0 {
		// What radosgw answered last, for the failure at hand; the logs go
		// with the cluster.
		if log, err := os.ReadFile(filepath.Join(dir, "log", "client.rgw.log")); err == nil {
			lines := strings.Split(strings.TrimSpace(string(log)), "\n")
			fmt.Fprintf(os.Stderr, "--- last lines of radosgw's log:\n%s\n", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	}
	return code
}

func startCeph(dir string) error {
	cmd := exec.Command("../../scripts/ceph.sh", "start", dir)
	cmd.Env = append(os.Environ(), "CEPH_WATCH_PID="+strconv.Itoa(os.Getpid()))
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		return err
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	cluster.endpoint = env["CEPH_ENDPOINT"]
	cluster.admin = aws.Credentials{AccessKeyID: env["CEPH_ACCESS_KEY"], SecretAccessKey: env["CEPH_SECRET_KEY"]}
	cluster.conf = env["CEPH_CONF"]
	if cluster.endpoint == "" || cluster.admin.AccessKeyID == "" || cluster.conf == "" {
		return fmt.Errorf("incomplete %s/env:\n%s", dir, raw)
	}
	out, err := exec.Command("radosgw-admin", "-c", cluster.conf, "user", "create",
		"--uid", testerUID, "--display-name", "amplifybackendd e2e tester").Output()
	if err != nil {
		return fmt.Errorf("radosgw-admin user create: %w", err)
	}
	var u struct {
		Keys []struct {
			AccessKey string `json:"access_key"`
			SecretKey string `json:"secret_key"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(out, &u); err != nil || len(u.Keys) == 0 {
		return fmt.Errorf("radosgw-admin user create answered %s (%v)", out, err)
	}
	cluster.tester = aws.Credentials{AccessKeyID: u.Keys[0].AccessKey, SecretAccessKey: u.Keys[0].SecretKey}
	return nil
}

func stopCeph(dir string) {
	cmd := exec.Command("../../scripts/ceph.sh", "stop", dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "scripts/ceph.sh stop:", err)
	}
}

// startServer runs amplifybackendd with Ceph as its external target, signed
// with the admin user's keys from the environment as an operator would.
func startServer(t *testing.T, extra ...string) *testserver.Server {
	t.Helper()
	external.Require(t)
	args := append([]string{"--target", "external", "--s3-endpoint", cluster.endpoint, "--iam-endpoint", cluster.endpoint}, extra...)
	return testserver.StartEnv(t, []string{
		"AWS_ACCESS_KEY_ID=" + cluster.admin.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + cluster.admin.SecretAccessKey,
		"AWS_REGION=us-east-1",
	}, args...)
}

// httpClient is what the test's own SDK clients use. Like the target
// package's, it hands net/http a private copy of each request body: the SDK
// closes the body once the answer's headers are in, and RGW answers a PUT
// it refuses before net/http is done with it, which otherwise costs about a
// quarter of those answers ("use of closed network connection").
var httpClient = &http.Client{Transport: ownBodies{http.DefaultTransport}}

type ownBodies struct{ next http.RoundTripper }

func (o ownBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return o.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	own := r.Clone(r.Context())
	own.Body = io.NopCloser(bytes.NewReader(body))
	own.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return o.next.RoundTrip(own)
}

func s3Client(creds aws.Credentials) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(cluster.endpoint), UsePathStyle: true, HTTPClient: httpClient,
		Credentials:                credentials.StaticCredentialsProvider{Value: creds},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func adminIAM() *iam.Client {
	return iam.New(iam.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(cluster.endpoint), HTTPClient: httpClient,
		Credentials: credentials.StaticCredentialsProvider{Value: cluster.admin},
	})
}

// allowTester adds to role's trust policy a statement that lets the tester
// user call sts:AssumeRole, keeping what the service wrote.
//
// Why: the service creates missing roles with Amplify's trust policy, which
// trusts Cognito web identities (Federated cognito-identity.amazonaws.com,
// sts:AssumeRoleWithWebIdentity). RGW has no Cognito, so no session could
// ever satisfy it. Rather than teach the service a test-only trust option,
// the test does what an operator of a Ceph target would do: as the RGW admin
// it amends the trust policy of the existing role (UpdateAssumeRolePolicy),
// adding {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/tester"]},
// "Action":["sts:AssumeRole"]} (RGW ARNs have an empty account). The
// service never rewrites the trust policy of a role that exists, so the
// amendment survives updates, and what a session may do is still decided
// by the role policies the service wrote.
func allowTester(t *testing.T, role string) {
	t.Helper()
	ctx := t.Context()
	out, err := adminIAM().GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
	if err != nil {
		t.Fatalf("GetRole %s: %v", role, err)
	}
	raw, err := policy.DecodeDocument(aws.ToString(out.Role.AssumeRolePolicyDocument))
	if err != nil {
		t.Fatalf("trust policy of %s: %v", role, err)
	}
	var doc struct {
		Version   string
		Statement []map[string]any
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("trust policy of %s: %v: %s", role, err, raw)
	}
	if !strings.Contains(string(raw), "cognito-identity.amazonaws.com") {
		t.Fatalf("trust policy of %s is not the Cognito one the service writes: %s", role, raw)
	}
	principal := "arn:aws:iam:::user/" + testerUID
	if strings.Contains(string(raw), principal) {
		return
	}
	doc.Statement = append(doc.Statement, map[string]any{
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": []string{principal}},
		"Action":    []string{"sts:AssumeRole"},
	})
	amended, _ := json.Marshal(doc)
	if _, err := adminIAM().UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{
		RoleName: aws.String(role), PolicyDocument: aws.String(string(amended)),
	}); err != nil {
		t.Fatalf("UpdateAssumeRolePolicy %s: %v", role, err)
	}
}

// assume returns an S3 client signed with fresh temporary credentials of a
// tester session in role.
func assume(t *testing.T, role string) *s3.Client {
	t.Helper()
	stsc := sts.New(sts.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(cluster.endpoint), HTTPClient: httpClient,
		Credentials: credentials.StaticCredentialsProvider{Value: cluster.tester},
	})
	out, err := stsc.AssumeRole(t.Context(), &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam:::role/" + role),
		RoleSessionName: aws.String("e2e"),
		DurationSeconds: aws.Int32(900),
	})
	if err != nil {
		t.Fatalf("AssumeRole %s as %s: %v", role, testerUID, err)
	}
	c := out.Credentials
	return s3Client(aws.Credentials{
		AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken: aws.ToString(c.SessionToken),
	})
}

// allowed reports whether an S3 call succeeded, and fails the test on any
// answer other than success or 403 AccessDenied.
func allowed(t *testing.T, what string, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	var re *smithyhttp.ResponseError
	var ae smithy.APIError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden && errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied" {
		return false
	}
	t.Fatalf("%s: neither allowed nor denied: %v", what, err)
	return false
}

func putObject(t *testing.T, c *s3.Client, bucket, key string) error {
	t.Helper()
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("hello"),
	})
	return err
}

func storageBody(env, name, bucket string, auth, guest []string) map[string]any {
	return map[string]any{"backendEnvironmentName": env, "resourceName": name, "resourceConfig": map[string]any{
		"bucketName": bucket, "serviceName": "S3",
		"permissions": map[string]any{"authenticated": auth, "unAuthenticated": guest},
	}}
}

func updateBody(name string, auth, guest []string) map[string]any {
	return map[string]any{"resourceName": name, "resourceConfig": map[string]any{
		"serviceName": "S3", "permissions": map[string]any{"authenticated": auth, "unAuthenticated": guest},
	}}
}

// runJob sends a mutating call and waits for its job to complete.
func runJob(t *testing.T, s *testserver.Server, app, env, path string, body any) testserver.Response {
	t.Helper()
	r := testserver.MustOK(t, s.Call("POST", path, body))
	job := s.WaitJob(app, env, r.Str("jobId"))
	if job.Str("status") != "COMPLETED" {
		t.Fatalf("%s job: %s\nserver log:\n%s", path, job.Raw, s.Logs)
	}
	return job
}

// ourRolePolicies returns the inline policies of role that the service
// wrote (by their name prefix), decoded; a missing role has none.
func ourRolePolicies(t *testing.T, role string) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	names, err := adminIAM().ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		t.Fatalf("ListRolePolicies %s: %v", role, err)
	}
	for _, n := range names.PolicyNames {
		if !strings.HasPrefix(n, "amplifybackendd-") {
			continue
		}
		p, err := adminIAM().GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(n)})
		if err != nil {
			t.Fatalf("GetRolePolicy %s/%s: %v", role, n, err)
		}
		doc, err := policy.DecodeDocument(aws.ToString(p.PolicyDocument))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = string(doc)
	}
	return out
}
