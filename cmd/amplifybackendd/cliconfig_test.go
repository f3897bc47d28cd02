package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testEndpoints = clientEndpoints{API: "http://127.0.0.1:8080", S3: "http://127.0.0.1:9000", IAM: "http://127.0.0.1:9001"}

// TestCLIConfigNamesEveryEndpoint: a new data directory's config sends
// profile default's AmplifyBackend calls to the API and profile
// embedded-s3's S3 and IAM calls to the gateway, path-style and SigV4
// presigned, through the services sections current clients read.
func TestCLIConfigNamesEveryEndpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, err := writeCLIConfig(dir, "eu-west-1", testEndpoints)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `[default]
region = eu-west-1
services = amplifybackendd

[services amplifybackendd]
amplifybackend =
  endpoint_url = http://127.0.0.1:8080

[profile embedded-s3]
region = eu-west-1
services = amplifybackendd-embedded
s3 =
  addressing_style = path
  signature_version = s3v4

[services amplifybackendd-embedded]
s3 =
  endpoint_url = http://127.0.0.1:9000
iam =
  endpoint_url = http://127.0.0.1:9001
`
	if !strings.HasSuffix(string(raw), "\n\n"+want) {
		t.Fatalf("config:\n%s\nwant it to end with:\n%s", raw, want)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", st, err)
	}

	// An external target has no embedded-s3 profile to point anywhere.
	ext := t.TempDir()
	if _, err := writeCLIConfig(ext, "us-east-1", clientEndpoints{API: "http://10.0.0.1:8080"}); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(filepath.Join(ext, "config"))
	if strings.Contains(string(raw), profileEmbedded) || !strings.Contains(string(raw), "endpoint_url = http://10.0.0.1:8080") {
		t.Fatalf("external target's config:\n%s", raw)
	}
}

// TestCLIConfigKeepsUsersEdits: a file from an earlier release (regions
// only) gains the endpoints; a start on other addresses moves them; what
// the user added (keys, profiles, comments, nested values) is kept; and a
// start that changes nothing leaves the file alone.
func TestCLIConfigKeepsUsersEdits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	old := "[default]\nregion = us-east-1\noutput = json\n\n" +
		"# my own profile\n[profile mine]\nregion = eu-central-1\ns3 =\n  addressing_style = virtual\n\n" +
		"[profile embedded-s3]\nregion = us-east-1\ncli_pager =\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := writeCLIConfig(dir, "us-east-1", testEndpoints); err != nil {
		t.Fatal(err)
	}
	moved := clientEndpoints{API: "http://127.0.0.1:18080", S3: "http://127.0.0.1:19000", IAM: "http://127.0.0.1:19001"}
	if _, err := writeCLIConfig(dir, "us-east-1", moved); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	got := string(raw)
	for _, want := range []string{
		"[default]\nregion = us-east-1\nservices = amplifybackendd\noutput = json\n",
		"# my own profile\n[profile mine]\nregion = eu-central-1\ns3 =\n  addressing_style = virtual\n",
		"[profile embedded-s3]\nregion = us-east-1\nservices = amplifybackendd-embedded\ns3 =\n  addressing_style = path\n  signature_version = s3v4\ncli_pager =\n",
		"amplifybackend =\n  endpoint_url = http://127.0.0.1:18080\n",
		"s3 =\n  endpoint_url = http://127.0.0.1:19000\niam =\n  endpoint_url = http://127.0.0.1:19001\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks\n%s\ngot:\n%s", want, got)
		}
	}
	for _, stale := range []string{":8080", ":9000", ":9001"} {
		if strings.Contains(got, "127.0.0.1"+stale+"\n") {
			t.Errorf("config still names %s:\n%s", stale, got)
		}
	}
	if n := strings.Count(got, "[services amplifybackendd]"); n != 1 {
		t.Errorf("%d [services amplifybackendd] sections:\n%s", n, got)
	}

	// Unchanged settings write nothing: the file is the same file after.
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeCLIConfig(dir, "us-east-1", moved); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("an unchanged config was written again: %v", err)
	}
}

// TestAPIURLForClients: the API's URL in the config is one a client on the
// same host connects to, for every way --listen can be given.
func TestAPIURLForClients(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ listen, bound, want string }{
		{"127.0.0.1:8080", "127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"127.0.0.1:0", "127.0.0.1:41234", "http://127.0.0.1:41234"},
		{"0.0.0.0:8080", "[::]:8080", "http://127.0.0.1:8080"},
		{":8080", "[::]:8080", "http://127.0.0.1:8080"},
		{"[::1]:8080", "[::1]:8080", "http://[::1]:8080"},
	} {
		bound, err := net.ResolveTCPAddr("tcp", c.bound)
		if err != nil {
			t.Fatal(err)
		}
		if got := apiURL(c.listen, bound); got != c.want {
			t.Errorf("apiURL(%q, %s) = %q, want %q", c.listen, c.bound, got, c.want)
		}
	}
}
