package conformance

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestREADMEPythonExamples runs the README's Python blocks in order, as a
// reader would after a first start: in a folder whose data/ is the
// server's data directory, with the environment "With the AWS CLI" sets,
// and the server's address where the README writes the default one. A
// block that no longer runs, or prints something else, fails here rather
// than in a new user's hands.
func TestREADMEPythonExamples(t *testing.T) {
	t.Parallel()
	py := need(t, "python3")
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```python\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	// What each block prints, in order: the storage example's job and
	// resource, then the file browser's listing.
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?s)^COMPLETED \{'BucketName': 'docs-myapp-dev-[0-9a-f]+'.*\('CreateBackendStorage', 'COMPLETED'\)`),
		regexp.MustCompile(`^\['public/hi.txt'\]\n$`),
	}
	if len(blocks) != len(want) {
		t.Fatalf("README has %d Python blocks; this test knows what %d of them print", len(blocks), len(want))
	}
	s := testserver.Start(t)
	dir := t.TempDir()
	if err := os.Symlink(s.DataDir, filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		code := strings.ReplaceAll(b[1], "http://127.0.0.1:8080", s.API)
		cmd := exec.Command(py, "-c", code)
		cmd.Dir = dir
		cmd.Env = append(cleanEnv(), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "data", "credentials"),
			"AWS_CONFIG_FILE="+filepath.Join(dir, "data", "config"))
		out, err := cmd.CombinedOutput()
		if err != nil || !want[i].Match(out) {
			t.Fatalf("README's Python block %d (%v) printed:\n%s\nwant it to match %s\nserver log:\n%s", i+1, err, out, want[i], s.Logs)
		}
	}
}
