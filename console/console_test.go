package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
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

// TestNodeUnits runs the console's unit tests with node's test runner: the
// amplify_outputs.json mapping (test/outputs.test.mjs) and the file
// browser's part plan and sizes (test/files.unit.test.mjs).
func TestNodeUnits(t *testing.T) {
	t.Parallel()
	node := need(t, "node")
	needNodeModules(t) // files.js imports the SDK through api.js
	out, err := exec.Command(node, "--test", "test/outputs.test.mjs", "test/files.unit.test.mjs").CombinedOutput()
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
	chromium := chromiumPath(t)
	// The server's target goes through proxies the scenario can pause, so
	// it can hold a job RUNNING and cancel it.
	p := testserver.NewStalledPair(t)
	control := p.Control(t)
	run := fmt.Sprintf("cons%d", time.Now().UnixNano()%1e6)
	runScenario(t, p.API, "test/console.test.mjs",
		"AB_ENDPOINT="+p.API.API,
		"AB_KEY_ID="+p.API.APICreds.AccessKeyID,
		"AB_SECRET="+p.API.APICreds.SecretAccessKey,
		"AB_CONTROL="+control,
		"AB_RUN="+run,
		"AB_READERS="+readOnlyKeys(t, p.API, run),
		"AB_ARTIFACTS="+external.ArtifactsDir(t, "console"),
		"CHROMIUM="+chromium,
	)
}

// readerPolicy lets a key browse and download one environment's files but
// neither upload nor delete: the file browser shows those controls
// unavailable, with the reason.
const readerPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["amplifybackend:GetBackend","amplifybackend:GetBackendStorage","amplifybackend:ListBackendJobs",
  "amplifybackend:ListConsoleObjects","amplifybackend:PresignConsoleObjectDownload"],
 "Resource":"arn:aws:amplifybackend:*:*:/backend/%s/environments/dev"}]}`

// TestFileBrowserInBrowser runs test/files.test.mjs against a server on the
// embedded gateway: Chromium browses a resource's bucket, pages through a
// folder, previews an image and a text file, uploads a small file and a
// 20 MiB one (multipart, a failed part retried) with progress shown,
// cancels a multipart upload and checks with the gateway's root key that
// none is left, shares a link fetched without credentials, downloads and
// deletes; a key without upload and delete rights sees those controls
// unavailable. Screenshots go to artifacts/console/files-*.
func TestFileBrowserInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	s := testserver.Start(t)
	app := fmt.Sprintf("files%d", time.Now().UnixNano()%1e6)
	bucket := app + "-photos"
	r := testserver.MustOK(t, s.Call("POST", "/backend/"+app+"/storage", map[string]any{
		"backendEnvironmentName": "dev", "resourceName": "photos",
		"resourceConfig": map[string]any{"serviceName": "S3", "bucketName": bucket,
			"permissions": map[string]any{"authenticated": []string{"READ", "CREATE_AND_UPDATE", "DELETE"}, "unAuthenticated": []string{"READ"}}},
	}))
	if job := s.WaitJob(app, "dev", r.Str("jobId")); job.Str("status") != "COMPLETED" {
		t.Fatalf("create: %s", job.Raw)
	}

	keys := testserver.Command("keys", "create", "reader", "--policy", "-", "--data-dir", s.DataDir)
	keys.Stdin = strings.NewReader(fmt.Sprintf(readerPolicy, app))
	if out, err := keys.CombinedOutput(); err != nil {
		t.Fatalf("keys create reader: %v\n%s", err, out)
	}
	reader, err := credfile.Profile(filepath.Join(s.DataDir, "credentials"), "reader")
	if err != nil {
		t.Fatal(err)
	}
	// The server follows the key files on its own; wait until it knows the key.
	s.Until("the reader key is accepted", func() bool {
		return s.CallAs(reader, http.MethodGet, "/console-api/caller", nil).Status == http.StatusOK
	})

	runScenario(t, s, "test/files.test.mjs",
		"AB_ENDPOINT="+s.API,
		"AB_KEY_ID="+s.APICreds.AccessKeyID,
		"AB_SECRET="+s.APICreds.SecretAccessKey,
		"AB_READER_KEY_ID="+reader.AccessKeyID,
		"AB_READER_SECRET="+reader.SecretAccessKey,
		"AB_APP="+app,
		"AB_BUCKET="+bucket,
		"AB_S3="+s.S3,
		"AB_S3_KEY_ID="+s.S3Creds.AccessKeyID,
		"AB_S3_SECRET="+s.S3Creds.SecretAccessKey,
		"AB_ARTIFACTS="+external.ArtifactsDir(t, "console"),
		"CHROMIUM="+chromium,
	)
}

// chromiumPath is the browser the scenarios drive ($CHROMIUM, or Debian's).
func chromiumPath(t *testing.T) string {
	t.Helper()
	external.Require(t)
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is not installed at %s (scripts/deps.sh installs Debian's chromium): %v", chromium, err)
	}
	return chromium
}

// runScenario runs a browser scenario with node, its lines in the test's
// log, failing t (with the server's log) when it fails.
func runScenario(t *testing.T, srv *testserver.Server, script string, env ...string) {
	t.Helper()
	node := need(t, "node")
	needNodeModules(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), env...)
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
		t.Errorf("%s: %v\n%s", script, err, stderr.String())
		t.Logf("server log:\n%s", tail(srv.Logs.String(), 4000))
	} else if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("%s stderr:\n%s", script, s)
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
