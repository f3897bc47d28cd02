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
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

func TestToAPIError(t *testing.T) {
	t.Parallel()
	own := badRequest("Missing required field %s.", "resourceName")
	tests := []struct {
		name         string
		err          error
		status       int
		typ          string
		message      string // exact unless empty
		resourceType string
		limitType    string
		known        bool
	}{
		{name: "APIError passes through", err: own, status: 400, typ: BadRequest, message: "Missing required field resourceName.", known: true},
		{name: "wrapped APIError", err: fmt.Errorf("create: %w", forbidden(InvalidSignature, "nope")), status: 403, typ: InvalidSignature, message: "nope", known: true},
		{name: "NotFoundError", err: &store.NotFoundError{ResourceType: "storage", Message: "No storage resource named \"photos\"."},
			status: 404, typ: NotFound, message: "No storage resource named \"photos\".", resourceType: "storage", known: true},
		{name: "wrapped NotFoundError", err: fmt.Errorf("view: %w", &store.NotFoundError{ResourceType: "job", Message: "Job \"x\" not found."}),
			status: 404, typ: NotFound, message: "Job \"x\" not found.", resourceType: "job", known: true},
		{name: "ErrInvalid", err: store.Errorf(store.ErrInvalid, "Invalid value %q.", "WRITE"), status: 400, typ: BadRequest, message: "Invalid value \"WRITE\".", known: true},
		{name: "ErrAlreadyExists", err: store.Errorf(store.ErrAlreadyExists, "exists"), status: 400, typ: BadRequest, message: "exists", known: true},
		{name: "ErrConflict", err: store.Errorf(store.ErrConflict, "There is already a pending job."), status: 400, typ: BadRequest, message: "There is already a pending job.", known: true},
		{name: "class error wrapped with log context", err: fmt.Errorf("bbolt tx 42 on /var/lib/x: %w", store.Errorf(store.ErrConflict, "busy")),
			status: 400, typ: BadRequest, message: "busy", known: true},
		{name: "ErrNotFound class", err: store.Errorf(store.ErrNotFound, "gone"), status: 404, typ: NotFound, message: "gone", known: true},
		{name: "unsigned", err: &caller.Error{Check: caller.NoAuthorization}, status: 403, typ: MissingAuthentication,
			message: "Missing Authentication Token", known: true},
		{name: "malformed Authorization", err: &caller.Error{Check: caller.MalformedAuthorization}, status: 403, typ: InvalidSignature,
			message: "The Authorization header is not a well-formed AWS4-HMAC-SHA256 signature.", known: true},
		{name: "unknown key", err: &caller.Error{Check: caller.UnknownKey}, status: 403, typ: UnrecognizedClient,
			message: "The security token included in the request is invalid.", known: true},
		{name: "another service", err: &caller.Error{Check: caller.WrongService}, status: 403, typ: InvalidSignature,
			message: "Credential should be scoped to correct service: 'amplifybackend'.", known: true},
		{name: "no date", err: &caller.Error{Check: caller.BadDate}, status: 403, typ: InvalidSignature,
			message: "The request must carry a valid X-Amz-Date header.", known: true},
		{name: "expired", err: &caller.Error{Check: caller.Expired, Stamp: "20261122T115400Z", Now: sigTestNow}, status: 403, typ: InvalidSignature,
			message: "Signature expired: 20261122T115400Z is now earlier than 20261122T115500Z (20261122T120000Z - 5 min.)", known: true},
		{name: "not yet current", err: &caller.Error{Check: caller.NotYetValid, Stamp: "20261122T120600Z", Now: sigTestNow}, status: 403, typ: InvalidSignature,
			message: "Signature not yet current: 20261122T120600Z is still later than 20261122T120500Z (20261122T120000Z + 5 min.)", known: true},
		{name: "date scope", err: &caller.Error{Check: caller.WrongScopeDate}, status: 403, typ: InvalidSignature,
			message: "Credential should be scoped to a valid date matching X-Amz-Date.", known: true},
		{name: "payload hash", err: &caller.Error{Check: caller.PayloadHashMismatch}, status: 403, typ: InvalidSignature,
			message: "The provided x-amz-content-sha256 header does not match the request body.", known: true},
		{name: "signature", err: &caller.Error{Check: caller.SignatureMismatch}, status: 403, typ: InvalidSignature,
			message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.", known: true},
		{name: "body too large", err: &caller.Error{Check: caller.BodyTooLarge}, status: 400, typ: BadRequest,
			message: "The request body is larger than 1 MiB.", known: true},
		{name: "body unreadable", err: &caller.Error{Check: caller.BodyUnreadable, Err: io.ErrUnexpectedEOF}, status: 400, typ: BadRequest,
			message: "The request body could not be read.", known: true},
		{name: "body budget", err: &caller.Error{Check: caller.BodyBudgetSpent, Budget: 65536}, status: 429, typ: TooManyRequests, limitType: BodyBudgetLimit,
			message: "The server holds as many request bodies as it may (65536 bytes in all); retry shortly.", known: true},
		{name: "echo 404", err: echo.ErrNotFound, status: 404, typ: UnknownOperation, known: true},
		{name: "echo 405", err: echo.ErrMethodNotAllowed, status: 404, typ: UnknownOperation, known: true},
		{name: "echo 413", err: echo.ErrStatusRequestEntityTooLarge, status: 400, typ: BadRequest, message: "The request body is larger than 1 MiB.", known: true},
		{name: "echo other 4xx", err: echo.NewHTTPError(http.StatusUnsupportedMediaType, "unsupported"), status: 415, typ: BadRequest, message: "unsupported", known: true},
		{name: "echo 500", err: echo.NewHTTPError(http.StatusInternalServerError, "boom at /srv/secret"), status: 500, typ: InternalFailure, known: false},
		{name: "unknown error", err: errors.New("open /var/lib/amplifybackendd/db: permission denied"), status: 500, typ: InternalFailure, known: false},
		{name: "wrapped plain error", err: fmt.Errorf("oops: %w", errors.New("x")), status: 500, typ: InternalFailure, known: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, known := toAPIError(tt.err)
			if got.Status != tt.status || got.Type != tt.typ || got.ResourceType != tt.resourceType || got.LimitType != tt.limitType || known != tt.known {
				t.Fatalf("toAPIError(%v) = %+v, known=%v; want status %d type %s resourceType %q limitType %q known=%v",
					tt.err, got, known, tt.status, tt.typ, tt.resourceType, tt.limitType, tt.known)
			}
			if tt.message != "" && got.Message != tt.message {
				t.Errorf("message = %q, want %q", got.Message, tt.message)
			}
			if got.Message == "" {
				t.Error("empty message")
			}
			if !known && (strings.Contains(got.Message, "/") || strings.Contains(got.Message, tt.err.Error())) {
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
		{name: "bad request", err: badRequest("Missing required field %s.", "resourceName"),
			body: `{"__type":"BadRequestException","message":"Missing required field resourceName."}`},
		{name: "not found with resourceType", err: &APIError{Status: 404, Type: NotFound, Message: "App \"a\" not found.", ResourceType: "app"},
			body: `{"__type":"NotFoundException","message":"App \"a\" not found.","resourceType":"app"}`},
		{name: "throttled with limitType", err: &APIError{Status: 429, Type: TooManyRequests, Message: "Slow down.", LimitType: "requests"},
			body: `{"__type":"TooManyRequestsException","message":"Slow down.","limitType":"requests"}`},
		{name: "forbidden", err: forbidden(MissingAuthentication, "Missing Authentication Token"),
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
			wantBody: `{"__type":"BadRequestException","message":"Invalid type for field nextToken: expected a string."}`},
		{name: "not JSON", srv: ok, method: http.MethodPost, path: "/s3Buckets", body: `{nope`, status: 400, wantType: BadRequest},
		{name: "target failure is an opaque 500", srv: failing, method: http.MethodPost, path: "/s3Buckets", body: `{}`, status: 500, wantType: InternalFailure,
			wantBody: `{"__type":"InternalFailure","message":"An internal error occurred; the request ID identifies it in the server log."}`},
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
