// Package conformance drives amplifybackendd with the real AWS clients:
// boto3 (two versions), the AWS CLI (v1 and v2) and the AWS SDK for
// JavaScript v3, each running the same scenario, and checks access control
// through boto3 with keys of four policies (access_test.go; see README.md
// here).
package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/embedded/embeddedtest"
	"github.com/amplifybackendd/amplifybackendd/internal/external"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

func TestMain(m *testing.M) {
	os.Exit(testserver.Main(m, "../cmd/amplifybackendd", false))
}

// requiredChecks are reported by every scenario; each also reports at least
// one paginate_* check.
var requiredChecks = []string{
	"create_named", "get_job", "create_derived", "get_storage", "update_storage", "get_backend",
	"list_jobs_filter", "import_storage", "list_s3_buckets", "cancel_job", "delete_storage",
	"not_found", "bad_request", "invalid_signature", "unrecognized_client", "missing_token",
	"clock_skew_refused", "odd_names", "create_token", "get_token", "sign_in", "delete_token", "token_gone",
	"create_backend", "clone_backend", "delete_backend", "remove_all_backends",
}

// variant is one client build and how to run its scenario.
type variant struct {
	name    string
	command func(t *testing.T) (argv []string, env []string)
	// extra checks this client must report besides requiredChecks.
	extra []string
	// configEndpoints: the client reads the service-specific endpoints of
	// a data directory's config (botocore 1.31+, AWS CLI v2.13+, the JS
	// SDK); older ones are given the endpoint, as their users must.
	configEndpoints bool
}

// need returns the path of a program: the clients run only with the
// external switch on, and then a missing client is a broken CI machine.
func need(t *testing.T, prog string) string {
	t.Helper()
	return external.Program(t, prog)
}

func versionOf(t *testing.T, argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v: %s", argv, err, out)
	}
	return strings.TrimSpace(string(out))
}

var variants = []variant{
	{name: "boto3-1.43", command: func(t *testing.T) ([]string, []string) {
		py := need(t, "python3")
		if v := versionOf(t, py, "-c", "import boto3; print(boto3.__version__)"); !strings.HasPrefix(v, "1.43.") {
			t.Fatalf("python3 has boto3 %s, want 1.43", v)
		}
		return []string{py, "clients/boto3_scenario.py"}, nil
	}, extra: []string{"paginate_paginator", "dot_names", "unsupported_operation", "config_endpoints", "presigned_put", "presigned_get", "multipart_upload"}, configEndpoints: true},
	{name: "boto3-1.26", command: func(t *testing.T) ([]string, []string) {
		py := need(t, "/usr/bin/python3")
		if v := versionOf(t, py, "-c", "import boto3; print(boto3.__version__)"); !strings.HasPrefix(v, "1.26.") {
			t.Fatalf("/usr/bin/python3 has boto3 %s, want 1.26 (Debian python3-boto3)", v)
		}
		return []string{py, "clients/boto3_scenario.py"}, nil
	}, extra: []string{"paginate_paginator", "dot_names", "unsupported_operation", "presigned_put", "presigned_get", "multipart_upload"}},
	{name: "aws-cli-v1", command: func(t *testing.T) ([]string, []string) {
		awsPath := need(t, "aws")
		if v := versionOf(t, awsPath, "--version"); !strings.HasPrefix(v, "aws-cli/1.") {
			t.Fatalf("aws on PATH is %q, want AWS CLI v1", v)
		}
		return []string{need(t, "python3"), "clients/cli_scenario.py"}, []string{"AB_AWS=" + awsPath}
	}, extra: []string{"paginate_auto", "paginate_page_size", "paginate_max_items", "dot_names", "unsupported_operation", "config_endpoints", "presigned_get", "multipart_upload"}, configEndpoints: true},
	{name: "aws-cli-v2", command: func(t *testing.T) ([]string, []string) {
		awsPath := need(t, "/usr/bin/aws")
		if v := versionOf(t, awsPath, "--version"); !strings.HasPrefix(v, "aws-cli/2.") {
			t.Fatalf("/usr/bin/aws is %q, want AWS CLI v2 (Debian awscli)", v)
		}
		return []string{need(t, "python3"), "clients/cli_scenario.py"}, []string{"AB_AWS=" + awsPath}
	}, extra: []string{"paginate_auto", "paginate_page_size", "paginate_max_items", "dot_names", "unsupported_operation", "presigned_get", "multipart_upload"}},
	{name: "aws-sdk-js-v3", command: func(t *testing.T) ([]string, []string) {
		if _, err := os.Stat("clients/js/node_modules/@aws-sdk/client-amplifybackend"); err != nil {
			t.Fatalf("run npm ci in conformance/clients/js first (.ci/run does): %v", err)
		}
		return []string{need(t, "node"), "clients/js/scenario.mjs"}, nil
	}, extra: []string{"paginate_loop", "clock_skew_corrected", "config_endpoints", "dot_names", "unsupported_operation"}, configEndpoints: true},
}

// checkResult is one line of a scenario's output.
type checkResult struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// runResult is what a scenario run produced; artifacts/conformance/<variant>.json
// holds it.
type runResult struct {
	Variant string        `json:"variant"`
	Client  string        `json:"client"`
	Version string        `json:"version"`
	Checks  []checkResult `json:"checks"`
}

func TestClients(t *testing.T) {
	external.Require(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			res := runScenario(t, v)
			writeResult(t, res)
			wantChecks(t, res, append(slices.Clone(requiredChecks), v.extra...))
		})
	}
}

// ageBucket returns the bucket's creation date as the target reports it
// (RFC 3339, seconds, as ListS3Buckets answers it) and then writes an object
// at its top level in a later second, so that a creation date that follows
// the last write shows.
func ageBucket(t *testing.T, c *s3.Client, bucket string) string {
	t.Helper()
	ctx := context.Background()
	created, err := embeddedtest.CreationDate(ctx, c, bucket)
	if err != nil {
		t.Fatal(err)
	}
	embeddedtest.NextSecond(created)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("readme.txt"),
		Body: strings.NewReader("written after the bucket was made")}); err != nil {
		t.Fatal(err)
	}
	return created.UTC().Format(time.RFC3339)
}

// runScenario sets up a server pair for one client and runs its scenario.
func runScenario(t *testing.T, v variant) runResult {
	p := testserver.NewStalledPair(t)
	control := p.Control(t)

	prefix := "conf-" + strings.ReplaceAll(strings.ReplaceAll(v.name, ".", ""), "_", "-")
	importBucket := prefix + "-import"
	if _, err := p.GW.S3Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(importBucket)}); err != nil {
		t.Fatal(err)
	}
	importCreated := ageBucket(t, p.GW.S3Client(), importBucket)
	app := "app-" + v.name
	paging := seedJobs(t, p.API, app, "paging", 60)
	home := homeBucket(t, p.GW, prefix+"-home")
	configEndpoints := "0"
	if v.configEndpoints {
		configEndpoints = "1"
	}

	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	k := p.API.APICreds
	writeFile(t, creds, fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"+
		"[wrongsecret]\naws_access_key_id = %s\naws_secret_access_key = wrong%s\n\n"+
		"[unknown]\naws_access_key_id = AKIAUNKNOWN000000000\naws_secret_access_key = %s\n",
		k.AccessKeyID, k.SecretAccessKey, k.AccessKeyID, k.SecretAccessKey, k.SecretAccessKey))
	cfg := filepath.Join(dir, "config")
	writeFile(t, cfg, "[default]\nregion = us-east-1\n[profile wrongsecret]\nregion = us-east-1\n[profile unknown]\nregion = us-east-1\n")

	argv, extraEnv := v.command(t)
	// A bound for a hung client, not a measure: the CLI scenario starts
	// about a hundred aws processes, which with five scenarios and their
	// servers sharing two cores took over five minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(cleanEnv(), append(extraEnv,
		"AB_ENDPOINT="+p.API.API, "AB_REGION=us-east-1",
		"AB_KEY_ID="+k.AccessKeyID, "AB_SECRET="+k.SecretAccessKey, "AB_WRONG_SECRET=wrong"+k.SecretAccessKey,
		"AB_UNKNOWN_KEY_ID=AKIAUNKNOWN000000000", "AB_CONTROL="+control, "AB_APP="+app,
		"AB_BUCKET_PREFIX="+prefix, "AB_IMPORT_BUCKET="+importBucket, "AB_IMPORT_BUCKET_CREATED="+importCreated,
		"AB_PAGING_ENV=paging", "AB_PAGING_JOBS="+strings.Join(paging, ","),
		"AWS_SHARED_CREDENTIALS_FILE="+creds, "AWS_CONFIG_FILE="+cfg,
		"AB_HOME_CONFIG="+filepath.Join(p.GW.DataDir, "config"), "AB_HOME_CREDENTIALS="+filepath.Join(p.GW.DataDir, "credentials"),
		"AB_HOME_API="+p.GW.API, "AB_HOME_S3="+p.GW.S3, "AB_HOME_BUCKET="+home, "AB_HOME_OBJECT="+homeObjectKey, "AB_HOME_BODY="+homeObjectBody,
		"AB_CONFIG_ENDPOINTS="+configEndpoints,
	)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("scenario exited with %v; stderr:\n%s", err, stderr.String())
	}
	res := readChecks(t, v.name, out)
	if t.Failed() || stderr.Len() > 0 {
		t.Logf("scenario stderr:\n%s", stderr.String())
	}
	return res
}

// readChecks reads a scenario's output: one JSON line per check, and a
// last line naming the client and its version.
func readChecks(t *testing.T, variant string, out []byte) runResult {
	res := runResult{Variant: variant}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var c checkResult
		var fin struct{ Client, Version string }
		switch {
		case json.Unmarshal(line, &c) == nil && c.Check != "":
			res.Checks = append(res.Checks, c)
			t.Logf("%-22s ok=%-5v %s", c.Check, c.OK, c.Detail)
		case json.Unmarshal(line, &fin) == nil && fin.Client != "":
			res.Client, res.Version = fin.Client, fin.Version
		default:
			t.Logf("scenario printed: %s", line)
		}
	}
	return res
}

// wantChecks fails the test for each check in want that res lacks or that failed.
func wantChecks(t *testing.T, res runResult, want []string) {
	t.Helper()
	got := map[string]checkResult{}
	for _, c := range res.Checks {
		got[c.Check] = c
	}
	for _, name := range want {
		c, ok := got[name]
		switch {
		case !ok:
			t.Errorf("check %s was not reported", name)
		case !c.OK:
			t.Errorf("check %s failed: %s", name, c.Detail)
		}
	}
	if res.Version == "" {
		t.Error("the scenario did not finish (no client/version line)")
	}
}

// cleanEnv is the test's environment without AWS settings that would point
// a client somewhere else.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "AWS_CA_BUNDLE") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// homeObjectKey is the object homeBucket holds, and homeObjectBody its
// content.
const (
	homeObjectKey  = "public/hello.txt"
	homeObjectBody = "hello from the bucket"
)

// homeBucket makes, through the API of a server on its embedded gateway
// (what a first start gives a user), a storage resource whose guests may
// read, and puts homeObjectKey in its bucket.
func homeBucket(t *testing.T, s *testserver.Server, bucket string) string {
	t.Helper()
	r := testserver.MustOK(t, s.Call("POST", "/backend/home/storage", map[string]any{
		"backendEnvironmentName": "dev", "resourceName": bucket,
		"resourceConfig": map[string]any{"bucketName": bucket, "serviceName": "S3", "permissions": map[string]any{
			"authenticated": []string{"READ", "CREATE_AND_UPDATE", "DELETE"}, "unAuthenticated": []string{"READ"}}},
	}))
	if j := s.WaitJob("home", "dev", r.Str("jobId")); j.Str("status") != "COMPLETED" {
		t.Fatalf("create %s: %s", bucket, j.Raw)
	}
	if _, err := s.S3Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(homeObjectKey),
		Body: strings.NewReader(homeObjectBody)}); err != nil {
		t.Fatal(err)
	}
	return bucket
}

// seedJobs makes n jobs in app/env (imports of buckets that do not exist,
// which fail fast) and returns their ids newest first, once all finished.
func seedJobs(t *testing.T, s *testserver.Server, app, env string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := 0; i < n; i++ {
		r := testserver.MustOK(t, s.Call("POST", fmt.Sprintf("/backend/%s/storage/%s/import", testserver.Esc(app), env),
			map[string]any{"serviceName": "S3", "bucketName": fmt.Sprintf("missing-bucket-%03d", i)}))
		ids[n-1-i] = r.Str("jobId")
	}
	for _, id := range ids {
		s.WaitJob(app, env, id)
	}
	return ids
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeResult records the run for the compatibility table: pass or fail per
// check, without the details, so the file changes only when a result does.
func writeResult(t *testing.T, res runResult) {
	t.Helper()
	res.Checks = slices.Clone(res.Checks)
	for i := range res.Checks {
		res.Checks[i].Detail = ""
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(external.ArtifactsDir(t, "conformance"), res.Variant+".json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
