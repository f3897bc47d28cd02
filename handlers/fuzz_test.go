package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// Fuzz targets: run one with `go test ./handlers -run '^$' -fuzz FuzzRequestBodies
// -fuzztime 30s`; test.sh runs each for a bounded time. Seeds live in
// testdata/fuzz/<Target>/.

// noBuckets answers ListS3Buckets without a target: the fuzzers exercise
// decoding and validation, not S3.
type noBuckets struct{}

func (noBuckets) ListBuckets(context.Context) ([]s3iam.Bucket, error) { return nil, nil }

var fuzzCreds = aws.Credentials{AccessKeyID: "AKIAFUZZFUZZFUZZFUZZ", SecretAccessKey: "fuzz-secret"}

// fuzzRoutes are the routes that take a body, with concrete paths.
var fuzzRoutes = []string{
	"/backend/app/storage",
	"/backend/app/storage/dev/import",
	"/backend/app/storage/dev/details",
	"/backend/app/storage/dev",
	"/backend/app/storage/dev/remove",
	"/s3Buckets",
	"/backend/app/job/dev",
	"/backend/app/job/dev/00000000-0000-0000-0000-000000000000",
	"/backend/app/details",
}

// storeState is a summary that any accepted change alters.
func storeState(t testing.TB, st *store.Store) string {
	var b strings.Builder
	err := st.View(context.Background(), func(tx *store.Tx) error {
		rs, err := tx.Resources("app", "")
		if err != nil {
			return err
		}
		for _, r := range rs {
			b.WriteString(r.Name + "|" + strings.Join(r.Desired.Authenticated, ",") + "|" + strings.Join(r.Desired.Unauthenticated, ",") + ";")
		}
		b.WriteString(strings.Join(tx.PendingJobs(), ","))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// FuzzRequestBodies sends arbitrary, correctly signed bodies to every route
// that reads one. Nothing may panic or answer 5xx, every answer is an AWS
// JSON document, and a refused call changes nothing in the store.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{
		`{"backendEnvironmentName":"dev","resourceName":"r","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}}`,
		`{"bucketName":"b-1","serviceName":"S3"}`, `{"resourceName":"r"}`, `{"maxResults":3,"nextToken":"x"}`,
		`{"resourceConfig":{"permissions":{"authenticated":[1]}}}`, `{"status":"CANCELLED"}`, `[]`, `null`, `{`, "",
		`{"resourceName":"\u0000"}`, `{"backendEnvironmentName":"` + strings.Repeat("e", 300) + `"}`,
	} {
		for i := range fuzzRoutes {
			f.Add(uint8(i), []byte(seed))
		}
	}
	st, err := store.Open(filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	runner := jobs.New(st, nil, jobs.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}) // never run: accepting only
	e := New(Config{Store: st, Runner: runner, Buckets: noBuckets{}, Keys: StaticKeys{fuzzCreds.AccessKeyID: fuzzCreds.SecretAccessKey},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	signer := v4.NewSigner()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		sum := sha256.Sum256(body)
		if err := signer.SignHTTP(context.Background(), fuzzCreds, req, hex.EncodeToString(sum[:]), SigningName, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		before := storeState(t, st)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: answer is not JSON: %v", path, rec.Header())
		}
		if rec.Code != http.StatusOK && storeState(t, st) != before {
			t.Fatalf("%s %q was refused (%d) but changed the store", path, body, rec.Code)
		}
	})
}

// FuzzVerifySignature feeds arbitrary Authorization and X-Amz-Date values,
// paths and bodies to the verifier: it must never panic, and it accepts a
// request only when the signature really is the key's.
func FuzzVerifySignature(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAFUZZFUZZFUZZFUZZ/20260101/us-east-1/amplifybackend/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20260101T000000Z", "/s3Buckets", []byte("{}"))
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=, Signature=", "", "/backend/a%2Fb/details", []byte(nil))
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAFUZZFUZZFUZZFUZZ/x/y/amplifybackend/aws4_request,SignedHeaders=content-length;host,Signature=zz", "x", "/", []byte("a"))
	f.Add("Bearer token", "20260101T000000Z", "/s3Buckets", []byte("{}"))
	signer := v4.NewSigner()
	keys := StaticKeys{fuzzCreds.AccessKeyID: fuzzCreds.SecretAccessKey}
	f.Fuzz(func(t *testing.T, auth, date, path string, body []byte) {
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/", bytes.NewReader(body))
		if err != nil {
			return
		}
		req.URL.Path, req.URL.RawPath = path, ""
		req.Header.Set("Authorization", auth)
		req.Header.Set("X-Amz-Date", date)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if apiErr := verifySignature(context.Background(), signer, req, body, keys, now); apiErr == nil {
			// Accepted: it must be exactly what the real key signs.
			cp := req.Clone(context.Background())
			cp.Header.Del("Authorization")
			sum := sha256.Sum256(body)
			at, _ := time.Parse("20060102T150405Z", date)
			a, _ := parseAuthorization(auth)
			if err := signer.SignHTTP(context.Background(), fuzzCreds, cp, hex.EncodeToString(sum[:]), SigningName, a.region, at); err != nil {
				t.Fatal(err)
			}
			if got, _ := parseAuthorization(cp.Header.Get("Authorization")); got.signature != a.signature {
				t.Fatalf("accepted a forged signature: %q", auth)
			}
		}
	})
}

// FuzzToken decodes arbitrary tokens: never a panic, and any token accepted
// must be exactly the one the server would issue for its cursor.
func FuzzToken(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	f.Add(encodeToken(key, []byte("app\x00dev\x00\x01\x02"), "b"), "b")
	f.Add("", "b")
	f.Add("!!!", "")
	f.Add(strings.Repeat("A", 40), "b")
	f.Fuzz(func(t *testing.T, token, binding string) {
		cursor, err := decodeToken(key, token, binding)
		if err != nil {
			return
		}
		if again := encodeToken(key, cursor, binding); again != strings.TrimSpace(token) {
			t.Fatalf("accepted %q, which the server would write as %q", token, again)
		}
	})
}
