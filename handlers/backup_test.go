package handlers

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// storeTestServer is the router over a store holding 400 jobs of app
// "app", environment "dev"; it logs into the returned buffer.
// (slog's handler serialises the writes; the test reads after them.)
func storeTestServer(t *testing.T) (http.Handler, *store.Store, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	st, err := store.OpenWith(filepath.Join(t.TempDir(), "store.db"), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	err = st.Update(context.Background(), func(tx *store.Tx) error {
		for i := range 400 {
			j := store.Job{ID: fmt.Sprintf("job-%04d", i), AppID: "app", Env: "dev", Resource: "r", Operation: store.OpUpdate,
				Status: store.StatusCompleted, CreateTime: now, UpdateTime: now}
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Store: st, Buckets: noBuckets{}, Keys: caller.StaticKeys{fuzzCreds.AccessKeyID: fuzzCreds.SecretAccessKey}, Logger: log}), st, logs
}

// TestBackupRoute: a signed GET streams a store file that verifies and
// holds the jobs; an unsigned one is refused.
func TestBackupRoute(t *testing.T) {
	t.Parallel()
	h, _, _ := storeTestServer(t)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(t, http.MethodGet, "/admin-api/backup", nil))
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/octet-stream" || w.Header().Get("x-amzn-RequestId") == "" {
		t.Fatalf("backup answer %d %v", w.Code, w.Header())
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, w.Body.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := store.Verify(path)
	if err != nil || sum.Jobs != 400 {
		t.Fatalf("backup: %+v, %v", sum, err)
	}

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/admin-api/backup", nil))
	if w.Code != http.StatusForbidden || strings.Contains(w.Header().Get("Content-Type"), "octet") {
		t.Fatalf("unsigned backup: %d %v", w.Code, w.Header())
	}
}

// damagePages marks every page past the meta pages of the store file at
// path as of an unknown type, under the serving process, as a failing disk
// could: every read that reaches one meets damage.
func damagePages(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int(binary.NativeEndian.Uint32(raw[16+8:]))
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for off := 2 * pageSize; off < len(raw); off += pageSize {
		if _, err := f.WriteAt([]byte{0xff, 0xff}, int64(off+8)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDamagedStoreAnswersInternalFailure: reads that meet a damaged store
// get the AWS-shaped 500 InternalFailure, with no internal text, and the
// log says loudly which file is damaged; the server keeps answering.
func TestDamagedStoreAnswersInternalFailure(t *testing.T) {
	t.Parallel()
	h, st, logs := storeTestServer(t)
	damagePages(t, st.Path())
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, signedRequest(t, http.MethodPost, "/backend/app/job/dev", []byte(`{}`)))
		var body errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 500 || body.Type != InternalFailure ||
			w.Header().Get("X-Amzn-ErrorType") != InternalFailure || w.Header().Get("x-amzn-RequestId") == "" {
			t.Fatalf("ListBackendJobs on a damaged store: %d %v %s", w.Code, w.Header(), w.Body)
		}
		if strings.Contains(body.Message, "damaged") || strings.Contains(body.Message, st.Path()) {
			t.Fatalf("internal text in the answer: %s", w.Body)
		}
	}
	if l := logs.String(); !strings.Contains(l, "STORE DAMAGED") || !strings.Contains(l, st.Path()) {
		t.Fatalf("no loud log line naming the file:\n%s", l)
	}
}

// TestBackupOfEtcdStore: a store kept in etcd has no file to copy; the
// backup route says so, and what backs it up instead, as a 400.
func TestBackupOfEtcdStore(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1)
	st, err := store.OpenEtcd(context.Background(), store.EtcdOptions{Endpoints: cluster.Endpoints()}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := New(Config{Store: st, Buckets: noBuckets{}, Keys: caller.StaticKeys{fuzzCreds.AccessKeyID: fuzzCreds.SecretAccessKey}})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(t, http.MethodGet, "/admin-api/backup", nil))
	if w.Code != 400 || w.Header().Get("X-Amzn-ErrorType") != "BadRequestException" || !strings.Contains(w.Body.String(), "etcdctl snapshot save") {
		t.Fatalf("backup of an etcd store: %d %v %s", w.Code, w.Header(), w.Body)
	}
}
