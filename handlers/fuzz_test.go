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
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/amplifybackendd/amplifybackendd/caller"
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

// quotedValue matches a value an error message quotes (with %q).
var quotedValue = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// FuzzRequestBodies sends arbitrary, correctly signed bodies to every route
// that reads one. Nothing may panic or answer 5xx, every answer is an AWS
// JSON document, and a refused call changes nothing in the store.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{
		`{"backendEnvironmentName":"dev","resourceName":"r","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}}`,
		`{"bucketName":"b-1","serviceName":"S3"}`, `{"resourceName":"r"}`, `{"maxResults":3,"nextToken":"x"}`,
		`{"resourceConfig":{"permissions":{"authenticated":[1]}}}`, `{"status":"CANCELLED"}`, `[]`, `null`, `{`, "",
		`{"resourceName":"\u0000"}`, `{"backendEnvironmentName":"` + strings.Repeat("e", 300) + `"}`,
		`{"backendEnvironmentName":"dev","resourceName":"r` + "\xff" + `","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":[]}}}`,
		`{"resourceConfig":{"permissions":{"authenticated":"READ"}}}`, `{"maxResults":1.5}`, `"x"`, `{"ResourceName":[1]}`,
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
	e := New(Config{Store: st, Runner: runner, Buckets: noBuckets{}, Keys: caller.StaticKeys{fuzzCreds.AccessKeyID: fuzzCreds.SecretAccessKey},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		signAs(t, req, body, fuzzCreds, "us-east-1", time.Now())
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
		// Answers speak of the API, never of the Go code behind it (what
		// they quote of the request aside).
		var answer errorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &answer)
		own := quotedValue.ReplaceAllString(answer.Message, `""`)
		for _, internal := range []string{"Go value", "Go struct", "handlers.", "json:", "reflect"} {
			if strings.Contains(own, internal) {
				t.Fatalf("%s %q: the answer shows Go internals (%q): %s", path, body, internal, rec.Body)
			}
		}
		if rec.Code == http.StatusOK && !utf8.Valid(body) {
			t.Fatalf("%s %q: accepted a body that is not UTF-8", path, body)
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
