package handlers

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/console"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// consoleTestServer is the router over a fresh store holding jobs in two
// apps and one resource (app "photosapp", env "dev", resource "photos").
// withRunner gives cfg a store (a new one if it has none) and a job runner
// with settings rc on a target that is never called, with or without IAM.
func withRunner(t *testing.T, cfg Config, rc jobs.Config, noIAM bool) Config {
	t.Helper()
	if cfg.Store == nil {
		st, err := store.Open(filepath.Join(t.TempDir(), "store.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		cfg.Store = st
	}
	tg, err := s3iam.New(context.Background(), s3iam.Config{Region: "us-east-1", S3Endpoint: "http://127.0.0.1:1", IAMEndpoint: "http://127.0.0.1:1",
		NoIAM: noIAM, AccessKey: "unused", SecretKey: "unused"})
	if err != nil {
		t.Fatal(err)
	}
	rc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Runner = jobs.New(cfg.Store, tg, rc)
	return cfg
}

func consoleTestServer(t *testing.T, cfg Config) http.Handler {
	t.Helper()
	st, err := cfg.Store, error(nil)
	if st == nil {
		if st, err = store.Open(filepath.Join(t.TempDir(), "store.db")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
	}
	at := func(min int) time.Time { return time.Date(2026, 11, 22, 10, min, 0, 0, time.UTC) }
	jobs := []store.Job{
		{ID: "j1", AppID: "photosapp", Env: "dev", Resource: "photos", Operation: store.OpCreate, Status: store.StatusCompleted, CreateTime: at(1), UpdateTime: at(1)},
		{ID: "j2", AppID: "older", Env: "prod", Resource: "r", Operation: store.OpImport, Status: store.StatusFailed, CreateTime: at(2), UpdateTime: at(2)},
		{ID: "j3", AppID: "photosapp", Env: "test", Resource: "r", Operation: store.OpImport, Status: store.StatusFailed, CreateTime: at(3), UpdateTime: at(3)},
		{ID: "j4", AppID: "photosapp", Env: "dev", Resource: "photos", Operation: store.OpUpdate, Status: store.StatusCompleted, CreateTime: at(4), UpdateTime: at(4)},
		// An environment DeleteBackend removed: its jobs are kept, it is
		// not listed.
		{ID: "j5", AppID: "photosapp", Env: "deleted", Resource: "", Operation: store.OpDeleteBackend, Status: store.StatusCompleted, CreateTime: at(5), UpdateTime: at(5)},
	}
	err = st.Update(context.Background(), func(tx *store.Tx) error {
		for _, j := range jobs {
			if err := tx.InsertJob(j); err != nil {
				return err
			}
			if j.Env == "deleted" {
				continue
			}
			if _, err := tx.EnsureEnvironment(j.AppID, j.Env, j.CreateTime); err != nil {
				return err
			}
		}
		// A clone's target: recorded, with no job of its own (the clone's
		// runs in its source).
		if err := tx.PutEnvironment(store.Environment{AppID: "photosapp", Env: "staging", CreateTime: at(2)}); err != nil {
			return err
		}
		return tx.CreateResource(store.Resource{
			ResourceKey: store.ResourceKey{AppID: "photosapp", Env: "dev", Name: "photos"}, Bucket: "photos-bucket",
			Desired: store.Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ"}},
			Phase:   store.PhaseActive, CreateTime: at(1), UpdateTime: at(4),
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = st
	cfg.Keys = caller.StaticKeys{sigTestKeyID: sigTestSecret}
	cfg.Now = func() time.Time { return sigTestNow }
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return New(cfg)
}

func consoleRequest(t *testing.T, srv http.Handler, method, path, secret string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, nil)
	for k, vs := range header {
		r.Header[k] = vs
	}
	if secret != "" {
		signAs(t, r, nil, aws.Credentials{AccessKeyID: sigTestKeyID, SecretAccessKey: secret}, "us-east-1", sigTestNow)
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return w
}

func TestConsoleAssets(t *testing.T) {
	t.Parallel()
	srv := consoleTestServer(t, Config{})
	index, err := fs.ReadFile(console.Assets(), "index.html")
	if err != nil {
		t.Fatal(err)
	}

	w := consoleRequest(t, srv, http.MethodGet, "/console", "", nil)
	if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/console/" {
		t.Fatalf("/console: %d Location %q", w.Code, w.Header().Get("Location"))
	}

	for _, tt := range []struct{ path, contentType, contains string }{
		{"/console/", "text/html; charset=utf-8", `<script type="module" src="app.js">`},
		{"/console/index.html", "text/html; charset=utf-8", "<title>amplifybackendd console</title>"},
		{"/console/app.js", "text/javascript; charset=utf-8", "amplifybackend"},
		{"/console/app.css", "text/css; charset=utf-8", ".grid"},
		{"/console/licenses.txt", "text/plain; charset=utf-8", "Apache License"},
	} {
		w := consoleRequest(t, srv, http.MethodGet, tt.path, "", nil)
		if w.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", tt.path, w.Code, w.Body)
			continue
		}
		h := w.Header()
		if got := h.Get("Content-Type"); got != tt.contentType {
			t.Errorf("%s: Content-Type %q, want %q", tt.path, got, tt.contentType)
		}
		if !strings.Contains(w.Body.String(), tt.contains) {
			t.Errorf("%s: body does not contain %q", tt.path, tt.contains)
		}
		if h.Get("ETag") == "" || h.Get("Cache-Control") != "no-cache" || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s: headers %v", tt.path, h)
		}
	}
	if w := consoleRequest(t, srv, http.MethodGet, "/console/", "", nil); w.Body.String() != string(index) {
		t.Error("/console/ is not index.html")
	}

	// A conditional request for an unchanged file is a 304.
	etag := consoleRequest(t, srv, http.MethodGet, "/console/app.js", "", nil).Header().Get("ETag")
	if w := consoleRequest(t, srv, http.MethodGet, "/console/app.js", "", http.Header{"If-None-Match": {etag}}); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", w.Code)
	}

	// A missing file is a JSON 404 like every other error, signed or not.
	w = consoleRequest(t, srv, http.MethodGet, "/console/nope.js", "", nil)
	if w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("X-Amzn-ErrorType") != UnknownOperation {
		t.Errorf("/console/nope.js: %d %v %s", w.Code, w.Header(), w.Body)
	}
	// Outside /console/ the API still refuses unsigned requests first.
	if w := consoleRequest(t, srv, http.MethodGet, "/consolex", "", nil); w.Code != http.StatusForbidden {
		t.Errorf("/consolex: status %d, want 403", w.Code)
	}
}

func TestConsoleAppsRoute(t *testing.T) {
	t.Parallel()
	srv := consoleTestServer(t, Config{})

	w := consoleRequest(t, srv, http.MethodGet, "/console-api/apps", "", nil)
	if w.Code != http.StatusForbidden || w.Header().Get("X-Amzn-ErrorType") != MissingAuthentication {
		t.Fatalf("unsigned: %d %s", w.Code, w.Body)
	}
	w = consoleRequest(t, srv, http.MethodGet, "/console-api/apps", "wrong"+sigTestSecret, nil)
	if w.Code != http.StatusForbidden || w.Header().Get("X-Amzn-ErrorType") != InvalidSignature {
		t.Fatalf("wrong secret: %d %s", w.Code, w.Body)
	}

	w = consoleRequest(t, srv, http.MethodGet, "/console-api/apps", sigTestSecret, nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("x-amzn-RequestId") == "" {
		t.Fatalf("signed: %d %v %s", w.Code, w.Header(), w.Body)
	}
	// An administrator may take every operation offered.
	appOps, envOps := offeredNames(offeredOnApp), offeredNames(offeredOnEnvironment)
	want := `{"apps":[` +
		`{"appId":"photosapp","environments":["dev","test","staging"],"lastActivity":"2026-11-22T10:04:00Z","allowedActions":` + appOps +
		`,"environmentAllowedActions":{"dev":` + envOps + `,"staging":` + envOps + `,"test":` + envOps + `}},` +
		`{"appId":"older","environments":["prod"],"lastActivity":"2026-11-22T10:02:00Z","allowedActions":` + appOps +
		`,"environmentAllowedActions":{"prod":` + envOps + `}}]}`
	if got := strings.TrimSpace(w.Body.String()); got != want {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}

	empty := New(Config{Store: openEmptyStore(t), Keys: caller.StaticKeys{sigTestKeyID: sigTestSecret}, Now: func() time.Time { return sigTestNow }})
	if w := consoleRequest(t, empty, http.MethodGet, "/console-api/apps", sigTestSecret, nil); strings.TrimSpace(w.Body.String()) != `{"apps":[]}` {
		t.Errorf("empty store: %d %s", w.Code, w.Body)
	}
}

// offeredNames is the JSON list of the operations offered on entries of
// kind where.
func offeredNames(where offer) string {
	var names []string
	for _, ra := range offered(Routes(), where) {
		names = append(names, ra.operation)
	}
	b, _ := json.Marshal(names)
	return string(b)
}

func openEmptyStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConsolePoliciesRoute(t *testing.T) {
	t.Parallel()
	const path = "/console-api/apps/photosapp/environments/dev/storage/photos/policies"

	t.Run("unsigned", func(t *testing.T) {
		t.Parallel()
		w := consoleRequest(t, consoleTestServer(t, Config{}), http.MethodGet, path, "", nil)
		if w.Code != http.StatusForbidden || w.Header().Get("X-Amzn-ErrorType") != MissingAuthentication {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})

	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		srv := consoleTestServer(t, Config{})
		for p, kind := range map[string]string{
			"/console-api/apps/photosapp/environments/dev/storage/nope/policies":  "storage",
			"/console-api/apps/photosapp/environments/qa/storage/photos/policies": "backendEnvironment",
			"/console-api/apps/nope/environments/dev/storage/photos/policies":     "app",
		} {
			w := consoleRequest(t, srv, http.MethodGet, p, sigTestSecret, nil)
			var body errorBody
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != http.StatusNotFound || body.Type != NotFound || body.ResourceType != kind {
				t.Errorf("%s: %d %s", p, w.Code, w.Body)
			}
		}
	})

	// Roles recorded for the environment (on its first job, under other
	// templates) are the ones shown: the jobs keep writing to them.
	recorded, err := store.Open(filepath.Join(t.TempDir(), "recorded.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recorded.Close() })
	if err := recorded.Update(context.Background(), func(tx *store.Tx) error {
		return tx.RecordEnvRoles(store.EnvRoles{AppID: "photosapp", Env: "dev", Auth: "first-photosapp-dev-in", Unauth: "first-photosapp-dev-out"})
	}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name        string
		store       *store.Store
		runner      jobs.Config
		noIAM       bool
		authRole    string
		unauthRole  string
		bucketState bool
	}{
		{"defaults", nil, jobs.Config{}, false, "amplify-photosapp-dev-authRole", "amplify-photosapp-dev-unauthRole", false},
		{"templates and public guest access", nil, jobs.Config{AuthRoleTemplate: "{appId}-{env}-in", UnauthRoleTemplate: "{appId}-{env}-out", PublicGuestAccess: true}, false,
			"photosapp-dev-in", "photosapp-dev-out", true},
		{"recorded roles", recorded, jobs.Config{AuthRoleTemplate: "{appId}-{env}-in", UnauthRoleTemplate: "{appId}-{env}-out"}, false,
			"first-photosapp-dev-in", "first-photosapp-dev-out", false},
		{"no IAM: nothing written to roles", nil, jobs.Config{PublicGuestAccess: true}, true, "", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := consoleRequest(t, consoleTestServer(t, withRunner(t, Config{Store: tt.store}, tt.runner, tt.noIAM)), http.MethodGet, path, sigTestSecret, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			var resp consolePoliciesResponse
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if resp.AppID != "photosapp" || resp.BackendEnvironmentName != "dev" || resp.ResourceName != "photos" || resp.BucketName != "photos-bucket" {
				t.Errorf("scope: %+v", resp)
			}
			if tt.noIAM {
				if resp.AuthRole != nil || resp.UnauthRole != nil {
					t.Fatalf("role policies shown for a target without IAM: %s", w.Body)
				}
				if !strings.Contains(resp.BucketPolicyStatements, `"Principal": "*"`) {
					t.Errorf("bucket statements: %s", resp.BucketPolicyStatements)
				}
				return
			}
			if resp.AuthRole == nil || resp.UnauthRole == nil {
				t.Fatalf("missing role policy: %s", w.Body)
			}
			if resp.AuthRole.RoleName != tt.authRole || resp.UnauthRole.RoleName != tt.unauthRole {
				t.Errorf("roles %q %q, want %q %q", resp.AuthRole.RoleName, resp.UnauthRole.RoleName, tt.authRole, tt.unauthRole)
			}
			for _, doc := range []string{resp.AuthRole.PolicyDocument, resp.UnauthRole.PolicyDocument} {
				if !strings.Contains(doc, `"s3:GetObject"`) || !strings.Contains(doc, "arn:aws:s3:::photos-bucket/public/*") || strings.Contains(doc, "s3:PutObject") {
					t.Errorf("document does not grant READ alone on public/:\n%s", doc)
				}
			}
			if !strings.Contains(resp.AuthRole.PolicyDocument, "private/${cognito-identity.amazonaws.com:sub}/*") ||
				strings.Contains(resp.UnauthRole.PolicyDocument, "private/") {
				t.Error("private/ paths are for authenticated users only")
			}
			if got := resp.BucketPolicyStatements != ""; got != tt.bucketState {
				t.Errorf("bucket statements present = %v, want %v", got, tt.bucketState)
			}
			if tt.bucketState && !strings.Contains(resp.BucketPolicyStatements, `"Principal": "*"`) {
				t.Errorf("bucket statements: %s", resp.BucketPolicyStatements)
			}
			// The role documents are the environment's, with its own Sids;
			// the resource's prefix marks its bucket statements.
			if !strings.HasPrefix(resp.SidPrefix, "Amplifybackendd") || (tt.bucketState && !strings.Contains(resp.BucketPolicyStatements, resp.SidPrefix)) {
				t.Errorf("sid prefix %q", resp.SidPrefix)
			}
		})
	}
}

// TestRootSendsBrowsersToConsole: a browser opening the server's address is
// sent to the console; an SDK or curl (no HTML accepted) still gets the
// API's 403, and a signed call the API's 404 for a path without operation.
func TestRootSendsBrowsersToConsole(t *testing.T) {
	t.Parallel()
	srv := consoleTestServer(t, Config{})
	browser := http.Header{"Accept": {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}}
	w := consoleRequest(t, srv, http.MethodGet, "/", "", browser)
	if w.Code != http.StatusFound || w.Header().Get("Location") != "/console/" {
		t.Fatalf("browser: %d Location %q: %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	w = consoleRequest(t, srv, http.MethodGet, "/", "", http.Header{"Accept": {"*/*"}})
	if w.Code != http.StatusForbidden || w.Header().Get("X-Amzn-ErrorType") != MissingAuthentication {
		t.Fatalf("unsigned, no HTML: %d %s", w.Code, w.Body)
	}
	w = consoleRequest(t, srv, http.MethodGet, "/", sigTestSecret, browser)
	if w.Code != http.StatusNotFound || w.Header().Get("X-Amzn-ErrorType") != UnknownOperation {
		t.Fatalf("signed: %d %s", w.Code, w.Body)
	}
}
