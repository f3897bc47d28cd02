package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/metrics"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// testKeys are API keys with policies, as the key files give them.
type testKeys map[string]caller.Key

func (k testKeys) Lookup(_ context.Context, id string) (caller.Key, bool, error) {
	v, ok := k[id]
	return v, ok, nil
}

// The keys of the authorization tests.
const (
	keyAdmin       = "AKIAADMIN00000000000"
	keyApp1Read    = "AKIAAPP1READ00000000"
	keyApp1DevOnly = "AKIAAPP1DEVSTORAGE00"
	keyApp1NoProd  = "AKIAAPP1NOPROD000000"
	keyNotApp2     = "AKIANOTAPP200000000"
	// keyApp1Importer may do anything in app1 and import the buckets
	// named app1-*.
	keyApp1Importer = "AKIAAPP1IMPORTER0000"
	keySession      = "ASIAAPP1SESSION00000"
	// keyNoPolicy's key carries no policy, which allows nothing.
	keyNoPolicy = "AKIANOPOLICY00000000"
)

// authScope is the test server's: an account other than the default, so
// a test sees the flag's value reach the ARNs.
var authScope = access.Scope{Region: "us-east-1", Account: "111122223333"}

func authKeys() testKeys {
	doc := func(d string) *access.Policy { return access.MustParse([]byte(d)) }
	key := func(name string, p *access.Policy) caller.Key {
		return caller.Key{Secret: "secret-" + name, Name: name, Policy: p}
	}
	k := testKeys{
		keyAdmin:       key("default", access.Administrator),
		keyApp1Read:    key("app1-read", access.MustParse(access.AppDocument("app1", true))),
		keyApp1DevOnly: key("app1-dev", access.MustParse(access.EnvironmentStorageDocument("app1", "dev"))),
		keyApp1NoProd: key("app1-not-prod", doc(`{"Version":"2012-10-17","Statement":[
			{"Sid":"App1","Effect":"Allow","Action":"amplifybackend:*","Resource":"arn:aws:amplifybackend:*:*:/backend/app1/*"},
			{"Sid":"KeepProd","Effect":"Deny","Action":"amplifybackend:*","Resource":"arn:aws:amplifybackend:*:*:/backend/app1/environments/prod"}]}`)),
		keyApp1Importer: key("app1-importer", doc(`{"Version":"2012-10-17","Statement":[
			{"Sid":"App1","Effect":"Allow","Action":"amplifybackend:*","Resource":"arn:aws:amplifybackend:*:*:/backend/app1/*"},
			{"Sid":"App1Buckets","Effect":"Allow","Action":"amplifybackend:ImportBackendStorage","Resource":"arn:aws:s3:::app1-*"}]}`)),
		keyNotApp2: key("not-app2", doc(`{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"*","Resource":"*"},
			{"Sid":"NotApp2","Effect":"Deny","Action":"amplifybackend:*","Resource":"arn:aws:amplifybackend:*:*:/backend/app2/*"}]}`)),
	}
	session := key("session:app1:0123abcd", access.MustParse(access.AppDocument("app1", false)).Within(access.Administrator))
	session.Expires = sigTestNow.Add(time.Hour)
	k[keySession] = session
	k[keyNoPolicy] = key("no-policy", nil)
	return k
}

// authServer is the real router over a real store holding, in apps app1
// (environments dev and prod) and app2 (dev), a resource "photos" with
// bucket <app>-<env>-photos and its completed job "j-<app>-<env>". The
// target lists those buckets and one no resource owns. The runner never
// runs: a job a call starts stays in the store, where the tests look.
type authServer struct {
	h  http.Handler
	st *store.Store
	m  *metrics.Metrics
	// log is the server's log; requests are served on the test's
	// goroutine, so it needs no lock.
	log *bytes.Buffer
}

func newAuthServer(t testing.TB) *authServer {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var buckets []s3iam.Bucket
	err = st.Update(context.Background(), func(tx *store.Tx) error {
		for i, sc := range []store.Scope{{AppID: "app1", Env: "dev"}, {AppID: "app1", Env: "prod"}, {AppID: "app2", Env: "dev"}} {
			when := at.Add(time.Duration(i) * time.Minute)
			bucket := sc.AppID + "-" + sc.Env + "-photos"
			buckets = append(buckets, s3iam.Bucket{Name: bucket, CreationDate: when})
			if err := tx.InsertJob(store.Job{ID: "j-" + sc.AppID + "-" + sc.Env, AppID: sc.AppID, Env: sc.Env, Resource: "photos",
				Operation: store.OpCreate, Status: store.StatusCompleted, CreateTime: when, UpdateTime: when}); err != nil {
				return err
			}
			if err := tx.CreateResource(store.Resource{ResourceKey: store.ResourceKey{AppID: sc.AppID, Env: sc.Env, Name: "photos"},
				Bucket: bucket, Desired: store.Permissions{Authenticated: []string{"READ"}}, Phase: store.PhaseActive,
				CreateTime: when, UpdateTime: when}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	buckets = append(buckets, s3iam.Bucket{Name: "unowned-bucket", CreationDate: at})
	s := &authServer{st: st, m: metrics.New(), log: &bytes.Buffer{}}
	s.h = New(Config{
		Store: st, Runner: jobs.New(st, nil, jobs.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		Buckets: fakeBuckets{buckets: buckets}, Keys: authKeys(), Region: "us-east-1", Scope: authScope,
		Now: func() time.Time { return sigTestNow }, Logger: slog.New(slog.NewTextHandler(s.log, nil)), Metrics: s.m,
	})
	return s
}

// call sends a request signed with key.
func (s *authServer) call(t testing.TB, key, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, strings.NewReader(body))
	signAs(t, r, []byte(body), aws.Credentials{AccessKeyID: key, SecretAccessKey: authKeys()[key].Secret}, "us-east-1", sigTestNow)
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	return w
}

// snapshot is the whole store file: any write, a job started included,
// changes it.
func (s *authServer) snapshot(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := s.st.Backup(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// deniedMessage is the AccessDeniedException message AWS gives.
func deniedMessage(key, op, resource string, explicit bool) string {
	m := "User: " + key + " is not authorized to perform: amplifybackend:" + op + " on resource: " + resource
	if explicit {
		m += " with an explicit deny in an identity-based policy"
	}
	return m
}

// wantDenied checks w is the AccessDeniedException with message msg.
func wantDenied(t *testing.T, what string, w *httptest.ResponseRecorder, msg string) {
	t.Helper()
	var doc map[string]string
	_ = json.Unmarshal(w.Body.Bytes(), &doc)
	if w.Code != http.StatusForbidden || w.Header().Get("X-Amzn-ErrorType") != AccessDenied ||
		doc["__type"] != AccessDenied || doc["message"] != msg || len(doc) != 2 {
		t.Errorf("%s: %d %s %s\nwant 403 AccessDeniedException %q", what, w.Code, w.Header().Get("X-Amzn-ErrorType"), w.Body, msg)
	}
}

// routeCall is a concrete request for a route, on app2's environment dev.
type routeCall struct {
	op, method, path, body string
	// resource is the ARN the call is authorized on (the first one, when
	// it touches several), written out here rather than taken from the
	// table under test.
	resource string
}

func app2Calls() []routeCall {
	bodies := map[string]string{
		"CreateBackendStorage": `{"backendEnvironmentName":"dev","resourceName":"fresh","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}}`,
		"ImportBackendStorage": `{"bucketName":"unowned-bucket","serviceName":"S3"}`,
		"GetBackendStorage":    `{"resourceName":"photos"}`,
		"UpdateBackendStorage": `{"resourceName":"photos","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ","DELETE"]}}}`,
		"DeleteBackendStorage": `{"resourceName":"photos","serviceName":"S3"}`,
		"UpdateBackendJob":     `{"status":"CANCELLED"}`,
		"GetBackend":           `{}`,
		"CreateBackend":        `{"appId":"app2","appName":"app2","backendEnvironmentName":"dev"}`,
		"CloneBackend":         `{"targetEnvironmentName":"prod"}`,
		"RemoveAllBackends":    `{"cleanAmplifyApp":false}`,
	}
	path := strings.NewReplacer(":appId", "app2", ":backendEnvironmentName", "dev", ":jobId", "j-app2-dev",
		":resourceName", "photos", ":sessionId", "sess1")
	var out []routeCall
	for _, r := range append(Routes(), UnsupportedRoutes()...) {
		c := routeCall{op: r.Operation, method: r.Method, path: path.Replace(r.Path), body: bodies[r.Operation]}
		switch {
		case r.Operation == "ListS3Buckets" || r.Operation == "ListConsoleApps" || r.Operation == "GetConsoleCaller":
			continue // filtered or unchecked: never refused
		case r.Operation == "GetConsoleSystem" || r.Operation == "BackupStore":
			c.resource = access.AnyResource
		case r.Operation == "GetBackendJob" || r.Operation == "UpdateBackendJob":
			c.resource = authScope.Job("app2", "dev", "j-app2-dev")
		case r.Operation == "GetToken" || r.Operation == "DeleteToken":
			c.resource = authScope.Token("app2", "sess1")
		case r.Operation == "CreateBackendStorage" || r.Operation == "CreateBackend" || strings.Contains(r.Path, ":backendEnvironmentName"):
			c.resource = authScope.Environment("app2", "dev")
		default: // GetBackend without an environment, CreateToken, RemoveAllBackends, the app-level unsupported ones
			c.resource = authScope.App("app2")
		}
		out = append(out, c)
	}
	return out
}

// TestEveryRouteRefusesWhatThePolicyDoesNotAllow: for every signed route
// of an operation, a key whose policy does not allow the call (no
// statement allows it; a Deny refuses it) gets 403 AccessDeniedException
// with AWS's message naming the key, the action and the resource; the
// store is byte for byte as it was (no record changed, no job started),
// the refusal is counted by operation and logged. An administrator's
// same calls are not refused.
func TestEveryRouteRefusesWhatThePolicyDoesNotAllow(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	before := s.snapshot(t)
	calls := app2Calls()
	for _, c := range calls {
		wantDenied(t, c.op+" by app1's read-only key", s.call(t, keyApp1Read, c.method, c.path, c.body),
			deniedMessage(keyApp1Read, c.op, c.resource, false))
		wantDenied(t, c.op+" by a key without a policy", s.call(t, keyNoPolicy, c.method, c.path, c.body),
			deniedMessage(keyNoPolicy, c.op, c.resource, false))
		if c.resource != access.AnyResource {
			wantDenied(t, c.op+" by a key denied app2", s.call(t, keyNotApp2, c.method, c.path, c.body),
				deniedMessage(keyNotApp2, c.op, c.resource, true))
		}
	}
	if !bytes.Equal(before, s.snapshot(t)) {
		t.Fatal("refused calls changed the store")
	}
	families, err := s.m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]float64{}
	for _, f := range families {
		if f.GetName() == "amplifybackendd_api_access_denied_total" {
			for _, m := range f.GetMetric() {
				counted[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	for _, c := range calls {
		want := 3.0
		if c.resource == access.AnyResource {
			want = 2
		}
		if counted[c.op] != want {
			t.Errorf("amplifybackendd_api_access_denied_total{operation=%q} = %v, want %v", c.op, counted[c.op], want)
		}
	}
	wantLog := "access_denied=\"amplifybackend:GetBackendStorage on " + authScope.Environment("app2", "dev") + "\""
	if !strings.Contains(s.log.String(), wantLog) {
		t.Errorf("the request log does not carry %s:\n%.2000s", wantLog, s.log.String())
	}
	for _, c := range calls {
		if w := s.call(t, keyAdmin, c.method, c.path, c.body); w.Code == http.StatusForbidden {
			t.Errorf("%s by the administrator: %d %s", c.op, w.Code, w.Body)
		}
	}
	if bytes.Equal(before, s.snapshot(t)) {
		t.Fatal("the administrator's calls changed nothing: the calls above would have been harmless anyway")
	}
}

// TestExplicitDenyBeatsAllow: a key allowed everything in app1 but denied
// its prod environment may act in dev, and is refused, with the explicit
// wording, whatever touches prod: a call on it, a clone into it (the
// target environment is in the body), and removing the whole app, which
// touches every environment the store knows.
func TestExplicitDenyBeatsAllow(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	prod := authScope.Environment("app1", "prod")
	before := s.snapshot(t)
	for _, c := range []routeCall{
		{"GetBackendStorage", "POST", "/backend/app1/storage/prod/details", `{"resourceName":"photos"}`, prod},
		{"CreateBackendStorage", "POST", "/backend/app1/storage", `{"backendEnvironmentName":"prod","resourceName":"x","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}}`, prod},
		{"GetBackend", "POST", "/backend/app1/details", `{"backendEnvironmentName":"prod"}`, prod},
		{"CloneBackend", "POST", "/backend/app1/environments/dev/clone", `{"targetEnvironmentName":"prod"}`, prod},
		{"RemoveAllBackends", "POST", "/backend/app1/remove", `{}`, prod},
	} {
		wantDenied(t, c.op, s.call(t, keyApp1NoProd, c.method, c.path, c.body), deniedMessage(keyApp1NoProd, c.op, c.resource, true))
	}
	if !bytes.Equal(before, s.snapshot(t)) {
		t.Fatal("refused calls changed the store")
	}
	if w := s.call(t, keyApp1NoProd, "POST", "/backend/app1/storage/dev/details", `{"resourceName":"photos"}`); w.Code != http.StatusOK {
		t.Fatalf("GetBackendStorage in dev: %d %s", w.Code, w.Body)
	}
	// The unsupported CloneBackend answers 400 once allowed: it got past
	// authorization.
	if w := s.call(t, keyApp1NoProd, "POST", "/backend/app1/environments/dev/clone", `{"targetEnvironmentName":"test"}`); w.Header().Get("X-Amzn-ErrorType") == AccessDenied {
		t.Fatalf("CloneBackend dev to test: %d %s", w.Code, w.Body)
	}
}

// TestRefusedBeforeDecoding: a refused key learns nothing from a request's
// flaws: a malformed body, a missing resource or app, a forged pagination
// token are all answered 403 as any call it may not make, while the
// administrator's same requests get the 400 or 404 they deserve.
func TestRefusedBeforeDecoding(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	env2 := authScope.Environment("app2", "dev")
	for _, c := range []struct {
		routeCall
		adminType string
	}{
		{routeCall{"CreateBackendStorage", "POST", "/backend/app2/storage", `{not json`, authScope.App("app2")}, BadRequest},
		{routeCall{"CreateBackendStorage", "POST", "/backend/app2/storage", `{"backendEnvironmentName":7}`, authScope.App("app2")}, BadRequest},
		{routeCall{"UpdateBackendStorage", "POST", "/backend/app2/storage/dev", `["x"]`, env2}, BadRequest},
		{routeCall{"GetBackendStorage", "POST", "/backend/app2/storage/dev/details", `{"resourceName":"missing"}`, env2}, NotFound},
		{routeCall{"GetBackendStorage", "POST", "/backend/nosuchapp/storage/dev/details", `{"resourceName":"photos"}`, authScope.Environment("nosuchapp", "dev")}, NotFound},
		{routeCall{"GetBackendJob", "GET", "/backend/app2/job/dev/nosuchjob", ``, authScope.Job("app2", "dev", "nosuchjob")}, NotFound},
		{routeCall{"ListBackendJobs", "POST", "/backend/app2/job/dev", `{"nextToken":"forged"}`, env2}, BadRequest},
		{routeCall{"GetBackend", "POST", "/backend/app2/details", `{"backendEnvironmentName":"nosuchenv"}`, authScope.Environment("app2", "nosuchenv")}, NotFound},
		{routeCall{"GetBackendStorage", "POST", "/backend/app2/storage/%2E%2E/details", `{"resourceName":"photos"}`, authScope.Environment("app2", "..")}, BadRequest},
	} {
		before := s.snapshot(t)
		wantDenied(t, c.op+" "+c.path+" "+c.body, s.call(t, keyApp1Read, c.method, c.path, c.body), deniedMessage(keyApp1Read, c.op, c.resource, false))
		if !bytes.Equal(before, s.snapshot(t)) {
			t.Fatalf("%s %s: a refused call changed the store", c.op, c.body)
		}
		if w := s.call(t, keyAdmin, c.method, c.path, c.body); w.Header().Get("X-Amzn-ErrorType") != c.adminType {
			t.Errorf("%s %s %s by the administrator: %d %s, want %s", c.op, c.path, c.body, w.Code, w.Body, c.adminType)
		}
	}
	// A path that matches no operation stays 404 for any verified caller.
	if w := s.call(t, keyApp1Read, "POST", "/backend/app2/nothing/here", `{}`); w.Header().Get("X-Amzn-ErrorType") != UnknownOperation {
		t.Errorf("unknown route: %d %s", w.Code, w.Body)
	}
}

// TestListsAreFiltered: ListS3Buckets and ListConsoleApps answer every key,
// each with only what its policy lets it see.
func TestListsAreFiltered(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	read := []string{"GetBackend", "GetBackendJob", "GetBackendStorage", "GetConsoleStoragePolicies", "ListBackendJobs",
		"ListConsoleObjects", "PresignConsoleObjectDownload"}
	storage := []string{"AbortConsoleMultipartUpload", "CompleteConsoleMultipartUpload", "CreateBackendStorage",
		"CreateConsoleMultipartUpload", "DeleteBackendStorage", "DeleteConsoleObjects", "GetBackend", "GetBackendJob",
		"GetBackendStorage", "GetConsoleStoragePolicies", "ImportBackendStorage", "ListBackendJobs", "ListConsoleObjects",
		"PresignConsoleObjectDownload", "PresignConsoleObjectUpload", "PresignConsoleUploadParts", "UpdateBackendJob",
		"UpdateBackendStorage"}
	type app struct {
		AppID                     string
		Environments              []string
		AllowedActions            []string
		EnvironmentAllowedActions map[string][]string
	}
	var adminApp, adminEnv []string
	_ = json.Unmarshal([]byte(offeredNames(offeredOnApp)), &adminApp)
	_ = json.Unmarshal([]byte(offeredNames(offeredOnEnvironment)), &adminEnv)
	// Removing app1 touches prod, which the key is denied.
	notProdApp := slices.DeleteFunc(slices.Clone(adminApp), func(op string) bool { return op == "RemoveAllBackends" })
	for _, c := range []struct {
		key     string
		buckets []string
		apps    []app
	}{
		{keyAdmin, []string{"app1-dev-photos", "app1-prod-photos", "app2-dev-photos", "unowned-bucket"}, []app{
			{"app2", []string{"dev"}, adminApp, map[string][]string{"dev": adminEnv}},
			{"app1", []string{"prod", "dev"}, adminApp, map[string][]string{"prod": adminEnv, "dev": adminEnv}}}},
		{keyApp1Read, []string{"app1-dev-photos", "app1-prod-photos"}, []app{
			{"app1", []string{"prod", "dev"}, []string{"GetBackend"}, map[string][]string{"prod": read, "dev": read}}}},
		{keyApp1DevOnly, []string{"app1-dev-photos"}, []app{
			{"app1", []string{"dev"}, []string{}, map[string][]string{"dev": storage}}}},
		{keyNoPolicy, nil, []app{}},
		{keyApp1NoProd, []string{"app1-dev-photos"}, []app{
			{"app1", []string{"dev"}, notProdApp, map[string][]string{"dev": adminEnv}}}},
	} {
		w := s.call(t, c.key, "POST", "/s3Buckets", `{}`)
		var buckets struct{ Buckets []struct{ Name string } }
		if err := json.Unmarshal(w.Body.Bytes(), &buckets); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s ListS3Buckets: %d %s", c.key, w.Code, w.Body)
		}
		var names []string
		for _, b := range buckets.Buckets {
			names = append(names, b.Name)
		}
		if !slices.Equal(names, c.buckets) {
			t.Errorf("%s ListS3Buckets: %v, want %v", c.key, names, c.buckets)
		}

		w = s.call(t, c.key, "GET", "/console-api/apps", ``)
		var apps struct{ Apps []app }
		if err := json.Unmarshal(w.Body.Bytes(), &apps); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s ListConsoleApps: %d %s", c.key, w.Code, w.Body)
		}
		got, _ := json.Marshal(apps.Apps)
		want, _ := json.Marshal(c.apps)
		if !bytes.Equal(got, want) {
			t.Errorf("%s ListConsoleApps:\n%s\nwant\n%s", c.key, got, want)
		}
	}
}

// TestConsoleCaller: any verified key may ask who it is; a sign-in
// session's answer says when it expires and which app it is scoped to.
func TestConsoleCaller(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	for key, want := range map[string]string{
		keyAdmin:       `{"accessKeyId":"AKIAADMIN00000000000","name":"default","administrator":true}`,
		keyApp1DevOnly: `{"accessKeyId":"AKIAAPP1DEVSTORAGE00","name":"app1-dev","administrator":false}`,
		keySession: `{"accessKeyId":"ASIAAPP1SESSION00000","name":"session:app1:0123abcd","administrator":false,` +
			`"expiresAt":"2026-11-22T13:00:00Z","appId":"app1"}`,
	} {
		w := s.call(t, key, "GET", "/console-api/caller", ``)
		if got := strings.TrimSpace(w.Body.String()); w.Code != http.StatusOK || got != want {
			t.Errorf("%s: %d %s\nwant %s", key, w.Code, got, want)
		}
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, httptest.NewRequest("GET", "/console-api/caller", nil))
	if w.Code != http.StatusForbidden || w.Header().Get("X-Amzn-ErrorType") != MissingAuthentication {
		t.Errorf("unsigned: %d %s", w.Code, w.Body)
	}
}

// TestEveryRouteIsAuthorized: every operation the server serves has a row
// in the authorization table, so a new route cannot fall back to what its
// path names by omission.
func TestEveryRouteIsAuthorized(t *testing.T) {
	t.Parallel()
	for _, r := range Routes() {
		if _, ok := authRules[r.Operation]; !ok {
			t.Errorf("%s has no row in authRules", r.Operation)
		}
	}
	for op := range authRules {
		if !slices.Contains(access.Actions, op) && op != "GetConsoleCaller" {
			t.Errorf("authRules names %s, which is not an action policies can name", op)
		}
	}
}

// TestAppActionsDecidedAsTheCallWouldBe: the app-level operations
// ListConsoleApps reports are decided on what the call would touch, so
// RemoveAllBackends is not offered to a key denied one of the app's
// environments. The model's routes not yet served count too.
func TestAppActionsDecidedAsTheCallWouldBe(t *testing.T) {
	t.Parallel()
	s := &Server{Config: Config{Scope: authScope}, appOps: offered(append(Routes(), UnsupportedRoutes()...), offeredOnApp)}
	p := authKeys()[keyApp1NoProd].Policy
	if got, want := s.allowedOnApp(p, "app1", []string{"dev", "prod"}), []string{"CreateBackend", "CreateToken", "GetBackend"}; !slices.Equal(got, want) {
		t.Errorf("app1 with prod: %v, want %v", got, want)
	}
	if got, want := s.allowedOnApp(p, "app1", []string{"dev"}), []string{"CreateBackend", "CreateToken", "GetBackend", "RemoveAllBackends"}; !slices.Equal(got, want) {
		t.Errorf("app1 without prod: %v, want %v", got, want)
	}
	if got := s.allowedOnApp(p, "app2", nil); len(got) != 0 {
		t.Errorf("app2: %v, want nothing", got)
	}
}

// TestBodyNamesAuthorizedAsDecoded: the environment a body names is
// authorized as the handler will read it (keys matched exactly, the last
// of duplicates winning, escapes decoded), so no spelling of a body gets
// a call authorized on one environment and carried out in another.
func TestBodyNamesAuthorizedAsDecoded(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	config := `"resourceName":"r","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}`
	prod := authScope.Environment("app1", "prod")
	for _, env := range []string{
		`"backendEnvironmentName":"dev","backendEnvironmentName":"prod"`,
		`"backendEnvironmentName":"pro\u0064"`,
		`"BackendEnvironmentName":"dev","backendEnvironmentName":"prod"`,
		`"backendEnvironmentName":"dev","backendEnvironmentname":"dev","backendEnvironmentName":"prod"`,
	} {
		before := s.snapshot(t)
		wantDenied(t, env, s.call(t, keyApp1DevOnly, "POST", "/backend/app1/storage", `{`+env+`,`+config+`}`),
			deniedMessage(keyApp1DevOnly, "CreateBackendStorage", prod, false))
		if !bytes.Equal(before, s.snapshot(t)) {
			t.Fatalf("%s: a refused call changed the store", env)
		}
	}
	w := s.call(t, keyApp1DevOnly, "POST", "/backend/app1/storage", `{"BackendEnvironmentName":"prod","backendEnvironmentName":"dev",`+config+`}`)
	var job struct{ BackendEnvironmentName string }
	if err := json.Unmarshal(w.Body.Bytes(), &job); err != nil || w.Code != http.StatusOK || job.BackendEnvironmentName != "dev" {
		t.Fatalf("a create in dev beside a key that differs by case: %d %s", w.Code, w.Body)
	}
}

// TestEnvironmentOpsBodyNamesAuthorizedAsDecoded: CloneBackend's target
// and CreateBackend's app and environment, which come from the body, are
// authorized as the handler reads them: a key that differs from the
// field's name by case alone is not the field, so a later
// "TargetEnvironmentName" cannot carry a clone into an environment the
// key is denied.
func TestEnvironmentOpsBodyNamesAuthorizedAsDecoded(t *testing.T) {
	t.Parallel()
	keys := authKeys()
	keys["AKIDAPP1NOSECRET"] = caller.Key{Secret: "app1-no-secret", Name: "app1-no-secret", Policy: access.MustParse([]byte(`{"Statement":[
		{"Effect":"Allow","Action":"amplifybackend:*","Resource":"arn:aws:amplifybackend:*:*:/backend/app1/*"},
		{"Sid":"NoSecret","Effect":"Deny","Action":"*","Resource":"arn:aws:amplifybackend:*:*:/backend/app1/environments/secret"}]}`))}
	secret := authScope.Environment("app1", "secret")
	for _, c := range []struct{ op, path, body string }{
		{"CloneBackend", "/backend/app1/environments/dev/clone", `{"targetEnvironmentName":"staging","TargetEnvironmentName":"secret"}`},
		{"CloneBackend", "/backend/app1/environments/dev/clone", `{"TargetEnvironmentName":"secret","targetEnvironmentName":"secret"}`},
		{"CreateBackend", "/backend", `{"appId":"app1","appName":"a","backendEnvironmentName":"staging","BackendEnvironmentName":"secret"}`},
	} {
		s := newAuthServer(t)
		s.h = New(Config{Store: s.st, Runner: jobs.New(s.st, nil, jobs.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
			Keys: keys, Region: "us-east-1", Scope: authScope, Now: func() time.Time { return sigTestNow },
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		before := s.snapshot(t)
		r := httptest.NewRequest("POST", "http://127.0.0.1:8080"+c.path, strings.NewReader(c.body))
		signAs(t, r, []byte(c.body), aws.Credentials{AccessKeyID: "AKIDAPP1NOSECRET", SecretAccessKey: "app1-no-secret"}, "us-east-1", sigTestNow)
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			var job struct{ BackendEnvironmentName string }
			if err := json.Unmarshal(w.Body.Bytes(), &job); err != nil || job.BackendEnvironmentName != "dev" && job.BackendEnvironmentName != "staging" {
				t.Errorf("%s %s: %s", c.op, c.body, w.Body)
			}
		} else {
			wantDenied(t, c.body, w, deniedMessage("AKIDAPP1NOSECRET", c.op, secret, true))
		}
		err := s.st.View(context.Background(), func(tx *store.Tx) error {
			_, ok, err := tx.Environment("app1", "secret")
			if ok {
				t.Errorf("%s %s: answered %d and made environment secret, which the key is denied", c.op, c.body, w.Code)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if w.Code != http.StatusOK && !bytes.Equal(before, s.snapshot(t)) {
			t.Errorf("%s %s: a refused call changed the store", c.op, c.body)
		}
	}
}

// TestImportTouchesTheBucketsUsers: importing a bucket that another
// environment already uses (it imported the bucket too) reaches that
// environment's objects and bucket policy, so the import is authorized
// there as well: a key cannot take another app's bucket over by importing
// it into an environment of its own. The refusal names the bucket, not
// whose it is.
func TestImportTouchesTheBucketsUsers(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	at := time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)
	err := s.st.Update(context.Background(), func(tx *store.Tx) error {
		for _, r := range []store.ResourceKey{{AppID: "app2", Env: "dev", Name: "app2-shared"}, {AppID: "app1", Env: "prod", Name: "app1-prod-shared"}} {
			if err := tx.CreateResource(store.Resource{ResourceKey: r, Bucket: r.Name, Imported: true, Phase: store.PhaseActive,
				CreateTime: at, UpdateTime: at}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key, bucket, arn string
		explicit         bool
	}{
		{keyApp1NoProd, "app2-shared", "arn:aws:s3:::app2-shared", false},
		{keyApp1NoProd, "app1-prod-shared", "arn:aws:s3:::app1-prod-shared", true},
		{keyApp1DevOnly, "app2-shared", "arn:aws:s3:::app2-shared", false},
		// A refusal in the environment itself names it, as for any call.
		{keyApp1Read, "app2-shared", authScope.Environment("app1", "dev"), false},
	} {
		before := s.snapshot(t)
		w := s.call(t, c.key, "POST", "/backend/app1/storage/dev/import", `{"bucketName":"`+c.bucket+`","serviceName":"S3"}`)
		wantDenied(t, c.bucket, w, deniedMessage(c.key, "ImportBackendStorage", c.arn, c.explicit))
		if !bytes.Equal(before, s.snapshot(t)) {
			t.Errorf("%s importing %s: a refused call changed the store", c.key, c.bucket)
		}
	}
	// A bucket nobody uses is someone's too (on AWS, any bucket of the
	// account): a key allowed only on app1's ARNs may not bring it in,
	// one also allowed on the bucket's own ARN may.
	before := s.snapshot(t)
	w := s.call(t, keyApp1NoProd, "POST", "/backend/app1/storage/dev/import", `{"bucketName":"app1-free","serviceName":"S3"}`)
	wantDenied(t, "app1-free", w, deniedMessage(keyApp1NoProd, "ImportBackendStorage", "arn:aws:s3:::app1-free", false))
	if !bytes.Equal(before, s.snapshot(t)) {
		t.Errorf("%s importing app1-free: a refused call changed the store", keyApp1NoProd)
	}
	for _, c := range []struct{ key, bucket string }{{keyApp1Importer, "app1-free"}, {keyAdmin, "app2-shared"}} {
		if w := s.call(t, c.key, "POST", "/backend/app1/storage/dev/import", `{"bucketName":"`+c.bucket+`","serviceName":"S3"}`); w.Code != http.StatusOK {
			t.Errorf("%s importing %s: %d %s", c.key, c.bucket, w.Code, w.Body)
		}
	}
}

// TestCloneTouchesTheImportedBucketsUsers: a clone imports the source's
// imported buckets again, which reaches their other users' objects and
// bucket policy as an import would, so it is authorized on those users'
// environments too: a key cannot bring a bucket of an environment it may
// not touch into one it controls by cloning. The refusal names the bucket,
// as an import's does; a bucket only the source uses is no obstacle.
func TestCloneTouchesTheImportedBucketsUsers(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	at := time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)
	err := s.st.Update(context.Background(), func(tx *store.Tx) error {
		for _, r := range []store.Resource{
			{ResourceKey: store.ResourceKey{AppID: "app2", Env: "dev", Name: "shared"}, Bucket: "app2-shared"},
			{ResourceKey: store.ResourceKey{AppID: "app1", Env: "dev", Name: "shared"}, Bucket: "app2-shared"},
			{ResourceKey: store.ResourceKey{AppID: "app1", Env: "test", Name: "own"}, Bucket: "app1-own"},
		} {
			r.Imported, r.Phase, r.CreateTime, r.UpdateTime = true, store.PhaseActive, at, at
			if err := tx.CreateResource(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := s.snapshot(t)
	w := s.call(t, keyApp1NoProd, "POST", "/backend/app1/environments/dev/clone", `{"targetEnvironmentName":"staging"}`)
	wantDenied(t, "clone of an environment sharing app2's bucket", w, deniedMessage(keyApp1NoProd, "CloneBackend", "arn:aws:s3:::app2-shared", false))
	if !bytes.Equal(before, s.snapshot(t)) {
		t.Fatal("a refused clone changed the store")
	}
	if w := s.call(t, keyApp1NoProd, "POST", "/backend/app1/environments/test/clone", `{"targetEnvironmentName":"staging"}`); w.Code != http.StatusOK {
		t.Fatalf("clone of an environment whose imported bucket no one else uses: %d %s", w.Code, w.Body)
	}
	if w := s.call(t, keyAdmin, "POST", "/backend/app1/environments/dev/clone", `{"targetEnvironmentName":"qa"}`); w.Code != http.StatusOK {
		t.Fatalf("an administrator's clone of the sharing environment: %d %s", w.Code, w.Body)
	}
}

// TestCancelTouchesWhatTheJobHolds: cancelling a clone undoes its
// target, so a key that may cancel the jobs of the source environment
// but not touch the target is refused, and the clone goes on.
func TestCancelTouchesWhatTheJobHolds(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	w := s.call(t, keyAdmin, "POST", "/backend/app1/environments/dev/clone", `{"targetEnvironmentName":"staging"}`)
	var job struct{ JobID string }
	if err := json.Unmarshal(w.Body.Bytes(), &job); err != nil || w.Code != http.StatusOK {
		t.Fatalf("clone: %d %s", w.Code, w.Body)
	}
	before := s.snapshot(t)
	w = s.call(t, keyApp1DevOnly, "POST", "/backend/app1/job/dev/"+job.JobID, `{"status":"CANCELLED"}`)
	wantDenied(t, "cancel the clone", w, deniedMessage(keyApp1DevOnly, "UpdateBackendJob", authScope.Environment("app1", "staging"), false))
	if !bytes.Equal(before, s.snapshot(t)) {
		t.Fatal("a refused cancel changed the store")
	}
	if w := s.call(t, keyApp1NoProd, "POST", "/backend/app1/job/dev/"+job.JobID, `{"status":"CANCELLED"}`); w.Code != http.StatusOK {
		t.Fatalf("a key allowed both environments cancels: %d %s", w.Code, w.Body)
	}
}

// TestBucketTakenNamesOnlyWhatTheCallerMaySee: a bucket already in use
// is named with the resource that uses it only to a caller that may read
// that resource, so trying bucket names maps nobody else's apps.
func TestBucketTakenNamesOnlyWhatTheCallerMaySee(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	for _, c := range []struct{ key, bucket, want string }{
		{keyApp1NoProd, "app2-dev-photos", `Bucket \"app2-dev-photos\" is already used by another storage resource.`},
		{keyApp1NoProd, "app1-prod-photos", `Bucket \"app1-prod-photos\" is already used by another storage resource.`},
		{keyApp1NoProd, "app1-dev-photos", `used by storage resource \"photos\" in environment \"dev\" of app \"app1\"`},
		{keyAdmin, "app2-dev-photos", `used by storage resource \"photos\" in environment \"dev\" of app \"app2\"`},
	} {
		w := s.call(t, c.key, "POST", "/backend/app1/storage", `{"backendEnvironmentName":"dev","resourceName":"other",`+
			`"resourceConfig":{"bucketName":"`+c.bucket+`","serviceName":"S3","permissions":{"authenticated":["READ"]}}}`)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s creating with bucket %s: %d %s, want 400 with %s", c.key, c.bucket, w.Code, w.Body, c.want)
		}
	}
}

// TestRemoveAllBackendsCoversEveryEnvironment: removing an app touches
// every environment it has, those whose jobs have all been swept away
// (or that CreateBackend made and nothing has used) included, so a Deny on
// such an environment refuses it too.
func TestRemoveAllBackendsCoversEveryEnvironment(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	err := s.st.Update(context.Background(), func(tx *store.Tx) error {
		_, err := tx.EnsureEnvironment("app2", "prod", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := authKeys()
	keys["AKIDAPP2NOPROD"] = caller.Key{Secret: "app2-no-prod-secret", Name: "app2-no-prod", Policy: access.MustParse([]byte(`{"Statement":[
		{"Effect":"Allow","Action":"amplifybackend:*","Resource":"arn:aws:amplifybackend:*:*:/backend/app2/*"},
		{"Effect":"Deny","Action":"*","Resource":"arn:aws:amplifybackend:*:*:/backend/app2/environments/prod"}]}`))}
	s.h = New(Config{Store: s.st, Keys: keys, Region: "us-east-1", Scope: authScope, Now: func() time.Time { return sigTestNow },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r := httptest.NewRequest("POST", "http://127.0.0.1:8080/backend/app2/remove", strings.NewReader(`{}`))
	signAs(t, r, []byte(`{}`), aws.Credentials{AccessKeyID: "AKIDAPP2NOPROD", SecretAccessKey: "app2-no-prod-secret"}, "us-east-1", sigTestNow)
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	wantDenied(t, "RemoveAllBackends", w, deniedMessage("AKIDAPP2NOPROD", "RemoveAllBackends", authScope.Environment("app2", "prod"), true))
}

// TestCancelOfRemoveAllTouchesTheApp: RemoveAllBackends holds the app
// itself (its name goes with cleanAmplifyApp), and its job is found under
// any environment name of the app, so a key confined to one environment
// cannot cancel it through that environment, even when it is the only
// one the job still holds.
func TestCancelOfRemoveAllTouchesTheApp(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	keys := authKeys()
	const keyApp2Dev = "AKIAAPP2DEVSTORAGE00"
	keys[keyApp2Dev] = caller.Key{Secret: "app2-dev-secret", Name: "app2-dev",
		Policy: access.MustParse(access.EnvironmentStorageDocument("app2", "dev"))}
	s.h = New(Config{Store: s.st, Runner: jobs.New(s.st, nil, jobs.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		Keys: keys, Region: "us-east-1", Scope: authScope, Now: func() time.Time { return sigTestNow },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	call := func(key, secret, method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, strings.NewReader(body))
		signAs(t, r, []byte(body), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, "us-east-1", sigTestNow)
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, r)
		return w
	}
	w := call(keyAdmin, authKeys()[keyAdmin].Secret, "POST", "/backend/app2/remove", `{"cleanAmplifyApp":true}`)
	var job struct{ JobID string }
	if err := json.Unmarshal(w.Body.Bytes(), &job); err != nil || w.Code != http.StatusOK {
		t.Fatalf("remove all: %d %s", w.Code, w.Body)
	}
	// Reading it is reading the app's too; the administrator reads it
	// first, so an answer kept for it is there to be (wrongly) reused.
	if w := call(keyAdmin, authKeys()[keyAdmin].Secret, "GET", "/backend/app2/job/dev/"+job.JobID, ``); w.Code != http.StatusOK {
		t.Fatalf("the administrator reads the removal: %d %s", w.Code, w.Body)
	}
	w = call(keyApp2Dev, "app2-dev-secret", "GET", "/backend/app2/job/dev/"+job.JobID, ``)
	wantDenied(t, "read the app's removal", w, deniedMessage(keyApp2Dev, "GetBackendJob", authScope.App("app2"), false))
	if w := call(keyApp2Dev, "app2-dev-secret", "GET", "/backend/app2/job/dev/j-app2-dev", ``); w.Code != http.StatusOK {
		t.Fatalf("the key reads its environment's own job: %d %s", w.Code, w.Body)
	}
	before := s.snapshot(t)
	w = call(keyApp2Dev, "app2-dev-secret", "POST", "/backend/app2/job/dev/"+job.JobID, `{"status":"CANCELLED"}`)
	wantDenied(t, "cancel the app's removal", w, deniedMessage(keyApp2Dev, "UpdateBackendJob", authScope.App("app2"), false))
	if !bytes.Equal(before, s.snapshot(t)) {
		t.Fatal("a refused cancel changed the store")
	}
	if w := call(keyAdmin, authKeys()[keyAdmin].Secret, "POST", "/backend/app2/job/dev/"+job.JobID, `{"status":"CANCELLED"}`); w.Code != http.StatusOK {
		t.Fatalf("the administrator cancels: %d %s", w.Code, w.Body)
	}
}

// TestFinishedRemoveAllStaysTheApps: a RemoveAllBackends job that has
// settled no longer holds the app, but it is still the app's job, found
// under any environment name: UpdateBackendJob without a status (which
// answers the job) or with an operation to compare (which names the
// job's) must not show it to a key confined to one environment, as
// GetBackendJob does not.
func TestFinishedRemoveAllStaysTheApps(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	at := time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)
	err := s.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.InsertJob(store.Job{ID: "j-app2-all", AppID: "app2", Operation: store.OpRemoveAllBackends,
			Status: store.StatusCompleted, CreateTime: at, UpdateTime: at})
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := authKeys()
	const keyApp2Dev = "AKIAAPP2DEVSTORAGE00"
	keys[keyApp2Dev] = caller.Key{Secret: "app2-dev-secret", Name: "app2-dev",
		Policy: access.MustParse(access.EnvironmentStorageDocument("app2", "dev"))}
	s.h = New(Config{Store: s.st, Runner: jobs.New(s.st, nil, jobs.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		Keys: keys, Region: "us-east-1", Scope: authScope, Now: func() time.Time { return sigTestNow },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	call := func(key, secret, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "http://127.0.0.1:8080/backend/app2/job/dev/j-app2-all", strings.NewReader(body))
		signAs(t, r, []byte(body), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, "us-east-1", sigTestNow)
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, r)
		return w
	}
	for _, body := range []string{`{}`, `{"operation":"CreateBackend"}`} {
		w := call(keyApp2Dev, "app2-dev-secret", body)
		wantDenied(t, "update the app's settled removal with "+body, w, deniedMessage(keyApp2Dev, "UpdateBackendJob", authScope.App("app2"), false))
	}
	if w := call(keyAdmin, authKeys()[keyAdmin].Secret, `{}`); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "RemoveAllBackends") {
		t.Fatalf("the administrator reads the removal through UpdateBackendJob: %d %s", w.Code, w.Body)
	}
}

// TestGetBackendListsOnlyReadableEnvironments: GetBackend's environment
// list names only the environments the caller may read, as the console's
// app list does, so a key confined to one environment does not learn the
// app's others.
func TestGetBackendListsOnlyReadableEnvironments(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	for _, c := range []struct {
		key, body string
		want      []string
	}{
		{keyAdmin, `{}`, []string{"dev", "prod"}},
		{keyApp1Read, `{"backendEnvironmentName":"dev"}`, []string{"dev", "prod"}},
		{keyApp1DevOnly, `{"backendEnvironmentName":"dev"}`, []string{"dev"}},
		{keyApp1NoProd, `{}`, []string{"dev"}},
	} {
		w := s.call(t, c.key, "POST", "/backend/app1/details", c.body)
		var resp struct{ BackendEnvironmentList []string }
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s GetBackend: %d %s", c.key, w.Code, w.Body)
		}
		slices.Sort(resp.BackendEnvironmentList)
		if !slices.Equal(resp.BackendEnvironmentList, c.want) {
			t.Errorf("%s GetBackend lists %v, want %v", c.key, resp.BackendEnvironmentList, c.want)
		}
	}
}
