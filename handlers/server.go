package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/metrics"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/signin"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// The server: its configuration, the routes, and the middleware every
// request goes through (routing on the escaped path, the request id, the
// count of calls in flight, who is calling). Requests are decoded in
// decode.go, errors rendered in errors.go, the operations served in
// storage.go, backend.go, jobsapi.go and console.go.

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
	Keys    caller.Keys
	// SignIn serves the token operations and the console's sign-in
	// exchange; without it they answer that they are not supported.
	SignIn *signin.Service
	// Region is reported in amplify-meta outputs.
	Region string
	// Ready reports why the server should not be sent traffic (nil: it
	// should); /readyz answers from it. /healthz does not: it says only
	// that the process serves HTTP, so a target outage does not get a
	// healthy process restarted.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// Now is the clock for signature checks (default time.Now).
	Now func() time.Time
	// System is what the console's System page shows of the server.
	System System
	// TargetTimeout is how long a call waits for the storage target to
	// answer (default DefaultTargetTimeout) before it is answered 504.
	TargetTimeout time.Duration
	// BodyBudget is how many bytes of request bodies all connections
	// together may hold (default caller.DefaultBodyBudget); past it a
	// request is answered 429 rather than given memory.
	BodyBudget int64
	// Metrics, when set, counts and times every request and the signature
	// check's refusals.
	Metrics *metrics.Metrics
	// Scope makes the ARNs callers are authorized on (authorize.go); its
	// region defaults to Region.
	Scope access.Scope
	// Objects serves the console's file browser (objects.go) from the
	// target's S3 API; without it those routes answer 500.
	Objects Objects
}

// DefaultTargetTimeout is how long ListS3Buckets waits for the storage
// target, the SDK's own retries included: well within the API's write
// timeout (1 minute by default) and clients' read timeouts (botocore's is
// 60 s), so a target that does not answer is reported as such (504) rather
// than as a connection the server closed.
const DefaultTargetTimeout = 15 * time.Second

// Server is the AmplifyBackend HTTP API.
type Server struct {
	Config
	log *slog.Logger
	// callers verifies who sent each request; it outlives requests.
	callers *caller.Verifier
	// reads keeps encoded answers of single-record reads.
	reads readCache
	// operations names the operation of each route (method and path as
	// registered), for the request log and metrics.
	operations map[opKey]string
	// appOps and envOps are the operations ListConsoleApps reports as
	// allowed on app and environment entries.
	appOps, envOps []routeAuth
}

// New returns the Echo instance serving the API.
func New(cfg Config) *echo.Echo {
	s := &Server{Config: cfg, log: cfg.Logger,
		callers: caller.New(caller.Config{Keys: cfg.Keys, Now: cfg.Now, BodyBudget: cfg.BodyBudget})}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.TargetTimeout <= 0 {
		s.TargetTimeout = DefaultTargetTimeout
	}
	if s.Scope.Region == "" {
		s.Scope.Region = s.Region
	}
	if s.Ready == nil {
		s.Ready = func(context.Context) error { return nil }
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Pre(s.begin)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	// The sign-in exchange is how a person without a key gets one, so it
	// cannot be signed; what it takes is a challenge an authorized key made.
	e.POST(signInPath, s.signIn)
	// The console's files are unsigned, so they are registered without the
	// signature check every other path, matched or not, goes through.
	if err := s.registerConsole(e); err != nil {
		panic("handlers: the embedded console cannot be read: " + err.Error())
	}

	// Paths no route matches go through the signature check too (unsigned:
	// 403; signed: 404 UnknownOperation), as when the routes below were an
	// Echo group with the check as its middleware. The middleware now wraps
	// each handler once, here: Echo applies a group's middleware anew on
	// every request.
	unmatched := s.signed(echo.NotFoundHandler)
	e.RouteNotFound("", unmatched)
	e.RouteNotFound("/*", unmatched)
	e.GET("/", rootForBrowsers(unmatched))
	served := routes(s)
	s.appOps, s.envOps = offered(served, offeredOnApp), offered(served, offeredOnEnvironment)
	s.operations = map[opKey]string{}
	unsupported := UnsupportedRoutes()
	all := append(append(served, unsupported...), emptyLastLabelRoutes(served, unsupported)...)
	for _, r := range all {
		e.Add(r.Method, r.Path, s.signed(s.authorize(newRouteAuth(r), r.Handler)))
		s.operations[opKey{r.Method, r.Path}] = r.Operation
	}
	return e
}

// emptyLastLabelRoutes gives each route whose path ends in a parameter a
// twin for that parameter sent empty. boto3, the AWS CLI and the JS SDK
// send an empty path label as nothing between the slashes: an empty label
// inside the path reaches the operation's route and is refused as a
// missing field, while an empty last one (ListBackendJobs with
// backendEnvironmentName "" is POST /backend/app/job/) matched no route
// and was answered 404 UnknownOperationException, which the model does
// not know and which does not say what is wrong. The twin is authorized
// as the operation is; a served operation's answers the same 400 its
// handler gives an empty label elsewhere, an unsupported one's says it is
// unsupported, as for any other label. A twin that would shadow another
// route is left out.
func emptyLastLabelRoutes(served, unsupported []Route) []Route {
	rs := append(served[:len(served):len(served)], unsupported...)
	taken := map[opKey]bool{}
	for _, r := range rs {
		taken[opKey{r.Method, r.Path}] = true
	}
	var out []Route
	for n, r := range rs {
		i := strings.LastIndexByte(r.Path, '/')
		if i < 0 || !strings.HasPrefix(r.Path[i+1:], ":") {
			continue
		}
		twin := opKey{r.Method, r.Path[:i+1]}
		if taken[twin] {
			continue
		}
		taken[twin] = true
		h := r.Handler
		if n < len(served) {
			field := r.Path[i+2:]
			h = func(echo.Context) error { return errMissingField.with(field) }
		}
		out = append(out, Route{r.Operation, r.Method, twin.path, h})
	}
	return out
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
	return append([]Route{
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
		{"CreateToken", http.MethodPost, "/backend/:appId/challenge", h((*Server).createToken)},
		{"GetToken", http.MethodGet, "/backend/:appId/challenge/:sessionId", h((*Server).getToken)},
		{"DeleteToken", http.MethodPost, "/backend/:appId/challenge/:sessionId/remove", h((*Server).deleteToken)},
		{"CreateBackend", http.MethodPost, "/backend", h((*Server).createBackend)},
		{"CloneBackend", http.MethodPost, "/backend/:appId/environments/:backendEnvironmentName/clone", h((*Server).cloneBackend)},
		{"DeleteBackend", http.MethodPost, "/backend/:appId/environments/:backendEnvironmentName/remove", h((*Server).deleteBackend)},
		{"RemoveAllBackends", http.MethodPost, "/backend/:appId/remove", h((*Server).removeAllBackends)},
		// Console extensions: signed like the rest, not in the service model.
		{"ListConsoleApps", http.MethodGet, "/console-api/apps", h((*Server).listConsoleApps)},
		{"GetConsoleCaller", http.MethodGet, "/console-api/caller", h((*Server).getConsoleCaller)},
		{"GetConsoleSystem", http.MethodGet, "/console-api/system", h((*Server).getConsoleSystem)},
		{"GetConsoleStoragePolicies", http.MethodGet, "/console-api/apps/:appId/environments/:backendEnvironmentName/storage/:resourceName/policies", h((*Server).getConsolePolicies)},
		{"BackupStore", http.MethodGet, "/admin-api/backup", h((*Server).backupStore)},
	}, objectRoutes(h)...)
}

// requestIDHeader is "x-amzn-RequestId" as http.Header keeps it; writing
// the key in that form spares Header.Set canonicalizing it per request.
const requestIDHeader = "X-Amzn-Requestid"

// begin prepares every request before it is routed: Echo is made to match
// the path as the client escaped it, and the request gets its id. It is one
// Pre middleware rather than two because Echo wraps Pre and Use middleware
// around the chain anew for every request. The body is left for
// authenticate, which has it read only once the headers pass.
//
// It also ends every request: an error is answered here (rather than by
// Echo after the chain returns) so that the status is known, then the
// request is logged once and counted.
func (s *Server) begin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		routeOnEscapedPath(c.Request())
		id := uuid.NewString()
		c.Response().Header()[requestIDHeader] = []string{id}
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		s.finish(c, id, start, err)
		return nil
	}
}

// finish logs the request's one line and counts it. The line carries what
// an operator searches by: the request id the client was given, the
// operation, the verified access key id (never a secret, never the
// signature), the status and the duration; a refused or failed request
// also carries its cause.
func (s *Server) finish(c echo.Context, id string, start time.Time, err error) {
	took := time.Since(start)
	r := c.Request()
	op := s.operation(c)
	status := c.Response().Status
	s.Metrics.Request(op, status, took)
	attrs := []slog.Attr{
		slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.EscapedPath()),
		slog.String("operation", op), slog.Int("status", status), slog.Float64("duration_ms", float64(took.Microseconds())/1000),
	}
	// The verified caller rides on the body the check read; a refused
	// request's body names none.
	if b, ok := r.Body.(*caller.Body); ok && b.Caller.AccessKeyID != "" {
		attrs = append(attrs, slog.String("access_key_id", b.Caller.AccessKeyID))
	}
	if err != nil {
		attrs = append(attrs, refusal(err)...)
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// refusal is what the log line says of a request the signature check or
// the caller's policy refused, nothing for other errors. It is apart from
// finish so that answered requests do not pay for the targets of
// errors.As, which escape.
func refusal(err error) []slog.Attr {
	var refused *caller.Error
	if errors.As(err, &refused) {
		return []slog.Attr{slog.String("auth_failure", refused.Check.Reason())}
	}
	var denied *accessDeniedError
	if errors.As(err, &denied) {
		return []slog.Attr{slog.String("access_denied", access.Action(denied.Operation)+" on "+denied.Resource)}
	}
	return nil
}

// opKey is a route: a method and Echo's path pattern. A struct key, unlike
// the two joined, costs no allocation per lookup.
type opKey struct{ method, path string }

// operation names what the request asked for, from the route Echo matched:
// an operation of the service model, or one of a few fixed words, so the
// metrics' label set stays bounded whatever paths clients send.
func (s *Server) operation(c echo.Context) string {
	p := c.Path()
	if op, ok := s.operations[opKey{c.Request().Method, p}]; ok {
		return op
	}
	switch {
	case p == "/healthz":
		return "Healthz"
	case p == "/readyz":
		// Probes come every few seconds; counted as Unknown they would
		// hide the paths no route matches among them.
		return "Readyz"
	case p == signInPath:
		return "ConsoleSignIn"
	case p == "/console" || strings.HasPrefix(p, "/console/"):
		return "Console"
	default:
		return "Unknown"
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

// signed wraps a handler of a signed route in the middleware such a route
// goes through: counted as a call in flight, then authenticated. Routes of
// an operation also pass authorize (authorize.go) between the check and
// the handler.
func (s *Server) signed(h echo.HandlerFunc) echo.HandlerFunc {
	h = s.authenticate(h)
	if s.Runner != nil {
		h = s.countCall(h)
	}
	return h
}

// countCall counts the call as in flight for the runner, whose workers
// yield the CPU to API calls while enough of them are. It counts from
// before the signature check, which is part of the work of a call.
func (s *Server) countCall(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s.Runner.BeginCall()
		defer s.Runner.EndCall()
		return next(c)
	}
}

// authenticate runs next only for a request the caller package verified;
// a refusal is an error the error handler phrases (errors.go). The body
// the check read stays the request's body, for decode, and its share of
// the body budget is given back when the call ends.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		_, body, err := s.callers.Verify(c.Request())
		if err != nil {
			var refused *caller.Error
			if errors.As(err, &refused) && refused.Check != caller.KeyLookupFailed {
				// A lookup the store failed says nothing of the
				// signature; the store's own metrics count it.
				s.Metrics.SignatureFailure(refused.Check.Reason())
			}
			return err
		}
		defer body.Release()
		return next(c)
	}
}

// healthz answers liveness: the process is serving HTTP.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers readiness: 503 with the reason while the server should
// not be sent traffic (starting, target unreachable, shutting down).
func (s *Server) readyz(c echo.Context) error {
	if err := s.Ready(c.Request().Context()); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "message": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
