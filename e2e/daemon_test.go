package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestSecondServerOnSameDataDir starts a second server on a running one's
// data directory: it is refused at once, naming the running process, and
// writes nothing there. Once the first is killed, the directory is free
// again.
func TestSecondServerOnSameDataDir(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	files := map[string][]byte{}
	for _, name := range []string{"credentials", "config"} {
		raw, err := os.ReadFile(filepath.Join(s.DataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = raw
	}
	// Other ports, so that only the directory is in the way.
	out, code := testserver.Run(t, "--listen", "127.0.0.1:0", "--data-dir", s.DataDir,
		"--embedded-s3-listen", "127.0.0.1:0", "--embedded-iam-listen", "127.0.0.1:0")
	want := fmt.Sprintf("amplifybackendd: data directory %s is in use by process %d (amplifybackendd, API on 127.0.0.1:0, since ", s.DataDir, s.PID())
	if code == 0 || !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "; stop it or choose another --data-dir\n") {
		t.Fatalf("second server (exit %d):\n%s", code, out)
	}
	for name, before := range files {
		if after, err := os.ReadFile(filepath.Join(s.DataDir, name)); err != nil || string(after) != string(before) {
			t.Errorf("the refused server changed %s (%v)", name, err)
		}
	}
	testserver.MustOK(t, s.Call("POST", "/s3Buckets", map[string]any{}))

	// A killed holder leaves its lock file; the kernel dropped the lock.
	s.Kill()
	s.Restart()
	testserver.MustOK(t, s.Call("POST", "/s3Buckets", map[string]any{}))
}

// TestPortClashOnFreshDataDir starts a server whose API and S3 addresses
// are taken: one message names both addresses and their flags, and the new
// data directory is not created.
func TestPortClashOnFreshDataDir(t *testing.T) {
	t.Parallel()
	taken := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln.Addr().String()
	}
	api, s3 := taken(), taken()
	dir := filepath.Join(t.TempDir(), "data")
	out, code := testserver.Run(t, "--listen", api, "--data-dir", dir,
		"--embedded-s3-listen", s3, "--embedded-iam-listen", "127.0.0.1:0")
	want := fmt.Sprintf("amplifybackendd: %s is in use (choose another --listen); %s is in use (choose another --embedded-s3-listen)\n", api, s3)
	if code == 0 || out != want {
		t.Fatalf("exit %d, output:\n%s\nwant:\n%s", code, out, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the refused start created %s (%v)", dir, err)
	}
}

// TestStopWithIdleConnections stops the server with SIGTERM while clients
// hold connections to the API, the embedded S3 and the IAM endpoint, idle
// after a request and never used (testserver.HoldIdleConnections), and
// after a job, so the server's own S3 and IAM clients hold some too. It must
// stop cleanly, without Versity's shutdown running into its 10 s timeout
// ("shutdown api server: context deadline exceeded"). How long stopping
// takes is measured by the bench suite, not asserted here.
func TestStopWithIdleConnections(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	r := testserver.MustOK(t, s.Call("POST", "/backend/stopapp/storage", storageBody("dev", "docs", "amplify-e2e-stop", []string{"READ"}, nil)))
	if job := s.WaitJob("stopapp", "dev", r.Str("jobId")); job.Str("status") != "COMPLETED" {
		t.Fatalf("job: %s", job.Raw)
	}
	s.HoldIdleConnections()
	code, _ := s.Terminate()
	if logs := s.Logs.String(); code != 0 || strings.Contains(logs, "deadline exceeded") || !strings.Contains(logs, "msg=stopped") {
		t.Fatalf("exit %d; stderr:\n%s", code, logs)
	}
}
