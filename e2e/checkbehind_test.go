package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/boltdamage"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// TestStoreCheckedBehindTheOpening runs the binary with the store check
// behind the opening (--check-store background, what the default does past
// 32 MiB) on an intact store and on stores damaged where only the full
// check looks: a freelist that would hand out pages in use, and a record's
// value. The intact one takes writes once checked. A damaged one serves,
// then says so: /readyz answers 503 naming the damage, a create is a 500
// InternalFailure, the log says STORE DAMAGED, and the file is not written.
func TestStoreCheckedBehindTheOpening(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	// Imports of missing buckets fail at once: many jobs, cheaply, so the
	// jobs tree has branch pages for the damage to find.
	r := testserver.MustOK(t, s.Call("POST", "/backend/behind/storage", storageBody("dev", "data", "amplify-e2e-behind", []string{"READ"}, nil)))
	s.WaitJob("behind", "dev", r.Str("jobId"))
	for i := range 300 {
		testserver.MustOK(t, s.Call("POST", "/backend/behind/storage/dev/import", map[string]any{"bucketName": fmt.Sprintf("missing-%03d", i), "serviceName": "S3"}))
	}
	settledJobs(t, s, "behind", "dev")
	s.Stop()
	pristine := filepath.Join(s.DataDir, storeFile)
	layout, err := boltdamage.ReadLayout(pristine, "jobs", "by-env")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]boltdamage.Case{}
	for _, c := range boltdamage.Cases("", "") {
		cases[c.Name] = c
	}
	for _, name := range []string{"intact", "flip the freelist page", "flip a leaf value byte"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyFiles(t, s.DataDir, dir, "credentials", "config")
			path := filepath.Join(dir, storeFile)
			if name == "intact" {
				copyFiles(t, s.DataDir, dir, storeFile, filepath.Base(store.IdentityPath(pristine)))
			} else if err := boltdamage.Write(cases[name], layout, pristine, store.IdentityPath(pristine), path, store.IdentityPath(path)); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			srv := testserver.StartUnready(t, nil, "--data-dir", dir, "--check-store", "background")
			testserver.MustOK(t, srv.Call("POST", "/backend/behind/storage/dev/details", map[string]any{"resourceName": "data"}))
			reason := checkedReason(t, srv)
			create := srv.Call("POST", "/backend/behind/storage", storageBody("dev", "more", "amplify-e2e-behind-more", []string{"READ"}, nil))
			if name == "intact" {
				if reason != "" {
					t.Fatalf("an intact store, once checked: /readyz says %q", reason)
				}
				testserver.MustOK(t, create)
				return
			}
			if !strings.Contains(reason, "damaged") || !strings.Contains(reason, path) {
				t.Errorf("/readyz after the check found damage: %q, want it named with the file", reason)
			}
			testserver.WantError(t, create, http.StatusInternalServerError, "InternalFailure", "")
			srv.Stop()
			if !strings.Contains(srv.Logs.String(), "STORE DAMAGED") {
				t.Errorf("the log does not say STORE DAMAGED:\n%s", srv.Logs)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("the damaged store file was written")
			}
		})
	}
}

// checkedReason polls /readyz until the store check is over and the target
// answers, and returns why the server is not ready ("" when it is).
func checkedReason(t *testing.T, s *testserver.Server) string {
	t.Helper()
	for {
		reason, err := s.NotReadyBecause()
		if err != nil {
			t.Fatal(err)
		}
		// The embedded target may come up after the check: its reason
		// comes after the store's, so it is waited out too.
		if !strings.Contains(reason, "recovered") && !strings.Contains(reason, "being checked") && !strings.HasPrefix(reason, "the target") {
			return reason
		}
		// A condition polled, as a load balancer would.
		time.Sleep(10 * time.Millisecond)
	}
}
