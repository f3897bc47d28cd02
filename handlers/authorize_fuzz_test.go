package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// fences say, for the keys of authKeys, where a call signed by the key may
// change the store at all, by the app and environment of what changed
// (environment "" for a record of the app itself). They are written by hand
// from the keys' policies, not asked of the access package.
var fences = []struct {
	key   string
	may   func(app, env string) bool
	about string
}{
	{keyApp1Read, func(app, env string) bool { return false }, "reads only"},
	{keyApp1DevOnly, func(app, env string) bool { return app == "app1" && env == "dev" }, "app1/dev only"},
	{keyApp1NoProd, func(app, env string) bool { return app == "app1" && env != "prod" }, "app1 but prod"},
	{keyNotApp2, func(app, env string) bool { return app != "app2" }, "anything but app2"},
	{keyNoPolicy, func(app, env string) bool { return false }, "nothing"},
}

// storeEntries lists what a call can change in the store, each record by
// its app, environment, kind and name, as JSON: every app and environment
// with jobs, their jobs, resources and environment records, and the apps'
// own records.
func storeEntries(t testing.TB, st *store.Store) map[[4]string]string {
	t.Helper()
	out := map[[4]string]string{}
	put := func(app, env, kind, name string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[[4]string{app, env, kind, name}] = string(b)
	}
	err := st.View(context.Background(), func(tx *store.Tx) error {
		scopes, err := tx.Scopes()
		if err != nil {
			return err
		}
		for _, sc := range scopes {
			jobs, _, err := tx.Jobs(sc.AppID, sc.Env, nil, 1<<20, nil)
			if err != nil {
				return err
			}
			for _, j := range jobs {
				put(sc.AppID, sc.Env, "job", j.ID, j)
			}
			resources, err := tx.Resources(sc.AppID, sc.Env)
			if err != nil {
				return err
			}
			for _, r := range resources {
				put(sc.AppID, sc.Env, "resource", r.Name, r)
			}
			envs, err := tx.Environments(sc.AppID)
			if err != nil {
				return err
			}
			for _, e := range envs {
				put(sc.AppID, e.Env, "environment", "", e)
			}
			if a, ok, err := tx.App(sc.AppID); err != nil {
				return err
			} else if ok {
				put(sc.AppID, "", "app", "", a)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// scopedBodies and scopedPlaces are the bodies (those whose fields name
// what a call touches) and the apps and environments, inside and outside
// the fences, that the table test tries on every route and the fuzzer
// starts from.
var (
	scopedBodies = []string{`{}`,
		`{"backendEnvironmentName":"dev","resourceName":"r","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}}`,
		`{"backendEnvironmentName":"prod","resourceName":"r","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["DELETE"]}}}`,
		`{"appId":"app2","appName":"a","backendEnvironmentName":"dev"}`, `{"targetEnvironmentName":"prod"}`,
		`{"resourceName":"photos","serviceName":"S3","bucketName":"app1-dev-photos","status":"CANCELLED","cleanAmplifyApp":true}`,
	}
	scopedPlaces = [][2]string{{"app1", "dev"}, {"app1", "prod"}, {"app2", "dev"}}
)

// fencedKeys are the indexes in fences of the keys allowed something: the
// others are refused every call, which the table tests above check.
func fencedKeys() []int {
	var out []int
	for i, f := range fences {
		if f.key != keyApp1Read && f.key != keyNoPolicy {
			out = append(out, i)
		}
	}
	return out
}

// callInFence makes the call and checks it: a refusal is an
// AccessDeniedException naming the key and the operation and writes
// nothing to the store; whatever the answer, nothing outside the key's
// fence changes.
func callInFence(t *testing.T, s *authServer, r Route, key int, app, env string, body []byte) {
	t.Helper()
	fence := fences[key]
	path := strings.NewReplacer(":appId", url.PathEscape(app), ":backendEnvironmentName", url.PathEscape(env),
		":jobId", "j-"+url.PathEscape(app)+"-"+url.PathEscape(env), ":sessionId", "s", ":resourceName", "photos").Replace(r.Path)
	before, writes := storeEntries(t, s.st), s.st.Generation()
	w := s.call(t, fence.key, r.Method, path, string(body))
	if w.Header().Get("X-Amzn-ErrorType") == AccessDenied {
		var doc map[string]string
		_ = json.Unmarshal(w.Body.Bytes(), &doc)
		prefix := "User: " + fence.key + " is not authorized to perform: amplifybackend:" + r.Operation + " on resource: "
		if w.Code != http.StatusForbidden || !strings.HasPrefix(doc["message"], prefix) {
			t.Fatalf("%s %s by %s: %d %s, want 403 with a message starting %q", r.Method, path, fence.about, w.Code, w.Body, prefix)
		}
		if s.st.Generation() != writes {
			t.Fatalf("%s %s %q by %s: refused, but the store was written", r.Method, path, body, fence.about)
		}
	}
	after := storeEntries(t, s.st)
	for k, v := range after {
		if before[k] != v && !fence.may(k[0], k[1]) {
			t.Fatalf("%s %s %q by %s (%d %s): changed %s %q of %q/%q", r.Method, path, body, fence.about, w.Code, w.Body, k[2], k[3], k[0], k[1])
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok && !fence.may(k[0], k[1]) {
			t.Fatalf("%s %s %q by %s (%d %s): removed %s %q of %q/%q", r.Method, path, body, fence.about, w.Code, w.Body, k[2], k[3], k[0], k[1])
		}
	}
}

// TestScopedKeysStayInTheirFences makes every served route, on every
// place, with every body (a bodiless route with none), by each key allowed
// something, and checks each call with callInFence.
func TestScopedKeysStayInTheirFences(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	for _, r := range Routes() {
		for _, k := range fencedKeys() {
			for _, p := range scopedPlaces {
				for _, body := range scopedBodies {
					callInFence(t, s, r, k, p[0], p[1], []byte(body))
					if r.Method == http.MethodGet {
						break
					}
				}
			}
		}
	}
}

// FuzzScopedKeys is TestScopedKeysStayInTheirFences for any route, key,
// app, environment and body. Its seeds are one call per route and key
// (few, so that fuzzing starts within test.sh's bounded time).
func FuzzScopedKeys(f *testing.F) {
	routes := Routes()
	for i := range routes {
		for j, k := range fencedKeys() {
			p := scopedPlaces[(i+j)%len(scopedPlaces)]
			f.Add(uint8(i), uint8(k), p[0], p[1], []byte(scopedBodies[(i+j)%len(scopedBodies)]))
		}
	}
	s := newAuthServer(f)
	f.Fuzz(func(t *testing.T, route, key uint8, app, env string, body []byte) {
		callInFence(t, s, routes[int(route)%len(routes)], int(key)%len(fences), app, env, body)
	})
}
