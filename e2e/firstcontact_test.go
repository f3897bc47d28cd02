package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestEveryFlagInREADME: each flag --help lists has a row in the README's
// Configuration table, and each flag of a command's --help is named in the
// README, so a new flag cannot go undocumented.
func TestEveryFlagInREADME(t *testing.T) {
	t.Parallel()
	help, code := testserver.Run(t, "--help")
	if code != 0 {
		t.Fatalf("--help exited %d:\n%s", code, help)
	}
	flags := regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(help, -1)
	if len(flags) < 10 {
		t.Fatalf("--help lists %d flags:\n%s", len(flags), help)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n## Configuration\n")
	section, _, _ = strings.Cut(section, "\n## ")
	var rows strings.Builder
	for _, l := range strings.Split(section, "\n") {
		if strings.HasPrefix(l, "| `--") {
			rows.WriteString(l + "\n")
		}
	}
	for _, f := range flags {
		if !strings.Contains(rows.String(), "`--"+f[1]+"`") {
			t.Errorf("--%s is not in the README's Configuration table", f[1])
		}
	}
	// The commands' flags are named where the README shows each command.
	for _, command := range []string{"backup", "restore", "ready", "gateway", "migrate"} {
		help, code := testserver.Run(t, command, "--help")
		if code != 0 {
			t.Fatalf("%s --help exited %d:\n%s", command, code, help)
		}
		for _, f := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(help, -1) {
			if !regexp.MustCompile(`--` + f[1] + `([^a-z0-9-]|$)`).MatchString(string(readme)) {
				t.Errorf("amplifybackendd %s --%s is not in the README", command, f[1])
			}
		}
	}
}

// TestFirstStartPointsClientsAtItself: what a first start prints and writes
// is enough for a client. Stdout shows the two lines to run and nothing of
// the embedded gateway's internals, and the written config, read by the AWS
// SDK's own loader, sends profile embedded-s3's IAM and S3 calls to the
// embedded gateway and names the API for profile default's AmplifyBackend
// calls, all with the keys of the written credentials.
func TestFirstStartPointsClientsAtItself(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	out := s.Stdout.String()
	for _, want := range []string{"export AWS_SHARED_CREDENTIALS_FILE=", "\n  aws amplifybackend list-s3-buckets\n", "\n  aws s3 ls --profile embedded-s3\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"private protocol", "standalone IAM", "--endpoint-url"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("stdout shows %q:\n%s", unwanted, out)
		}
	}

	ctx := context.Background()
	files := []func(*config.LoadOptions) error{
		config.WithSharedConfigFiles([]string{filepath.Join(s.DataDir, "config")}),
		config.WithSharedCredentialsFiles([]string{filepath.Join(s.DataDir, "credentials")}),
	}
	def, err := config.LoadSharedConfigProfile(ctx, "default", func(o *config.LoadSharedConfigOptions) {
		o.ConfigFiles = []string{filepath.Join(s.DataDir, "config")}
		o.CredentialsFiles = []string{filepath.Join(s.DataDir, "credentials")}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := def.Services.ServiceValues["amplifybackend"]["endpoint_url"]; got != s.API {
		t.Errorf("profile default's amplifybackend endpoint is %q, want %q", got, s.API)
	}
	if def.Credentials.AccessKeyID != s.APICreds.AccessKeyID {
		t.Errorf("profile default signs with %q, want the API key", def.Credentials.AccessKeyID)
	}

	cfg, err := config.LoadDefaultConfig(ctx, append(files, config.WithSharedConfigProfile("embedded-s3"))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iam.NewFromConfig(cfg).ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
		t.Errorf("IAM through profile embedded-s3: %v", err)
	}
	// The Go SDK does not read addressing_style; the other clients do.
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("first-contact")}); err != nil {
		t.Errorf("S3 through profile embedded-s3: %v", err)
	}
	if _, err := s.S3Client().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("first-contact")}); err != nil {
		t.Errorf("the bucket made through the config is not on the embedded gateway: %v", err)
	}
}

// TestStartupLinesNameAnAddressToOpen: a server listening on every
// interface prints its API, console and metrics as the written config names them,
// on 127.0.0.1, not as Go reports the listener ([::]), which is no address
// to open in a browser or to give a client.
func TestStartupLinesNameAnAddressToOpen(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, "--listen", "0.0.0.0:0", "--metrics-listen", "0.0.0.0:0")
	s.Until("the console line is not printed", func() bool { return strings.Contains(s.Stdout.String(), "admin console on") })
	out := s.Stdout.String()
	for _, want := range []string{"AmplifyBackend API on http://127.0.0.1:", "admin console on http://127.0.0.1:", "metrics on http://127.0.0.1:"} {
		if !strings.Contains(out, want) || strings.Contains(out, "[::]") {
			t.Errorf("stdout lacks %q or names [::]:\n%s", want, out)
		}
	}
}
