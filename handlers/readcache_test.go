package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// TestCachedReadsFollowWrites reads a resource and a job, changes both
// behind the handlers' back, and reads again: a kept answer must not
// outlive the write it predates.
func TestCachedReadsFollowWrites(t *testing.T) {
	h, st, jobID := benchServer(t)
	get := func(method, path, body string) string {
		t.Helper()
		code, answer := signedCall(t, h, method, path, body)
		if code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, code, answer)
		}
		return answer
	}
	storage := func() string {
		return get("POST", "/backend/app/storage/dev/details", `{"resourceName":"data"}`)
	}
	job := func() string { return get("GET", "/backend/app/job/dev/"+jobID, "") }

	first, firstJob := storage(), job()
	if again := storage(); again != first {
		t.Fatalf("same read, different answers:\n%s\n%s", first, again)
	}
	if !strings.Contains(first, `"authenticated":["READ"]`) {
		t.Fatalf("first answer %s", first)
	}
	if !strings.Contains(firstJob, `"status":"RUNNING"`) {
		t.Fatalf("job answer %s", firstJob)
	}

	grantDelete(t, st)
	if got := storage(); !strings.Contains(got, `"DELETE"`) {
		t.Fatalf("answer after a batched write still the old one:\n%s", got)
	}
	if got := job(); got != firstJob {
		t.Fatalf("job changed by a write to its resource:\n%s\n%s", firstJob, got)
	}

	err := st.Update(context.Background(), func(tx *store.Tx) error {
		j, err := tx.Job(jobID)
		if err != nil {
			return err
		}
		j.Status = store.StatusCompleted
		return tx.PutJob(j)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := job(); !strings.Contains(got, `"status":"COMPLETED"`) {
		t.Fatalf("answer after an update still the old one:\n%s", got)
	}
}

// grantDelete adds DELETE to what authenticated users may do with
// resource "data" of serverOn, in st, behind the handlers' back.
func grantDelete(t *testing.T, st *store.Store) {
	t.Helper()
	k := store.ResourceKey{AppID: "app", Env: "dev", Name: "data"}
	err := st.Batch(context.Background(), func(tx *store.Tx) error {
		r, err := tx.Resource(k)
		if err != nil {
			return err
		}
		r.Desired.Authenticated = []string{"READ", "DELETE"}
		return tx.PutResource(r)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCachedReadsStayBounded fills the cache past its bound.
func TestCachedReadsStayBounded(t *testing.T) {
	var c readCache
	for i := range maxCachedReads + 100 {
		c.put(readKey{op: "x", name: strconv.Itoa(i)}, 1, nil)
	}
	if n := len(c.answers); n > maxCachedReads {
		t.Fatalf("%d answers kept, bound %d", n, maxCachedReads)
	}
	c.put(readKey{op: "y"}, 7, []byte("body"))
	if b, ok := c.get(readKey{op: "y"}, 7); !ok || string(b) != "body" {
		t.Fatalf("get after put: %q %v", b, ok)
	}
	if _, ok := c.get(readKey{op: "y"}, 8); ok {
		t.Fatal("an answer from an older generation was served")
	}
}

// TestCachedReadsFollowOtherReplicas: two replicas share a store on etcd.
// A read answered by replica B, and kept by it, is answered anew once a
// write made through replica A reaches B: B's cache follows the store,
// not only its own writes.
func TestCachedReadsFollowOtherReplicas(t *testing.T) {
	t.Parallel()
	endpoints := etcdtest.Start(t, 1).Endpoints()
	a := openEtcdStore(t, endpoints, 0)
	serverOn(t, a, nil) // accepts the job that creates the resource read
	b := openEtcdStore(t, endpoints, 0)
	hb := handlersWith(b, idleRunner(b), nil)
	read := func() string {
		t.Helper()
		code, answer := signedCall(t, hb, "POST", "/backend/app/storage/dev/details", `{"resourceName":"data"}`)
		if code != http.StatusOK {
			t.Fatalf("read through replica B: %d %s", code, answer)
		}
		return answer
	}
	// B follows A's writes before its answers are kept for long.
	etcdtest.WaitFor(t, "replica B to follow the store", func() bool { g := b.Generation(); return b.Generation() == g })
	first := read()
	if again := read(); again != first || strings.Contains(first, `"DELETE"`) {
		t.Fatalf("answers before the write:\n%s\n%s", first, again)
	}

	seen := b.Generation()
	grantDelete(t, a)
	etcdtest.WaitFor(t, "replica A's write to reach replica B", func() bool { return b.Generation() != seen })
	if got := read(); !strings.Contains(got, `"DELETE"`) {
		t.Fatalf("replica B's answer after replica A's write is still the old one:\n%s", got)
	}
}
