package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/external"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

func TestMain(m *testing.M) {
	os.Exit(testserver.Main(m, "../cmd/amplifybackendd", false))
}

// need returns the path of a program: these tests run only with the
// external switch on, and then a missing program is a broken machine.
func need(t *testing.T, prog string) string {
	t.Helper()
	return external.Program(t, prog)
}

func needNodeModules(t *testing.T) {
	t.Helper()
	for _, pkg := range []string{"esbuild", "playwright-core", "@aws-sdk/client-amplifybackend"} {
		if _, err := os.Stat(filepath.Join("node_modules", pkg)); err != nil {
			t.Fatalf("console/node_modules lacks %s: run scripts/deps.sh (npm ci in console/): %v", pkg, err)
		}
	}
}

// TestBuildIsFresh rebuilds the console into a temporary folder and
// compares it byte for byte with the committed dist/: a change to src/ (or
// to the pinned versions) without `npm run build` fails here.
func TestBuildIsFresh(t *testing.T) {
	t.Parallel()
	node := need(t, "node")
	needNodeModules(t)
	out := t.TempDir()
	cmd := exec.Command(node, "build.mjs", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node build.mjs: %v\n%s", err, b)
	}
	want := readTree(t, os.DirFS(out))
	got := readTree(t, os.DirFS("dist"))
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("dist/%s is missing", name)
		case !bytes.Equal(g, w):
			t.Errorf("dist/%s is stale (%d bytes committed, %d built)", name, len(g), len(w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("dist/%s is not produced by the build", name)
		}
	}
	if t.Failed() {
		t.Log("rebuild with: cd console && npm ci && npm run build")
	}
}

func readTree(t *testing.T, fsys fs.FS) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		out[name], err = fs.ReadFile(fsys, name)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAssetsEmbedded(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"index.html", "app.js", "app.css", "licenses.txt"} {
		if b, err := fs.ReadFile(Assets(), name); err != nil || len(b) == 0 {
			t.Errorf("%s: %d bytes, %v", name, len(b), err)
		}
	}
}

// TestOutputsMapping runs the unit tests of the amplify_outputs.json
// mapping (test/outputs.test.mjs) with node's test runner.
func TestOutputsMapping(t *testing.T) {
	t.Parallel()
	node := need(t, "node")
	out, err := exec.Command(node, "--test", "test/outputs.test.mjs").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
}

// TestConsoleInBrowser runs test/console.test.mjs: Chromium signs in, creates
// a resource, watches its jobs, edits the permission grid, reads the
// policies, downloads amplify_outputs.json, cancels a stalled job and deletes
// the resource; invites to an app and signs in with the link in a fresh
// browser context; signs in with a read-only key and finds the write actions
// disabled; creates, clones and deletes environments; at a desktop and a
// phone viewport, failing on any console error. Screenshots go to
// artifacts/console/.
func TestConsoleInBrowser(t *testing.T) {
	external.Require(t)
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is not installed at %s (scripts/deps.sh installs Debian's chromium): %v", chromium, err)
	}
	node := need(t, "node")
	needNodeModules(t)

	// The server's target goes through proxies the scenario can pause, so
	// it can hold a job RUNNING and cancel it.
	p := testserver.NewStalledPair(t)
	control := p.Control(t)

	artifacts := external.ArtifactsDir(t, "console")
	run := fmt.Sprintf("cons%d", time.Now().UnixNano()%1e6)
	readers := readOnlyKeys(t, p.API, run)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "test/console.test.mjs")
	cmd.Env = append(os.Environ(),
		"AB_ENDPOINT="+p.API.API,
		"AB_KEY_ID="+p.API.APICreds.AccessKeyID,
		"AB_SECRET="+p.API.APICreds.SecretAccessKey,
		"AB_CONTROL="+control,
		"AB_RUN="+run,
		"AB_READERS="+readers,
		"AB_ARTIFACTS="+artifacts,
		"CHROMIUM="+chromium,
	)
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("console.test.mjs: %v\n%s", err, stderr.String())
		t.Logf("server log:\n%s", tail(p.API.Logs.String(), 4000))
	} else if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("console.test.mjs stderr:\n%s", s)
	}
}

// readOnlyKeys makes, with `amplifybackendd keys create` on the running
// server's data directory, one read-only key per viewport for the app that
// viewport's scenario creates (RUN-desktop, RUN-phone), waits until the
// server accepts them, and returns them as the JSON the scenario reads:
// {"desktop": {"accessKeyId", "secretAccessKey"}, ...}.
func readOnlyKeys(t *testing.T, s *testserver.Server, run string) string {
	t.Helper()
	keys := map[string]map[string]string{}
	for _, vp := range []string{"desktop", "phone"} {
		name := "reader-" + vp
		file := filepath.Join(t.TempDir(), "credentials")
		out, code := testserver.Run(t, "keys", "create", name, "--app", run+"-"+vp, "--read-only",
			"--credentials-file", file, "--data-dir", s.DataDir)
		if code != 0 {
			t.Fatalf("keys create %s: exit %d\n%s", name, code, out)
		}
		creds, err := credfile.Profile(file, name)
		if err != nil {
			t.Fatal(err)
		}
		s.Until("the new read-only key accepted", func() bool {
			return s.CallAs(creds, "GET", "/console-api/caller", nil).Status == 200
		})
		keys[vp] = map[string]string{"accessKeyId": creds.AccessKeyID, "secretAccessKey": creds.SecretAccessKey}
	}
	b, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
