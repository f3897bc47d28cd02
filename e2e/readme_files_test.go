package e2e

import (
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

// TestREADMEFilesStayOutOfGit: the README's commands run in the folder the
// server was started in, the repository's root after `go run
// ./cmd/amplifybackendd`, and some of what they write there holds keys:
// the data directory, the replica recipe's folder (its gateway's root key
// and the replicas' API keys), the credentials file `keys create` hands
// over, a backup of the store, and the keys and config the Docker section
// copies out of the volume. None may show in `git status`, where a
// `git add .` would commit it, or go into the image's build context.
func TestREADMEFilesStayOutOfGit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	if err := exec.Command("git", "-C", "..", "rev-parse", "--is-inside-work-tree").Run(); err != nil {
		t.Skip("not a git checkout")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	dockerignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ path, readmeSays string }{
		{"data/credentials", "./data/credentials"},
		{"replicas/gateway/credentials", "mkdir -p replicas && cd replicas"},
		{"team-a-credentials", "--credentials-file ./team-a-credentials"},
		{"backup.db", "--data-dir ./data backup.db"},
		{"backup.db.tmp-123", "`backup.db.tmp-N` beside `backup.db`"},
		{"credentials", "docker cp amplifybackendd:/data/credentials ./credentials"},
		{"config", "docker cp amplifybackendd:/data/config ./config"},
	} {
		if !strings.Contains(string(readme), f.readmeSays) {
			t.Errorf("the README no longer says %q; update this test's list", f.readmeSays)
			continue
		}
		if err := exec.Command("git", "-C", "..", "check-ignore", "-q", "--no-index", f.path).Run(); err != nil {
			t.Errorf("%s, which the README's %q writes, is not git-ignored (%v)", f.path, f.readmeSays, err)
		}
		// Nor may it reach the image's build context.
		top, _, _ := strings.Cut(f.path, "/")
		if !slices.ContainsFunc(strings.Split(string(dockerignore), "\n"), func(line string) bool {
			ok, _ := path.Match(line, top)
			return ok
		}) {
			t.Errorf("%s, which the README's %q writes, is not a line of .dockerignore", top, f.readmeSays)
		}
	}
}
