package credfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	got, err := Parse(strings.NewReader(`
aws_access_key_id = orphan
# a comment
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key=secret=with=equals
; another comment
region = us-east-1

[ team-a ]
aws_access_key_id = AKIDTEAMA
[config-only]
role_arn = arn:aws:iam::1:role/x
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Keys{
		"default":     {"AKIDDEFAULT", "secret=with=equals"},
		"team-a":      {AccessKeyID: "AKIDTEAMA"},
		"config-only": {},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for name, k := range want {
		if got[name] != k {
			t.Errorf("[%s] = %+v, want %+v", name, got[name], k)
		}
	}
	if got["default"].Complete() != true || got["team-a"].Complete() {
		t.Error("Complete")
	}
}

func TestProfile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(path, []byte("[default]\naws_access_key_id = A\naws_secret_access_key = S\n[half]\naws_access_key_id = B\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Profile(path, "default")
	if err != nil || c.AccessKeyID != "A" || c.SecretAccessKey != "S" {
		t.Fatalf("default: %+v %v", c, err)
	}
	for _, name := range []string{"half", "missing"} {
		if _, err := Profile(path, name); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming the file and the profile", name, err)
		}
	}
	if _, err := Profile(filepath.Join(t.TempDir(), "none"), "default"); err == nil {
		t.Error("a missing file read as a profile")
	}
}
