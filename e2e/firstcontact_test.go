package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestEveryFlagInREADME: each flag --help lists has a row in the README's
// Configuration table, so a new flag cannot go undocumented.
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
}
