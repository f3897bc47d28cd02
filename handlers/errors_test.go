package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/labstack/echo/v4"

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
			if got.Status != tt.status || got.Type != tt.typ || got.ResourceType != tt.resourceType || known != tt.known {
				t.Fatalf("toAPIError(%v) = %+v, known=%v; want status %d type %s resourceType %q known=%v",
					tt.err, got, known, tt.status, tt.typ, tt.resourceType, tt.known)
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
			Buckets: b, Keys: StaticKeys{sigTestKeyID: sigTestSecret},
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
				sum := sha256.Sum256([]byte(tt.body))
				if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: sigTestKeyID, SecretAccessKey: sigTestSecret},
					r, hex.EncodeToString(sum[:]), SigningName, "us-west-2", sigTestNow); err != nil {
					t.Fatal(err)
				}
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

func TestExactCaseKeys(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		`{"resourceName":"x"}`:                             true,
		`{"ResourceName":"x"}`:                             false,
		`{"resourceConfig":{"Permissions":{}}}`:            false,
		`{"unknownField":1,"resourceName":"Resourcename"}`: true,  // values are not keys
		`{"resource\u004eame":"x"}`:                        false, // escaped keys take the careful path
		`{"a":"b\"c","resourceName" :"x"}`:                 true,
		`not json`:                                         true,
		`{"resourceName"`:                                  true,
	}
	for body, want := range cases {
		if got := exactCaseKeys([]byte(body)); got != want {
			t.Errorf("%s: %v, want %v", body, got, want)
		}
	}
}
