package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/boltdamage"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
	"github.com/amplifybackendd/amplifybackendd/store"
)

const storeFile = "amplifybackendd.db"

// matrixEnvs spread the matrix's resources so no role passes IAM's size
// limit.
var matrixEnvs = []string{"dev", "test", "stage", "prod"}

// matrixSnapshot is what the API answers about everything the matrix
// server holds: every job, and every resource's details.
func matrixSnapshot(t *testing.T, s *testserver.Server, resources int) string {
	t.Helper()
	var b strings.Builder
	for _, env := range matrixEnvs {
		fmt.Fprintf(&b, "%+v\n", settledJobs(t, s, "matrix", env))
	}
	for i := range resources {
		env := matrixEnvs[i%len(matrixEnvs)]
		r := testserver.MustOK(t, s.Call("POST", "/backend/matrix/storage/"+env+"/details", map[string]any{"resourceName": fmt.Sprintf("r%02d", i)}))
		fmt.Fprintf(&b, "%s\n", r.Raw)
	}
	return b.String()
}

// copyFiles copies the named files of one data directory into another.
func copyFiles(t *testing.T, from, to string, names ...string) {
	t.Helper()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(from, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreDamageMatrix runs the binary on a data directory damaged in
// each way of the corruption matrix (internal/boltdamage): every start is
// a clear refusal (exit status 1, the file and the ways out named, no
// panic) or a start that serves everything the store held. The matrix
// is printed; `go test -run TestStoreDamageMatrix -v ./e2e` shows it.
func TestStoreDamageMatrix(t *testing.T) {
	t.Parallel()
	const resources = 20
	s := testserver.Start(t)
	for i := range resources {
		env := matrixEnvs[i%len(matrixEnvs)]
		r := testserver.MustOK(t, s.Call("POST", "/backend/matrix/storage", storageBody(env, fmt.Sprintf("r%02d", i), fmt.Sprintf("amplify-e2e-matrix-%02d", i), []string{"READ"}, nil)))
		if j := s.WaitJob("matrix", env, r.Str("jobId")); j.Str("status") != "COMPLETED" {
			t.Fatalf("create %d: %s", i, j.Raw)
		}
	}
	// Imports of missing buckets fail at once: many jobs, cheaply, so
	// the jobs tree has branch pages.
	for i := range 300 {
		testserver.MustOK(t, s.Call("POST", "/backend/matrix/storage/dev/import", map[string]any{"bucketName": fmt.Sprintf("missing-%03d", i), "serviceName": "S3"}))
	}
	matrixSnapshot(t, s, resources) // every job settled
	s.Stop()
	dir := t.TempDir()
	older := filepath.Join(dir, "older.db")
	copyFiles(t, s.DataDir, dir, storeFile)
	if err := os.Rename(filepath.Join(dir, storeFile), older); err != nil {
		t.Fatal(err)
	}
	// One more commit makes the copy above an older one.
	s.Restart()
	r := testserver.MustOK(t, s.Call("POST", "/backend/matrix/storage/dev/import", map[string]any{"bucketName": "missing-last", "serviceName": "S3"}))
	s.WaitJob("matrix", "dev", r.Str("jobId"))
	want := matrixSnapshot(t, s, resources)
	s.Stop()

	o := testserver.Start(t)
	o.Stop()
	other := filepath.Join(o.DataDir, storeFile)
	pristine := filepath.Join(s.DataDir, storeFile)
	layout, err := boltdamage.ReadLayout(pristine, "jobs", "by-env")
	if err != nil {
		t.Fatal(err)
	}

	cases := boltdamage.Cases(other, older)
	rows := make([]string, len(cases))
	var refused, started, crashed int
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			caseDir := t.TempDir()
			copyFiles(t, s.DataDir, caseDir, "credentials", "config")
			path := filepath.Join(caseDir, storeFile)
			if err := boltdamage.Write(c, layout, pristine, store.IdentityPath(pristine), path, store.IdentityPath(path)); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			srv, err := testserver.TryStart(t, "--data-dir", caseDir)
			got := "start"
			if err != nil {
				got = "refuse"
				refused++
				msg := err.Error()
				for _, must := range []string{"exit status 1", path, "Ways out", "amplifybackendd restore --data-dir " + caseDir, "--accept-store-loss"} {
					if !strings.Contains(msg, must) {
						t.Errorf("the refusal does not say %q:\n%s", must, msg)
					}
				}
				for _, mustNot := range []string{"panic:", "goroutine ", "SIGBUS", "SIGSEGV", "signal:"} {
					if strings.Contains(msg, mustNot) {
						crashed++
						t.Errorf("the refusal is a crash (%q):\n%s", mustNot, msg)
					}
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
					t.Error("the refused start changed the store file")
				}
				first, _, _ := strings.Cut(msg[strings.Index(msg, "amplifybackendd: ")+len("amplifybackendd: "):], "\n")
				if first = strings.ReplaceAll(first, caseDir+"/", ""); len(first) > 150 {
					first = first[:150] + "…"
				}
				rows[i] = fmt.Sprintf("| %s | refused: %s |", c.Name, first)
			} else {
				started++
				if have := matrixSnapshot(t, srv, resources); have != want {
					started--
					t.Errorf("started, but serves other data:\n got %s\nwant %s", have, want)
				}
				srv.Stop()
				rows[i] = fmt.Sprintf("| %s | started, every job and resource served as before |", c.Name)
			}
			if c.Want != "" && got != c.Want {
				t.Errorf("got %s, want %s", got, c.Want)
			}
		})
	}
	t.Logf("store damage matrix through the binary: %d cases, %d clear refusals, %d correct starts, %d crashes, %d starts serving other data\n| case | outcome |\n| --- | --- |\n%s",
		len(cases), refused, started, crashed, len(cases)-refused-started, strings.Join(rows, "\n"))
}

// TestBackupRestoreResumesJobs backs up a serving server with
// `amplifybackendd backup` while jobs are held RUNNING and calls keep
// arriving, restores the copy with `amplifybackendd restore` into a new
// data directory, and starts a server there: every job answered before
// the backup is there, and the RUNNING ones resume and complete.
func TestBackupRestoreResumesJobs(t *testing.T) {
	t.Parallel()
	p := testserver.NewStalledPair(t)
	p.Pause()
	held := map[string]string{} // job id -> bucket
	for i := range 3 {
		bucket := fmt.Sprintf("amplify-e2e-backup-%d", i)
		r := testserver.MustOK(t, p.API.Call("POST", "/backend/app/storage", storageBody("dev", fmt.Sprintf("held%d", i), bucket, []string{"READ"}, []string{"READ"})))
		held[r.Str("jobId")] = bucket
	}

	// Imports keep arriving while the backup is taken.
	var mu sync.Mutex
	var answered []string
	stop, started, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r, err := p.API.TryCall("POST", "/backend/app/storage/dev/import", map[string]any{"bucketName": fmt.Sprintf("missing-%04d", i), "serviceName": "S3"})
			if err != nil || r.Status != 200 {
				t.Errorf("import during the backup: %v %s", err, r.Raw)
				return
			}
			mu.Lock()
			answered = append(answered, r.Str("jobId"))
			if len(answered) == 20 {
				close(started)
			}
			mu.Unlock()
		}
	}()
	<-started
	mu.Lock()
	before := append([]string(nil), answered...)
	mu.Unlock()
	backup := filepath.Join(t.TempDir(), "backup.db")
	out, err := testserver.Command("backup", "--endpoint", p.API.API, "--data-dir", p.API.DataDir, backup).CombinedOutput()
	close(stop)
	<-done
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	t.Logf("%s(%d imports answered while it ran)", out, len(answered)-len(before))

	// Not over a store a server has open.
	if out, err := testserver.Command("restore", "--data-dir", p.API.DataDir, backup).CombinedOutput(); err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("restore over a running server: %v\n%s", err, out)
	}
	p.API.Stop()
	dir := t.TempDir()
	if out, err := testserver.Command("restore", "--data-dir", dir, backup).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	} else {
		t.Logf("%s", out)
	}

	p.Resume()
	s := p.StartAPI(t, "--data-dir", dir)
	for id, bucket := range held {
		if j := s.WaitJob("app", "dev", id); j.Str("status") != "COMPLETED" {
			t.Fatalf("held create after restore: %s\n%s", j.Raw, s.Logs)
		}
		if !bucketExists(t, p.GW, bucket) {
			t.Errorf("bucket %s missing after the restored create completed", bucket)
		}
	}
	for _, id := range before {
		if j := s.WaitJob("app", "dev", id); j.Str("status") != "FAILED" || !strings.Contains(j.Str("error"), "does not exist") {
			t.Fatalf("import answered before the backup: %s", j.Raw)
		}
	}
	settledJobs(t, s, "app", "dev")
}
