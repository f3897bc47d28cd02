package handlers

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/metrics"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// benchServer is the real router over a real store holding one resource
// and its job; the runner never runs (reads are what is measured).
func benchServer(b testing.TB) (http.Handler, *store.Store, string) { return benchServerWith(b, nil) }

// benchServerWith is benchServer counting into m (nil: no metrics).
func benchServerWith(b testing.TB, m *metrics.Metrics) (http.Handler, *store.Store, string) {
	st, err := store.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	h, id := serverOn(b, st, m)
	return h, st, id
}

// serverOn is the handlers over st, whose runner accepts jobs and runs
// none, with one job accepted: a resource "data" in environment "dev" of
// app "app", whose id it returns.
func serverOn(b testing.TB, st *store.Store, m *metrics.Metrics) (http.Handler, string) {
	runner := idleRunner(st)
	j, err := runner.Create(context.Background(), jobs.CreateInput{Key: store.ResourceKey{AppID: "app", Env: "dev", Name: "data"},
		Bucket: "bench-bucket", Permissions: store.Permissions{Authenticated: []string{"READ"}}})
	if err != nil {
		b.Fatal(err)
	}
	return handlersWith(st, runner, m), j.ID
}

// idleRunner accepts jobs into st and runs none.
func idleRunner(st *store.Store) *jobs.Runner {
	return jobs.New(st, nil, jobs.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// handlersWith is the handlers over st and runner, signed calls made
// with fuzzCreds.
func handlersWith(st *store.Store, runner *jobs.Runner, m *metrics.Metrics) http.Handler {
	return New(Config{Store: st, Runner: runner, Buckets: noBuckets{}, Keys: caller.StaticKeys{fuzzCreds.AccessKeyID: fuzzCreds.SecretAccessKey},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m})
}

func signedRequest(b testing.TB, method, path string, body []byte) *http.Request {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	signAs(b, req, body, fuzzCreds, "us-east-1", time.Now())
	return req
}

// signedCall serves one signed request through h and returns its status
// and body.
func signedCall(t testing.TB, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(t, method, path, []byte(body)))
	return w.Code, w.Body.String()
}

func benchRoute(b *testing.B, h http.Handler, tmpl *http.Request, body []byte) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := tmpl.Clone(context.Background())
			r.Body = io.NopCloser(bytes.NewReader(body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}

func BenchmarkHealthz(b *testing.B) {
	h, _, _ := benchServer(b)
	benchRoute(b, h, httptest.NewRequest("GET", "/healthz", nil), nil)
}

func BenchmarkGetBackendStorage(b *testing.B) {
	h, _, _ := benchServer(b)
	body := []byte(`{"resourceName":"data"}`)
	benchRoute(b, h, signedRequest(b, "POST", "/backend/app/storage/dev/details", body), body)
}

// BenchmarkGetBackendStorageCounted is BenchmarkGetBackendStorage with
// the metrics on, as with --metrics-listen: what counting a request costs.
func BenchmarkGetBackendStorageCounted(b *testing.B) {
	h, _, _ := benchServerWith(b, metrics.New())
	body := []byte(`{"resourceName":"data"}`)
	benchRoute(b, h, signedRequest(b, "POST", "/backend/app/storage/dev/details", body), body)
}

func BenchmarkGetBackendJob(b *testing.B) {
	h, _, id := benchServer(b)
	benchRoute(b, h, signedRequest(b, "GET", "/backend/app/job/dev/"+id, nil), nil)
}

// BenchmarkCreateBackendStorage accepts creates through the real router and
// store (durable group commits), each with its own signed request.
func BenchmarkCreateBackendStorage(b *testing.B) {
	h, _, _ := benchServer(b)
	reqs := make([]*http.Request, b.N)
	bodies := make([][]byte, b.N)
	for i := range reqs {
		bodies[i] = []byte(`{"backendEnvironmentName":"e` + strconv.Itoa(i) + `","resourceName":"data","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"],"unAuthenticated":["READ"]}}}`)
		reqs[i] = signedRequest(b, "POST", "/backend/app/storage", bodies[i])
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			r := reqs[i]
			r.Body = io.NopCloser(bytes.NewReader(bodies[i]))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}
