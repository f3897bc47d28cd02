package handlers

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// Buckets lists the buckets visible to the target's credentials.
type Buckets interface {
	ListBuckets(ctx context.Context) ([]s3iam.Bucket, error)
}

// Config wires a Server.
type Config struct {
	Store  *store.Store
	Runner *jobs.Runner
	// Buckets answers ListS3Buckets.
	Buckets Buckets
	Keys    KeySource
	// Region is reported in amplify-meta outputs.
	Region string
	// Ready reports whether the store and target are ready; /healthz uses it.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// Now is the clock for signature checks (default time.Now).
	Now func() time.Time
	// BodyBudget is how many bytes of request bodies all connections
	// together may hold (default DefaultBodyBudget); past it a request is
	// answered 429 rather than given memory.
	BodyBudget int64
}

// Server is the AmplifyBackend HTTP API.
type Server struct {
	Config
	log *slog.Logger
	// signingKeys outlives requests: a client signs a day's requests with
	// one derived key.
	signingKeys signingKeyCache
	// reads keeps encoded answers of single-record reads.
	reads readCache
	// bodies is what request bodies may hold, shared by all connections.
	bodies bodyBudget
}

// New returns the Echo instance serving the API.
func New(cfg Config) *echo.Echo {
	s := &Server{Config: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Ready == nil {
		s.Ready = func(context.Context) error { return nil }
	}
	s.bodies.limit = cmp.Or(cfg.BodyBudget, DefaultBodyBudget)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Pre(s.begin)

	e.GET("/healthz", s.healthz)
	// The console's files are unsigned, so they are registered without the
	// signature check every other path, matched or not, goes through.
	if err := s.registerConsole(e); err != nil {
		panic("handlers: the embedded console cannot be read: " + err.Error())
	}

	// Paths no route matches go through the signature check too (unsigned:
	// 403; signed: 404 UnknownOperation), as when the routes below were an
	// Echo group with the check as its middleware. The check now wraps each
	// handler once, here: Echo applies a group's middleware anew on every
	// request.
	unmatched := s.authenticate(echo.NotFoundHandler)
	e.RouteNotFound("", unmatched)
	e.RouteNotFound("/*", unmatched)
	e.GET("/", rootForBrowsers(unmatched))
	for _, r := range routes(s) {
		e.Add(r.Method, r.Path, s.authenticate(r.Handler))
	}
	return e
}

// Route is one API operation's method, path and handler; the OpenAPI test
// compares this list with openapi.yaml.
type Route struct {
	Operation string
	Method    string
	Path      string
	Handler   echo.HandlerFunc
}

// Routes lists the signed API routes (without handlers bound to a server).
func Routes() []Route { return routes(nil) }

func routes(s *Server) []Route {
	h := func(f func(*Server, echo.Context) error) echo.HandlerFunc {
		return func(c echo.Context) error { return f(s, c) }
	}
	return []Route{
		{"CreateBackendStorage", http.MethodPost, "/backend/:appId/storage", h((*Server).createStorage)},
		{"ImportBackendStorage", http.MethodPost, "/backend/:appId/storage/:backendEnvironmentName/import", h((*Server).importStorage)},
		{"GetBackendStorage", http.MethodPost, "/backend/:appId/storage/:backendEnvironmentName/details", h((*Server).getStorage)},
		{"UpdateBackendStorage", http.MethodPost, "/backend/:appId/storage/:backendEnvironmentName", h((*Server).updateStorage)},
		{"DeleteBackendStorage", http.MethodPost, "/backend/:appId/storage/:backendEnvironmentName/remove", h((*Server).deleteStorage)},
		{"ListS3Buckets", http.MethodPost, "/s3Buckets", h((*Server).listS3Buckets)},
		{"GetBackendJob", http.MethodGet, "/backend/:appId/job/:backendEnvironmentName/:jobId", h((*Server).getJob)},
		{"ListBackendJobs", http.MethodPost, "/backend/:appId/job/:backendEnvironmentName", h((*Server).listJobs)},
		{"UpdateBackendJob", http.MethodPost, "/backend/:appId/job/:backendEnvironmentName/:jobId", h((*Server).updateJob)},
		{"GetBackend", http.MethodPost, "/backend/:appId/details", h((*Server).getBackend)},
		// Console extensions: signed like the rest, not in the service model.
		{"ListConsoleApps", http.MethodGet, "/console-api/apps", h((*Server).listConsoleApps)},
		{"GetConsoleStoragePolicies", http.MethodGet, "/console-api/apps/:appId/environments/:backendEnvironmentName/storage/:resourceName/policies", h((*Server).getConsolePolicies)},
		{"BackupStore", http.MethodGet, "/admin-api/backup", h((*Server).backupStore)},
	}
}

// requestIDHeader is "x-amzn-RequestId" as http.Header keeps it; writing
// the key in that form spares Header.Set canonicalizing it per request.
const requestIDHeader = "X-Amzn-Requestid"

// begin prepares every request before it is routed: Echo is made to match
// the path as the client escaped it, and the request gets its id. It is one
// Pre middleware rather than two because Echo wraps Pre and Use middleware
// around the chain anew for every request. The body is left for
// authenticate, which reads it only once the headers pass.
func (s *Server) begin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		routeOnEscapedPath(c.Request())
		c.Response().Header()[requestIDHeader] = []string{uuid.NewString()}
		return next(c)
	}
}

// routeOnEscapedPath makes Echo match on the path exactly as the client
// escaped it, so a %2F inside an app id stays inside its segment; handlers
// unescape each segment once.
func routeOnEscapedPath(r *http.Request) {
	r.URL.RawPath = r.URL.EscapedPath()
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(requestIDHeader)
}

// authenticate checks the signature before next runs. Whatever the headers
// alone can refuse is refused before the body is read, so a client without
// a key cannot make the server wait for, or hold, a body; then the body is
// read under the size cap and the budget, and the signature checked over
// it. It also counts the call as in flight for the runner, whose workers
// yield the CPU to API calls while enough of them are.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.Runner != nil {
			s.Runner.BeginCall()
			defer s.Runner.EndCall()
		}
		r := c.Request()
		in, apiErr := checkSigned(r, s.Keys, s.Now())
		if apiErr != nil {
			return apiErr
		}
		b, err := s.readBody(r)
		defer s.bodies.put(b.held)
		if err != nil {
			return err
		}
		if apiErr := in.verify(r, len(b.data), b.sum, &s.signingKeys); apiErr != nil {
			return apiErr
		}
		return next(c)
	}
}

func (s *Server) healthz(c echo.Context) error {
	if err := s.Ready(c.Request().Context()); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "starting", "message": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// decode parses the JSON body into v. An empty body is an empty object, and
// the Content-Type header is not required: the real service accepts both.
// Keys match field names exactly, as in AWS's JSON protocols (Go's decoder
// alone would also take "ResourceName" for "resourceName"); unknown keys are
// ignored; a field of the wrong type is named.
func decode(c echo.Context, v any) error {
	body := bodyOf(c.Request())
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if sf, ok := v.(stringFields); ok && decodeStrings(body, sf) {
		return nil
	}
	return decodeJSON(body, v)
}

// decodeJSON is decode's general path, with encoding/json.
func decodeJSON(body []byte, v any) error {
	if !exactCaseKeys(body) {
		// Slow path, only for bodies with a key that differs from one of
		// ours by case alone: drop such keys, then decode.
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var generic any
		if err := dec.Decode(&generic); err != nil || dec.More() {
			if err == nil {
				err = errors.New("unexpected data after the JSON value")
			}
			return badRequest("The request body is not valid JSON: %s.", strings.TrimPrefix(err.Error(), "json: "))
		}
		var err error
		if body, err = json.Marshal(exactKeys(generic, reflect.TypeOf(v))); err != nil {
			return badRequest("The request body is not valid JSON.")
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badRequest("Invalid type for field %s: expected %s.", te.Field, jsonKind(te.Type.Kind().String()))
		}
		return badRequest("The request body is not valid JSON: %s.", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// wireNames are the JSON names of every request field.
var wireNames = func() map[string]bool {
	names := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			names[name] = true
			walk(t.Field(i).Type)
		}
	}
	for _, v := range []any{createStorageRequest{}, importStorageRequest{}, updateStorageRequest{}, getStorageRequest{},
		deleteStorageRequest{}, listS3BucketsRequest{}, listJobsRequest{}, updateJobRequest{}, getBackendRequest{}} {
		walk(reflect.TypeOf(v))
	}
	return names
}()

// exactCaseKeys reports whether no object key in body matches one of our
// field names only case-insensitively (what Go's decoder would wrongly
// accept). It scans the bytes once without decoding; malformed JSON passes
// here and is reported by the decoder.
func exactCaseKeys(body []byte) bool {
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		start := i + 1
		escaped := false
		for i++; i < len(body); i++ {
			if body[i] == '\\' {
				escaped = true
				i++
				continue
			}
			if body[i] == '"' {
				break
			}
		}
		if i >= len(body) {
			return true
		}
		j := i + 1
		for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
			j++
		}
		if j >= len(body) || body[j] != ':' {
			continue // a string value, not a key
		}
		key := string(body[start:i])
		if escaped || !wireNames[key] && foldsToWireName(key) {
			return false
		}
	}
	return true
}

func foldsToWireName(key string) bool {
	for name := range wireNames {
		if strings.EqualFold(name, key) {
			return true
		}
	}
	return false
}

// exactKeys keeps, at every level of a decoded JSON value, only the object
// keys that are exactly the json names of t's fields.
func exactKeys(v any, t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch val := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return val
		}
		out := make(map[string]any, len(val))
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if fv, ok := val[name]; ok && name != "" && name != "-" {
				out[name] = exactKeys(fv, f.Type)
			}
		}
		return out
	case []any:
		if t.Kind() != reflect.Slice {
			return val
		}
		for i := range val {
			val[i] = exactKeys(val[i], t.Elem())
		}
	}
	return v
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice":
		return "a list"
	case "struct", "map", "ptr":
		return "an object"
	case "int", "int64":
		return "an integer"
	case "bool":
		return "a boolean"
	}
	return "a string"
}

// pathParam unescapes one path segment once and checks it is a usable name.
func pathParam(c echo.Context, name string) (string, error) {
	v, err := url.PathUnescape(c.Param(name))
	if err != nil {
		return "", badRequest("Invalid %s: bad percent-encoding.", name)
	}
	return v, checkName(name, v)
}

// checkName enforces what every app id, environment and resource name must
// be: 1 to 255 bytes of valid UTF-8 without control characters.
func checkName(field, v string) error {
	if v == "" {
		return badRequest("Missing required field %s.", field)
	}
	if len(v) > 255 {
		return badRequest("Invalid %s: must be at most 255 bytes long.", field)
	}
	if !utf8.ValidString(v) {
		return badRequest("Invalid %s: must be valid UTF-8.", field)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return badRequest("Invalid %s: must not contain control characters.", field)
		}
	}
	return nil
}

func required(field string, v *string) (string, error) {
	if v == nil {
		return "", badRequest("Missing required field %s.", field)
	}
	return *v, checkName(field, *v)
}

// serviceName checks the only storage service the API knows.
func serviceName(field string, v *string) error {
	if v == nil {
		return badRequest("Missing required field %s.", field)
	}
	if *v != "S3" {
		return badRequest("Invalid %s %q: the only supported value is S3.", field, *v)
	}
	return nil
}

func permissions(field string, p *permissionsWire) (store.Permissions, error) {
	if p == nil {
		return store.Permissions{}, badRequest("Missing required field %s.", field)
	}
	if p.Authenticated == nil {
		return store.Permissions{}, badRequest("Missing required field %s.authenticated.", field)
	}
	auth, err := jobs.NormalizePermissions(field+".authenticated", *p.Authenticated)
	if err != nil {
		return store.Permissions{}, err
	}
	guest, err := jobs.NormalizePermissions(field+".unAuthenticated", p.UnAuthenticated)
	if err != nil {
		return store.Permissions{}, err
	}
	return store.Permissions{Authenticated: auth, Unauthenticated: guest}, nil
}

func accepted(c echo.Context, j store.Job) error {
	return writeJSON(c, http.StatusOK, jobAcceptedResponse{AppID: j.AppID, BackendEnvironmentName: j.Env, JobID: j.ID, Status: string(j.Status)})
}

func (s *Server) scope(c echo.Context) (appID, env string, err error) {
	if appID, err = pathParam(c, "appId"); err != nil {
		return
	}
	env, err = pathParam(c, "backendEnvironmentName")
	return
}

// viewInScope runs a read of one record; when the record is missing it
// reports which level is: the app, the environment, or the record itself.
// The scope is only checked on a miss, so a hit costs one lookup.
func (s *Server) viewInScope(c echo.Context, appID, env string, read func(tx *store.Tx) error) error {
	return s.Store.View(c.Request().Context(), func(tx *store.Tx) error {
		err := read(tx)
		if errors.Is(err, store.ErrNotFound) {
			if scopeErr := tx.CheckScope(appID, env); scopeErr != nil {
				return scopeErr
			}
		}
		return err
	})
}
