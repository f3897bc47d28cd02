// Package external gates the test suites that need programs installed
// outside Go: Ceph's radosgw, Chromium, Node.js packages, the boto3 builds
// and the AWS CLI builds; and the chaos test of several replicas
// (e2e/chaos), which needs only Go but runs four servers and an etcd
// cluster for a minute. `go test ./...` on a machine with only Go runs
// everything else and skips these; ./test.sh installs the programs and sets
// the switch, and with the switch on a missing program fails the test, so a
// broken CI machine can never pass by skipping.
package external

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// EnvVar is the switch: set to a true value (1, true) the suites that need
// installed programs run and a missing program is a failure.
const EnvVar = "AMPLIFYBACKENDD_EXTERNAL"

// Enabled reports whether the switch is on.
func Enabled() bool {
	on, _ := strconv.ParseBool(os.Getenv(EnvVar))
	return on
}

// Require skips t unless the switch is on. Call it first in every test that
// needs an installed program.
func Require(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skipf("needs programs installed outside Go; ./test.sh installs them and sets %s=1", EnvVar)
	}
}

// Program returns the path of an installed program, failing t when it is
// missing: with the switch on, a missing program is a broken machine. It
// skips t when the switch is off.
func Program(t testing.TB, prog string) string {
	t.Helper()
	Require(t)
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Fatalf("%s is not installed (scripts/deps.sh installs it; %s=1 is set): %v", prog, EnvVar, err)
	}
	return p
}

// ArtifactsDir returns the repository's git-ignored artifacts/ folder joined
// with elem, created if missing. Tests write what they generate there so a
// run leaves the tree clean.
func ArtifactsDir(t testing.TB, elem ...string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository root")
	}
	dir := filepath.Join(append([]string{filepath.Dir(file), "..", "..", "artifacts"}, elem...)...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
