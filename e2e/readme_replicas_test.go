package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/external"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestREADMEReplicaRecipe runs the shell block of the README's "Running
// several replicas" as written, with a real etcd (Debian's etcd-server)
// and the AWS CLI, in an empty folder with the amplifybackendd just built
// first on PATH: a recipe that stopped working would fail here before it
// failed a reader. It listens on the ports the README names.
func TestREADMEReplicaRecipe(t *testing.T) {
	t.Parallel()
	if !external.Enabled() {
		t.Skipf("needs etcd (Debian's etcd-server) and the AWS CLI on PATH; ./test.sh installs them and sets %s=1", external.EnvVar)
	}
	external.Program(t, "etcd")
	external.Program(t, "aws")
	block := readmeBlock(t, "Running several replicas", "--store etcd")

	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testserver.Command().Path, filepath.Join(bin, "amplifybackendd")); err != nil {
		t.Fatal(err)
	}
	// Whatever the block starts in the background is stopped when it
	// ends, however it ends; the process group is the backstop.
	script := "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + block
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "AMPLIFYBACKENDD_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		// The reader's own AWS settings are not the recipe's.
		"AWS_CONFIG_FILE="+filepath.Join(dir, "no-aws-config"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	want := regexp.MustCompile(`^([0-9a-f-]{36})\tCOMPLETED\n([0-9a-f-]{36})\tCOMPLETED\n$`)
	m := want.FindStringSubmatch(stdout.String())
	if err != nil || m == nil || m[1] != m[2] {
		var logs strings.Builder
		for _, f := range []string{"etcd.log", "gateway.log", "replica1.log", "replica2.log", "replica3.log"} {
			b, _ := os.ReadFile(filepath.Join(dir, "replicas", f))
			logs.WriteString("--- " + f + "\n" + lastLines(string(b), 30))
		}
		t.Fatalf("the README's replica recipe (%v) printed:\n%s\nwant the job's id and COMPLETED twice; stderr:\n%s\n%s", err, stdout.String(), stderr.String(), logs.String())
	}
}

// readmeBlock is the shell block of the README section titled section
// that contains marker.
func readmeBlock(t *testing.T, section, marker string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, text, ok := strings.Cut(string(readme), "\n## "+section+"\n")
	if !ok {
		t.Fatalf("the README has no section %q", section)
	}
	text, _, _ = strings.Cut(text, "\n## ")
	for _, b := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(text, -1) {
		if strings.Contains(b[1], marker) {
			return b[1]
		}
	}
	t.Fatalf("the README's %q has no shell block with %q", section, marker)
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// TestREADMEReplicaRecipeShowsAGatewayThatFails: the recipe's wait for
// its gateway ends, printing the gateway's own message, when the gateway
// cannot start (the quick start's server still holding port 9000 is the
// usual cause), instead of waiting for a line that never comes. The
// gateway here is a stand-in that fails as the real one does, so no port
// is taken from the tests that run beside this one.
func TestREADMEReplicaRecipeShowsAGatewayThatFails(t *testing.T) {
	t.Parallel()
	block := readmeBlock(t, "Running several replicas", "--store etcd")
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if strings.HasPrefix(l, "amplifybackendd gateway ") || strings.HasPrefix(l, "until grep -q 'S3 on' gateway.log") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("the recipe's gateway start and wait are not two lines of its block:\n%s", block)
	}
	dir := t.TempDir()
	const refusal = "amplifybackendd gateway: 127.0.0.1:9000 is in use (choose another --s3-listen)"
	fake := "#!/bin/sh\necho '" + refusal + "' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "amplifybackendd"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+strings.Join(lines, "\n")+"\n")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the recipe still waited for the gateway 20 s after it failed; printed:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), refusal) {
		t.Fatalf("the recipe's wait for a gateway that failed (%v) printed:\n%s\nwant the gateway's message", err, out)
	}
}
