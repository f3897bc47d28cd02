package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/signin"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// TestToAPIError: every error a handler can meet is phrased from the
// catalog with the words clients have always read (the messages below are
// the ones the API answered before the catalog), and anything else is an
// internal failure that says nothing of what happened.
func TestToAPIError(t *testing.T) {
	t.Parallel()
	res := store.ResourceKey{AppID: "app", Env: "dev", Name: "photos"}
	tests := []struct {
		name         string
		err          error
		status       int
		typ          string
		message      string // exact unless empty
		resourceType string
		limitType    string
		fault        fault
	}{
		{name: "APIError passes through", err: errMissingField.with("resourceName"), status: 400, typ: BadRequest, message: "Missing required field resourceName."},
		{name: "wrapped APIError", err: fmt.Errorf("create: %w", errUnknownKey.with()), status: 403, typ: UnrecognizedClient,
			message: "The security token included in the request is invalid."},
		{name: "app not found", err: &store.NotFoundError{Kind: store.KindApp, AppID: "app"},
			status: 404, typ: NotFound, message: `App "app" not found.`, resourceType: "app"},
		{name: "environment not found", err: &store.NotFoundError{Kind: store.KindEnv, AppID: "app", Env: "dev"},
			status: 404, typ: NotFound, message: `Backend environment "dev" not found in app "app".`, resourceType: "backendEnvironment"},
		{name: "resource not found", err: &store.NotFoundError{Kind: store.KindResource, AppID: "app", Env: "dev", Name: "photos"},
			status: 404, typ: NotFound, message: `No storage resource named "photos" in environment "dev" of app "app".`, resourceType: "storage"},
		{name: "wrapped job not found", err: fmt.Errorf("view: %w", &store.NotFoundError{Kind: store.KindJob, AppID: "app", Env: "dev", Name: "x"}),
			status: 404, typ: NotFound, message: `Job "x" not found.`, resourceType: "job"},
		{name: "resource exists", err: &store.ResourceExistsError{Resource: res},
			status: 400, typ: BadRequest, message: `A storage resource named "photos" already exists in environment "dev" of app "app".`},
		{name: "bucket taken, wrapped with log context", err: fmt.Errorf("bbolt tx 42 on /var/lib/x: %w", &store.BucketTakenError{Bucket: "b-1", Owner: res}),
			status: 400, typ: BadRequest, message: `Bucket "b-1" is already used by storage resource "photos" in environment "dev" of app "app".`},
		{name: "pending job", err: &jobs.PendingJobError{Resource: res, Job: "j-1"},
			status: 400, typ: BadRequest, message: `There is already a pending job for resource "photos" in environment "dev" of app "app" (job j-1); wait for it to complete.`},
		{name: "environment held", err: &jobs.EnvironmentBusyError{AppID: "app", Env: "dev", Job: "j-2"},
			status: 400, typ: BadRequest, message: `There is already a pending job for backend environment "dev" of app "app" (job j-2); wait for it to complete.`},
		{name: "app held", err: &jobs.EnvironmentBusyError{AppID: "app", Job: "j-3"},
			status: 400, typ: BadRequest, message: `There is already a pending job for app "app" (job j-3); wait for it to complete.`},
		{name: "too many environments held at once", err: &jobs.TooManyEnvironmentsError{AppID: "app", Count: 200, Max: 100},
			status: 400, typ: BadRequest, message: `App "app" has 200 backend environments; RemoveAllBackends removes at most 100 at once when the store is kept in etcd: delete some with DeleteBackend first.`},
		{name: "too many resources to clone at once", err: &jobs.TooManyResourcesError{AppID: "app", Env: "dev", Count: 80, Max: 50},
			status: 400, typ: BadRequest, message: `Backend environment "dev" of app "app" has 80 storage resources; CloneBackend copies at most 50 at once when the store is kept in etcd.`},
		{name: "environment exists", err: &store.EnvironmentExistsError{AppID: "app", Env: "dev"},
			status: 400, typ: BadRequest, message: `Backend environment "dev" already exists in app "app".`},
		{name: "job not running", err: &jobs.NotRunningError{Job: "j-1", Status: store.StatusCompleted},
			status: 400, typ: BadRequest, message: `Job j-1 is COMPLETED; only a RUNNING job can be cancelled.`},
		{name: "permission", err: &jobs.PermissionError{Field: "resourceConfig.permissions.authenticated", Value: "WRITE"},
			status: 400, typ: BadRequest, message: `Invalid value "WRITE" in resourceConfig.permissions.authenticated: each element must be one of READ, CREATE_AND_UPDATE, DELETE.`},
		{name: "bucket name", err: &jobs.BucketNameError{Name: "a..b", Rule: "must not contain two adjacent periods"},
			status: 400, typ: BadRequest, message: `Invalid bucketName "a..b": must not contain two adjacent periods.`},
		{name: "operation mismatch", err: &jobs.OperationMismatchError{Job: "j-1", Operation: store.OpDelete, JobOperation: store.OpCreate},
			status: 400, typ: BadRequest, message: `Invalid operation "DeleteBackendStorage": job j-1 is a CreateBackendStorage job.`},
		{name: "status not settable", err: &jobs.StatusNotSettableError{Status: store.StatusCompleted},
			status: 400, typ: BadRequest, message: `Invalid status "COMPLETED": the only status a client can set is CANCELLED.`},
		{name: "invitation too deep, wrapped", err: fmt.Errorf("create token: %w", &signin.DepthError{Creator: "ASIAEXAMPLE"}),
			status: 400, typ: BadRequest, message: "These credentials come from a chain of 4 sign-in invitations, the most there may be: they cannot create another challenge; ask the holder of an API key to invite."},
		{name: "a class without a type is a broken invariant", err: fmt.Errorf("%w: names must not contain NUL characters", store.ErrInvalid),
			status: 500, typ: InternalFailure, fault: serverFault},
		{name: "target throttles", err: &targetError{fmt.Errorf("s3 ListBuckets: %w", &smithy.GenericAPIError{Code: "SlowDown", Message: "Please reduce your request rate."})},
			status: 429, typ: TooManyRequests, limitType: TargetRateLimit, fault: targetFault},
		{name: "target refuses connections", err: &targetError{fmt.Errorf("s3 ListBuckets: dial tcp 10.0.0.7:9000: %w", syscall.ECONNREFUSED)},
			status: 504, typ: GatewayTimeout, fault: targetFault},
		{name: "target denies", err: &targetError{fmt.Errorf("s3 ListBuckets: %w", &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"})},
			status: 504, typ: GatewayTimeout, fault: targetFault},
		{name: "unsigned", err: &caller.Error{Check: caller.NoAuthorization}, status: 403, typ: MissingAuthentication,
			message: "Missing Authentication Token"},
		{name: "malformed Authorization", err: &caller.Error{Check: caller.MalformedAuthorization}, status: 403, typ: InvalidSignature,
			message: "The Authorization header is not a well-formed AWS4-HMAC-SHA256 signature."},
		{name: "unknown key", err: &caller.Error{Check: caller.UnknownKey}, status: 403, typ: UnrecognizedClient,
			message: "The security token included in the request is invalid."},
		{name: "another service", err: &caller.Error{Check: caller.WrongService}, status: 403, typ: InvalidSignature,
			message: "Credential should be scoped to correct service: 'amplifybackend'."},
		{name: "no date", err: &caller.Error{Check: caller.BadDate}, status: 403, typ: InvalidSignature,
			message: "The request must carry a valid X-Amz-Date header."},
		{name: "expired", err: &caller.Error{Check: caller.Expired, Stamp: "20261122T115400Z", Now: sigTestNow}, status: 403, typ: InvalidSignature,
			message: "Signature expired: 20261122T115400Z is now earlier than 20261122T115500Z (20261122T120000Z - 5 min.)"},
		{name: "not yet current", err: &caller.Error{Check: caller.NotYetValid, Stamp: "20261122T120600Z", Now: sigTestNow}, status: 403, typ: InvalidSignature,
			message: "Signature not yet current: 20261122T120600Z is still later than 20261122T120500Z (20261122T120000Z + 5 min.)"},
		{name: "date scope", err: &caller.Error{Check: caller.WrongScopeDate}, status: 403, typ: InvalidSignature,
			message: "Credential should be scoped to a valid date matching X-Amz-Date."},
		{name: "payload hash", err: &caller.Error{Check: caller.PayloadHashMismatch}, status: 403, typ: InvalidSignature,
			message: "The provided x-amz-content-sha256 header does not match the request body."},
		{name: "signature", err: &caller.Error{Check: caller.SignatureMismatch}, status: 403, typ: InvalidSignature,
			message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
		{name: "body too large", err: &caller.Error{Check: caller.BodyTooLarge}, status: 400, typ: BadRequest,
			message: "The request body is larger than 1 MiB."},
		{name: "body unreadable", err: &caller.Error{Check: caller.BodyUnreadable, Err: io.ErrUnexpectedEOF}, status: 400, typ: BadRequest,
			message: "The request body could not be read."},
		{name: "body budget", err: &caller.Error{Check: caller.BodyBudgetSpent, Budget: 65536}, status: 429, typ: TooManyRequests, limitType: BodyBudgetLimit,
			message: "The server holds as many request bodies as it may (65536 bytes in all); retry shortly."},
		{name: "echo 404", err: echo.ErrNotFound, status: 404, typ: UnknownOperation},
		{name: "echo 405", err: echo.ErrMethodNotAllowed, status: 404, typ: UnknownOperation},
		{name: "echo 413", err: echo.ErrStatusRequestEntityTooLarge, status: 400, typ: BadRequest, message: "The request body is larger than 1 MiB."},
		{name: "echo other 4xx: none is made", err: echo.NewHTTPError(http.StatusUnsupportedMediaType, "unsupported"), status: 500, typ: InternalFailure, fault: serverFault},
		{name: "echo 500", err: echo.NewHTTPError(http.StatusInternalServerError, "boom at /srv/secret"), status: 500, typ: InternalFailure, fault: serverFault},
		{name: "key lookup the store could not answer", err: &caller.Error{Check: caller.KeyLookupFailed, Err: fmt.Errorf("look up: %w", store.ErrUnavailable)},
			status: 504, typ: GatewayTimeout, fault: storeFault},
		{name: "key lookup that met damage", err: &caller.Error{Check: caller.KeyLookupFailed, Err: fmt.Errorf("look up: %w", store.ErrDamaged)},
			status: 500, typ: InternalFailure, fault: serverFault},
		{name: "unknown error", err: errors.New("open /var/lib/amplifybackendd/db: permission denied"), status: 500, typ: InternalFailure, fault: serverFault},
		{name: "wrapped plain error", err: fmt.Errorf("oops: %w", errors.New("x")), status: 500, typ: InternalFailure, fault: serverFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, f := toAPIError(tt.err)
			if got.Status != tt.status || got.Type != tt.typ || got.ResourceType != tt.resourceType || got.LimitType != tt.limitType || f != tt.fault {
				t.Fatalf("toAPIError(%v) = %+v, fault %d; want status %d type %s resourceType %q limitType %q fault %d",
					tt.err, got, f, tt.status, tt.typ, tt.resourceType, tt.limitType, tt.fault)
			}
			if tt.message != "" && got.Message != tt.message {
				t.Errorf("message = %q, want %q", got.Message, tt.message)
			}
			if got.Message == "" {
				t.Error("empty message")
			}
			if f != clientFault && (strings.Contains(got.Message, "/") || strings.Contains(got.Message, "10.0.0.7") || strings.Contains(got.Message, tt.err.Error())) {
				t.Errorf("internal failure leaks internal text: %q", got.Message)
			}
		})
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *APIError
		body string
	}{
		{name: "bad request", err: errMissingField.with("resourceName"),
			body: `{"__type":"BadRequestException","message":"Missing required field resourceName."}`},
		{name: "not found with resourceType", err: &APIError{Status: 404, Type: NotFound, Message: "App \"a\" not found.", ResourceType: "app"},
			body: `{"__type":"NotFoundException","message":"App \"a\" not found.","resourceType":"app"}`},
		{name: "throttled with limitType", err: &APIError{Status: 429, Type: TooManyRequests, Message: "Slow down.", LimitType: "requests"},
			body: `{"__type":"TooManyRequestsException","message":"Slow down.","limitType":"requests"}`},
		{name: "forbidden", err: errUnsigned.with(),
			body: `{"__type":"MissingAuthenticationTokenException","message":"Missing Authentication Token"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			writeError(w, tt.err)
			if w.Code != tt.err.Status {
				t.Errorf("status = %d, want %d", w.Code, tt.err.Status)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if et := w.Header().Get("X-Amzn-ErrorType"); et != tt.err.Type {
				t.Errorf("X-Amzn-ErrorType = %q, want %q", et, tt.err.Type)
			}
			if got := w.Body.String(); got != tt.body {
				t.Errorf("body = %s, want %s", got, tt.body)
			}
		})
	}
}

// fakeBuckets answers ListS3Buckets without a target.
type fakeBuckets struct {
	buckets []s3iam.Bucket
	err     error
}

func (f fakeBuckets) ListBuckets(context.Context) ([]s3iam.Bucket, error) { return f.buckets, f.err }

// TestErrorsThroughRouter sends requests through New's router and checks
// what a client receives: every answer carries x-amzn-RequestId and every
// failure is a JSON AWS error document whatever layer produced it.
func TestErrorsThroughRouter(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 11, 20, 8, 30, 0, 0, time.FixedZone("CET", 3600))
	newServer := func(b Buckets) http.Handler {
		return New(Config{
			Buckets: b, Keys: caller.StaticKeys{sigTestKeyID: sigTestSecret},
			Now:    func() time.Time { return sigTestNow },
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}
	ok := newServer(fakeBuckets{buckets: []s3iam.Bucket{{Name: "photos-dev", CreationDate: created}, {Name: "no-date"}}})
	failing := newServer(fakeBuckets{err: errors.New("dial tcp 10.0.0.7:9000: connection refused (key AKIDSECRET)")})

	tests := []struct {
		name     string
		srv      http.Handler
		method   string
		path     string
		body     string
		unsigned bool
		status   int
		wantType string // X-Amzn-ErrorType; "" on success
		wantBody string // exact JSON when set
	}{
		{name: "healthz is unsigned", srv: ok, method: http.MethodGet, path: "/healthz", unsigned: true, status: 200, wantBody: `{"status":"ok"}`},
		{name: "unsigned API call", srv: ok, method: http.MethodPost, path: "/s3Buckets", unsigned: true, status: 403, wantType: MissingAuthentication,
			wantBody: `{"__type":"MissingAuthenticationTokenException","message":"Missing Authentication Token"}`},
		{name: "unsigned unknown path", srv: ok, method: http.MethodPost, path: "/nope", unsigned: true, status: 403, wantType: MissingAuthentication},
		{name: "list buckets", srv: ok, method: http.MethodPost, path: "/s3Buckets", body: `{}`, status: 200,
			wantBody: `{"buckets":[{"creationDate":"2026-11-20T07:30:00Z","name":"photos-dev"},{"name":"no-date"}]}`},
		{name: "list buckets with empty body", srv: ok, method: http.MethodPost, path: "/s3Buckets", status: 200},
		{name: "foreign nextToken", srv: ok, method: http.MethodPost, path: "/s3Buckets", body: `{"nextToken":"abc"}`, status: 400, wantType: BadRequest},
		{name: "wrong field type", srv: ok, method: http.MethodPost, path: "/s3Buckets", body: `{"nextToken":5}`, status: 400, wantType: BadRequest,
			wantBody: `{"__type":"BadRequestException","message":"Invalid nextToken: must be a string."}`},
		{name: "job filter naming no job operation", srv: ok, method: http.MethodPost, path: "/backend/app/job/dev", body: `{"operation":"createBackendStorage"}`,
			status: 400, wantType: BadRequest, wantBody: `{"__type":"BadRequestException","message":"Invalid operation \"createBackendStorage\": must be an AmplifyBackend operation name; ` +
				`the jobs this server runs are CreateBackendStorage, ImportBackendStorage, UpdateBackendStorage, DeleteBackendStorage, CreateBackend, CloneBackend, DeleteBackend, RemoveAllBackends."}`},
		{name: "not JSON", srv: ok, method: http.MethodPost, path: "/s3Buckets", body: `{nope`, status: 400, wantType: BadRequest},
		{name: "target failure is a 504 that says nothing of it", srv: failing, method: http.MethodPost, path: "/s3Buckets", body: `{}`, status: 504, wantType: GatewayTimeout,
			wantBody: `{"__type":"GatewayTimeoutException","message":"The storage target did not answer, or failed; retry later. The request ID identifies the failure in the server log."}`},
		{name: "signed unknown path", srv: ok, method: http.MethodPost, path: "/nope", body: `{}`, status: 404, wantType: UnknownOperation},
		{name: "signed wrong method", srv: ok, method: http.MethodGet, path: "/s3Buckets", status: 404, wantType: UnknownOperation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, "http://api.example.com"+tt.path, strings.NewReader(tt.body))
			if !tt.unsigned {
				signAs(t, r, []byte(tt.body), sigTestCreds, "us-west-2", sigTestNow)
			}
			w := httptest.NewRecorder()
			tt.srv.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, body)
			}
			if w.Header().Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId")
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if et := w.Header().Get("X-Amzn-ErrorType"); et != tt.wantType {
				t.Errorf("X-Amzn-ErrorType = %q, want %q", et, tt.wantType)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatalf("body is not JSON: %q", body)
			}
			if tt.wantType != "" && doc["__type"] != tt.wantType {
				t.Errorf("__type = %v, want %s", doc["__type"], tt.wantType)
			}
			if strings.Contains(body, "null") || strings.Contains(body, "AKIDSECRET") {
				t.Errorf("body carries null or internal text: %s", body)
			}
			if tt.wantBody != "" && strings.TrimSpace(body) != tt.wantBody {
				t.Errorf("body = %s, want %s", strings.TrimSpace(body), tt.wantBody)
			}
		})
	}
}
