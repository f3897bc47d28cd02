// Package objectstest tests the console's file browser routes through the
// real router, against an embedded gateway of their own. They live apart
// from package handlers because Versity's posix backend changes the
// process's working directory, which the handlers tests read files
// relative to; and like a browser, they know the routes only by their JSON.
package objectstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/embedded"
	"github.com/amplifybackendd/amplifybackendd/embedded/embeddedtest"
	"github.com/amplifybackendd/amplifybackendd/handlers"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// gateway is the embedded S3 gateway of this test binary (Versity allows
// one per process); tests keep apart by bucket.
var gateway *embedded.Server

const (
	gatewayRoot, gatewaySecret = "OBJECTSTESTROOT", "objects-test-root-secret-0123456789"
	// testConsoleOrigin is the origin the gateway answers CORS for on
	// buckets without rules of their own.
	testConsoleOrigin   = "http://console.test:8080"
	apiKeyID, apiSecret = "AKIDOBJECTSTEST", "objects-test-api-secret"
)

// signedAt is the server's clock and the time requests are signed at.
var signedAt = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	os.Exit(embeddedtest.MainWith(m, embedded.Config{AccessKey: gatewayRoot, SecretKey: gatewaySecret, CORSAllowOrigin: testConsoleOrigin},
		func(gw *embedded.Server) error { gateway = gw; return nil }))
}

// The answers as a client reads them.
type (
	apiError struct {
		Type         string `json:"__type"`
		Message      string `json:"message"`
		ResourceType string `json:"resourceType"`
	}
	header    struct{ Name, Value string }
	presigned struct {
		BucketName, Key, URL, Method, ExpiresAt, LastModified, ContentType string
		Headers                                                            []header
		Size                                                               *int64
	}
	object struct {
		Key, LastModified, ETag, ContentType string
		Size                                 int64
	}
	listing struct {
		BucketName, Prefix, NextContinuationToken string
		Folders                                   []string
		Objects                                   []object
	}
	multipart struct{ BucketName, Key, UploadID string }
	partURLs  struct {
		Parts []struct {
			PartNumber  int
			URL, Method string
		}
	}
	completed   struct{ Key, ETag string }
	deleteError struct{ Key, Code, Message string }
	deleted     struct {
		Deleted int
		Errors  []deleteError
	}
)

// objectsEnv is one storage resource whose bucket is on the test gateway,
// served by the real router with the real target behind it.
type objectsEnv struct {
	t      *testing.T
	srv    http.Handler
	s3     *s3.Client // the gateway's root, to look behind the API
	bucket string
	base   string // the resource's objects path
}

// newObjectsEnv makes bucket (with Amplify's CORS rule when cors) and a
// resource "files" of app "app", environment "dev" on it. objects, when
// not nil, wraps the target to inject faults.
func newObjectsEnv(t *testing.T, bucket string, cors bool, objects func(handlers.Objects) handlers.Objects) *objectsEnv {
	t.Helper()
	ctx := t.Context()
	tg, err := s3iam.New(ctx, s3iam.Config{Region: gateway.Region, S3Endpoint: gateway.S3Endpoint, IAMEndpoint: gateway.IAMEndpoint,
		AccessKey: gatewayRoot, SecretKey: gatewaySecret})
	if err != nil {
		t.Fatal(err)
	}
	// A connection per putting goroutine, kept: the SDK's default pool
	// keeps few, and reconnecting costs more than an empty PutObject.
	pool := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: putters}}
	t.Cleanup(pool.CloseIdleConnections)
	root := s3.New(s3.Options{Region: gateway.Region, BaseEndpoint: aws.String(gateway.S3Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(gatewayRoot, gatewaySecret, ""), HTTPClient: pool})
	if _, err := tg.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	if cors {
		if _, err := tg.EnsureCORSRule(ctx, bucket, jobs.AmplifyCORSRule); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	err = st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.InsertJob(store.Job{ID: "j1", AppID: "app", Env: "dev", Resource: "files", Operation: store.OpCreate,
			Status: store.StatusCompleted, CreateTime: now, UpdateTime: now}); err != nil {
			return err
		}
		return tx.CreateResource(store.Resource{ResourceKey: store.ResourceKey{AppID: "app", Env: "dev", Name: "files"}, Bucket: bucket,
			Phase: store.PhaseActive, CreateTime: now, UpdateTime: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	var obj handlers.Objects = tg
	if objects != nil {
		obj = objects(tg)
	}
	srv := handlers.New(handlers.Config{Store: st, Objects: obj, Keys: caller.StaticKeys{apiKeyID: apiSecret},
		Now: func() time.Time { return signedAt }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return &objectsEnv{t: t, srv: srv, s3: root, bucket: bucket, base: "/console-api/apps/app/environments/dev/storage/files/objects"}
}

// call makes a signed POST of body (JSON-encoded unless it is []byte) to
// the route op (a path after .../objects/) and decodes the JSON answer into
// out, when given.
func (e *objectsEnv) call(op string, body any, out any) *httptest.ResponseRecorder {
	e.t.Helper()
	raw, ok := body.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+e.base+"/"+op, bytes.NewReader(raw))
	sum := sha256.Sum256(raw)
	if err := v4.NewSigner().SignHTTP(e.t.Context(), aws.Credentials{AccessKeyID: apiKeyID, SecretAccessKey: apiSecret},
		caller.SigningCopy(r), hex.EncodeToString(sum[:]), caller.SigningName, "us-east-1", signedAt); err != nil {
		e.t.Fatal(err)
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	if out != nil && w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			e.t.Fatalf("%s: %v: %s", op, err, w.Body)
		}
	}
	return w
}

// mustCall is call for a request that must succeed.
func (e *objectsEnv) mustCall(op string, body any, out any) {
	e.t.Helper()
	if w := e.call(op, body, out); w.Code != http.StatusOK {
		e.t.Fatalf("%s %v: %d %s", op, body, w.Code, w.Body)
	}
}

// keys lists every key of the bucket and every multipart upload in it, as
// the gateway's root sees them.
func (e *objectsEnv) keys() (keys, uploads []string) {
	e.t.Helper()
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String(e.bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(e.t.Context())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	up, err := e.s3.ListMultipartUploads(e.t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, u := range up.Uploads {
		uploads = append(uploads, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
	}
	return keys, uploads
}

// putters is how many PutObject calls put makes at once.
const putters = 32

// put stores n empty objects named prefix + a zero-padded number, putters
// at a time.
func (e *objectsEnv) put(prefix string, n int) {
	e.t.Helper()
	work := make(chan int)
	errs := make(chan error, putters)
	var wg sync.WaitGroup
	for range putters {
		wg.Go(func() {
			for i := range work {
				if _, err := e.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.bucket),
					Key: aws.String(fmt.Sprintf("%s%05d.txt", prefix, i)), Body: bytes.NewReader(nil)}); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		e.t.Fatal(err)
	default:
	}
}

// send makes an anonymous request, as a browser holding a presigned URL
// does, and returns the answer with its body read.
func send(t *testing.T, method, url string, header map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

func headers(p presigned) map[string]string {
	h := map[string]string{}
	for _, x := range p.Headers {
		h[x.Name] = x.Value
	}
	return h
}

// TestObjectKeysValidated sends hostile keys, prefixes and scopes to every
// file browser route: each is a 400 naming the field and the rule, and
// neither the bucket nor its uploads change.
func TestObjectKeysValidated(t *testing.T) {
	t.Parallel()
	e := newObjectsEnv(t, "handlers-hostile-keys", true, nil)
	e.put("public/seed-", 2)
	e.put("private/other-id/seed-", 1)
	beforeKeys, beforeUploads := e.keys()

	pub := map[string]any{"accessLevel": "public"}
	mine := map[string]any{"accessLevel": "private", "identityId": "us-east-1:me"}
	with := func(scope map[string]any, kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range scope {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	hostile := []struct {
		key   string
		scope map[string]any
		rule  string
	}{
		{"../x", pub, `"." or ".."`},
		{"public/../private/other-id/seed-00000.txt", pub, `"." or ".."`},
		{"public/./x", pub, `"." or ".."`},
		{"public/..", pub, `"." or ".."`},
		{"public/x/../../private/a", pub, `"." or ".."`},
		{"/public/x", pub, `must not start with "/"`},
		{"public\\..\\private\\x", pub, "backslash"},
		{"public/x\x00y", pub, "control characters"},
		{"public/a\nb", pub, "control characters"},
		{"public/a\u0085b", pub, "control characters"},
		{"public/a\x7fb", pub, "control characters"},
		{"public//x", pub, `empty path segment`},
		{"public/" + strings.Repeat("a", 1018), pub, "1024 bytes"},
		{"protected/x", pub, `under "public/"`},
		{"other-bucket/public/x", pub, `under "public/"`},
		{"publicity/x", pub, `under "public/"`},
		{"private/other-id/seed-00000.txt", mine, `under "private/us-east-1:me/"`},
		{"private/us-east-1:me", mine, `under "private/us-east-1:me/"`},
		{"public/", pub, "not the folder itself"},
		{"", map[string]any{"accessLevel": "all"}, "must name an object"},
	}
	// Each route that takes a key, with the other fields it needs valid.
	routes := []struct {
		op    string
		extra []any
	}{
		{"upload", nil},
		{"download", nil},
		{"multipart", nil},
		{"multipart/parts", []any{"uploadId", "u1", "partNumbers", []int{1}}},
		{"multipart/complete", []any{"uploadId", "u1", "parts", []map[string]any{{"partNumber": 1, "eTag": `"e"`}}}},
		{"multipart/abort", []any{"uploadId", "u1"}},
		{"delete", nil},
	}
	check := func(what string, w *httptest.ResponseRecorder, field, rule string) {
		t.Helper()
		var body apiError
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusBadRequest || body.Type != handlers.BadRequest || !strings.Contains(body.Message, "Invalid "+field) || !strings.Contains(body.Message, rule) {
			t.Errorf("%s: %d %s, want 400 naming %s and %q", what, w.Code, w.Body, field, rule)
		}
	}
	for _, h := range hostile {
		for _, r := range routes {
			check(fmt.Sprintf("%s %q", r.op, h.key), e.call(r.op, with(h.scope, append([]any{"key", h.key}, r.extra...)...), nil), "key", h.rule)
		}
		if h.key == "" || strings.HasSuffix(h.rule, "itself") {
			continue // a prefix may be the level's own folder
		}
		check(fmt.Sprintf("list %q", h.key), e.call("list", with(h.scope, "prefix", h.key), nil), "prefix", h.rule)
		if !strings.HasSuffix(h.key, "/") {
			h.key += "/"
		}
		if h.key == "private/us-east-1:me/" {
			continue // that is the level's own folder
		}
		w := e.call("delete", with(h.scope, "prefix", h.key), nil)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "Invalid prefix") {
			t.Errorf("delete prefix %q: %d %s", h.key, w.Code, w.Body)
		}
	}

	// The scope itself.
	for _, tt := range []struct {
		body        map[string]any
		field, rule string
	}{
		{map[string]any{"key": "public/x"}, "accessLevel", "Missing required field accessLevel"},
		{map[string]any{"accessLevel": "secret", "key": "public/x"}, "accessLevel", "must be one of public, protected, private, uploads, all"},
		{map[string]any{"accessLevel": "private", "identityId": "..", "key": "private/x"}, "identityId", "letters, digits"},
		{map[string]any{"accessLevel": "private", "identityId": "a/b", "key": "private/a/b/x"}, "identityId", "letters, digits"},
		{map[string]any{"accessLevel": "protected", "identityId": "id\n", "key": "protected/id/x"}, "identityId", "letters, digits"},
		{map[string]any{"accessLevel": "public", "identityId": "me", "key": "public/x"}, "identityId", "only accessLevel protected and private"},
		{map[string]any{"accessLevel": "public", "key": "public/x", "expiresIn": 59}, "expiresIn", "between 60 and 604800"},
		{map[string]any{"accessLevel": "public", "key": "public/x", "expiresIn": 604801}, "expiresIn", "between 60 and 604800"},
		// 3600 + 2^55 seconds: in nanoseconds it wraps to exactly an hour.
		{map[string]any{"accessLevel": "public", "key": "public/x", "expiresIn": 3600 + 1<<55}, "expiresIn", "between 60 and 604800"},
		{map[string]any{"accessLevel": "public", "key": "public/x", "contentType": "text/plain\r\nX-Evil: 1"}, "contentType", "printable ASCII"},
		{map[string]any{"accessLevel": "public", "key": 7}, "key", "must be"},
	} {
		w := e.call("upload", tt.body, nil)
		var body apiError
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusBadRequest || !strings.Contains(body.Message, tt.field) || !strings.Contains(body.Message, tt.rule) {
			t.Errorf("upload %v: %d %s, want 400 naming %s and %q", tt.body, w.Code, w.Body, tt.field, tt.rule)
		}
	}
	for _, tt := range []struct {
		op   string
		body map[string]any
		rule string
	}{
		{"list", with(pub, "delimiter", "|"), `Invalid delimiter "|": must be "/" or empty`},
		{"list", with(pub, "maxKeys", 1001), "Invalid maxKeys 1001: must be between 1 and 1000"},
		{"delete", with(pub, "prefix", "public/dir"), `must name a folder: end in "/"`},
		{"delete", with(pub, "prefix", "public/dir/", "key", "public/x"), "exactly one of key"},
		{"delete", pub, "exactly one of key"},
		{"multipart/parts", with(pub, "key", "public/x", "uploadId", "u1", "partNumbers", []int{10001}), "between 1 and 10000"},
		{"multipart/parts", with(pub, "key", "public/x", "uploadId", "u1", "partNumbers", []int{}), "1 to 1000 part numbers"},
		{"multipart/parts", with(pub, "key", "public/x", "uploadId", "a b", "partNumbers", []int{1}), "Invalid uploadId"},
		{"multipart/complete", with(pub, "key", "public/x", "uploadId", "u1", "parts", []map[string]any{{"partNumber": 2, "eTag": "a"}, {"partNumber": 1, "eTag": "b"}}), "ascending"},
		{"multipart/abort", with(pub, "key", "public/x"), "Missing required field uploadId"},
		// An upload id becomes part of a path on posix targets (Versity).
		{"multipart/parts", with(pub, "key", "public/x", "uploadId", "../../../tmp", "partNumbers", []int{1}), "Invalid uploadId"},
		{"multipart/complete", with(pub, "key", "public/x", "uploadId", "..", "parts", []map[string]any{{"partNumber": 1, "eTag": "e"}}), "Invalid uploadId"},
		{"multipart/abort", with(pub, "key", "public/x", "uploadId", "../../../tmp"), "Invalid uploadId"},
		{"multipart/abort", with(pub, "key", "public/x", "uploadId", "."), "Invalid uploadId"},
		{"multipart/abort", with(pub, "key", "public/x", "uploadId", `..\x`), "Invalid uploadId"},
	} {
		w := e.call(tt.op, tt.body, nil)
		var body apiError
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusBadRequest || !strings.Contains(body.Message, tt.rule) {
			t.Errorf("%s %v: %d %s, want 400 with %q", tt.op, tt.body, w.Code, w.Body, tt.rule)
		}
	}

	// JSON encoders replace bytes that are not UTF-8; a raw body keeps them.
	if w := e.call("upload", []byte("{\"accessLevel\":\"public\",\"key\":\"public/\xff\"}"), nil); w.Code != http.StatusBadRequest ||
		!strings.Contains(w.Body.String(), "Invalid key: must be valid UTF-8") {
		t.Errorf("key not UTF-8: %d %s", w.Code, w.Body)
	}

	afterKeys, afterUploads := e.keys()
	if !slices.Equal(beforeKeys, afterKeys) || !slices.Equal(beforeUploads, afterUploads) {
		t.Errorf("refused requests changed the bucket: keys %v -> %v, uploads %v -> %v", beforeKeys, afterKeys, beforeUploads, afterUploads)
	}

	// The same routes take good keys: the refusals above are the keys'.
	var p presigned
	e.mustCall("upload", with(mine, "key", "private/us-east-1:me/a b/ü.txt"), &p)
	e.mustCall("download", with(pub, "key", "public/seed-00000.txt"), &p)

	// A resource that does not exist is a 404, whatever the body.
	e.base = "/console-api/apps/app/environments/dev/storage/nope/objects"
	if w := e.call("list", pub, nil); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"resourceType":"storage"`) {
		t.Errorf("unknown resource: %d %s", w.Code, w.Body)
	}
}

// TestListObjectsPages lists a bucket of 10,000 objects page by page: every
// key once, in order, S3's continuation token passed through, each call
// one page; and the folder view of its level.
func TestListObjectsPages(t *testing.T) {
	t.Parallel()
	const n = 10000
	e := newObjectsEnv(t, "handlers-ten-thousand", true, nil)
	start := time.Now()
	e.put("public/many/", n)
	e.put("public/top-", 3)
	t.Logf("put %d empty objects in %v", n+3, time.Since(start).Round(time.Millisecond))

	var seen []string
	token := ""
	pages := 0
	var slowest time.Duration
	for {
		body := map[string]any{"accessLevel": "public", "prefix": "public/many/", "delimiter": ""}
		if token != "" {
			body["continuationToken"] = token
		}
		var page listing
		began := time.Now()
		e.mustCall("list", body, &page)
		took := time.Since(began)
		slowest = max(slowest, took)
		t.Logf("page %d: %v", pages+1, took.Round(time.Microsecond))
		pages++
		if len(page.Objects) > handlers.MaxListKeys || len(page.Folders) != 0 || page.Prefix != "public/many/" || page.BucketName != e.bucket {
			t.Fatalf("page %d: %d objects, folders %v, prefix %q", pages, len(page.Objects), page.Folders, page.Prefix)
		}
		for _, o := range page.Objects {
			if o.ContentType != "text/plain" || o.Size != 0 || o.LastModified == "" || o.ETag == "" {
				t.Fatalf("object %+v", o)
			}
			seen = append(seen, o.Key)
		}
		if token = page.NextContinuationToken; token == "" {
			break
		}
		if pages > n/handlers.MaxListKeys+1 {
			t.Fatalf("more than %d pages", pages)
		}
	}
	t.Logf("listed %d keys in %d pages; slowest page %v", len(seen), pages, slowest.Round(time.Microsecond))
	if len(seen) != n || !slices.IsSorted(seen) || slices.Compact(slices.Clone(seen)) == nil || len(slices.Compact(slices.Clone(seen))) != n {
		t.Fatalf("saw %d keys (sorted %v), want %d once each", len(seen), slices.IsSorted(seen), n)
	}
	if pages != n/handlers.MaxListKeys {
		t.Errorf("%d pages, want %d of %d", pages, n/handlers.MaxListKeys, handlers.MaxListKeys)
	}

	// A smaller page size, and the folder view of the whole level.
	var small listing
	e.mustCall("list", map[string]any{"accessLevel": "public", "prefix": "public/many/", "maxKeys": 7}, &small)
	if len(small.Objects) != 7 || small.NextContinuationToken == "" {
		t.Errorf("maxKeys 7: %d objects, token %q", len(small.Objects), small.NextContinuationToken)
	}
	var level listing
	e.mustCall("list", map[string]any{"accessLevel": "public"}, &level)
	var top []string
	for _, o := range level.Objects {
		top = append(top, o.Key)
	}
	if !slices.Equal(level.Folders, []string{"public/many/"}) || !slices.Equal(top, []string{"public/top-00000.txt", "public/top-00001.txt", "public/top-00002.txt"}) ||
		level.NextContinuationToken != "" || level.Prefix != "public/" {
		t.Errorf("folder view: folders %v, objects %v, token %q", level.Folders, top, level.NextContinuationToken)
	}
	// "all" sees the level as a folder of the bucket.
	var all listing
	e.mustCall("list", map[string]any{"accessLevel": "all"}, &all)
	if !slices.Equal(all.Folders, []string{"public/"}) || len(all.Objects) != 0 {
		t.Errorf("all: %+v", all)
	}
}

// TestPresignedPutAndGet uploads and downloads with plain net/http and no
// credentials, as a browser does with the URLs the server signs.
func TestPresignedPutAndGet(t *testing.T) {
	t.Parallel()
	e := newObjectsEnv(t, "handlers-presigned", true, nil)
	content := []byte("hello from a browser\n")

	var up presigned
	e.mustCall("upload", map[string]any{"accessLevel": "protected", "identityId": "us-east-1:abc", "key": "protected/us-east-1:abc/notes/hello.txt",
		"contentType": "text/plain; charset=utf-8", "expiresIn": 300}, &up)
	if up.Method != http.MethodPut || up.Key != "protected/us-east-1:abc/notes/hello.txt" || up.BucketName != e.bucket || up.ExpiresAt == "" {
		t.Fatalf("upload answer %+v", up)
	}
	if !strings.HasPrefix(up.URL, gateway.S3Endpoint+"/"+e.bucket+"/") || !strings.Contains(up.URL, "X-Amz-Expires=300") || strings.Contains(up.URL, "checksum") {
		t.Errorf("URL %s", up.URL)
	}
	// Without the Content-Type it was signed with, S3 refuses the PUT.
	if resp, raw := send(t, http.MethodPut, up.URL, nil, content); resp.StatusCode != http.StatusForbidden {
		t.Errorf("PUT without the signed Content-Type: %d %s", resp.StatusCode, raw)
	}
	resp, raw := send(t, http.MethodPut, up.URL, headers(up), content)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
		t.Fatalf("PUT: %d %s", resp.StatusCode, raw)
	}

	var down presigned
	e.mustCall("download", map[string]any{"accessLevel": "protected", "identityId": "us-east-1:abc", "key": "protected/us-east-1:abc/notes/hello.txt",
		"expiresIn": 604800, "attachment": true}, &down)
	if down.Method != http.MethodGet || down.ContentType != "text/plain; charset=utf-8" || down.Size == nil || *down.Size != int64(len(content)) || down.LastModified == "" {
		t.Fatalf("download answer %+v", down)
	}
	resp, raw = send(t, http.MethodGet, down.URL, headers(down), nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(raw, content) || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="hello.txt"; filename*=UTF-8''hello.txt` {
		t.Errorf("GET: %d %v %q", resp.StatusCode, resp.Header, raw)
	}
	// A tampered URL is refused: the signature covers the key.
	if resp, _ := send(t, http.MethodGet, strings.Replace(down.URL, "hello.txt", "other.txt", 1), nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("tampered URL: %d", resp.StatusCode)
	}
	// No link for an object that is not there.
	w := e.call("download", map[string]any{"accessLevel": "public", "key": "public/missing.txt"}, nil)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"resourceType":"object"`) || !strings.Contains(w.Body.String(), "public/missing.txt") {
		t.Errorf("missing object: %d %s", w.Code, w.Body)
	}
}

// TestMultipartUpload: create, presigned parts PUT by plain net/http,
// complete gives the object byte for byte; an aborted upload leaves
// nothing behind, and aborting again is harmless.
func TestMultipartUpload(t *testing.T) {
	t.Parallel()
	e := newObjectsEnv(t, "handlers-multipart", true, nil)
	const key = "uploads/big.bin"
	scope := map[string]any{"accessLevel": "uploads", "key": key}
	with := func(kv ...any) map[string]any {
		m := map[string]any{"accessLevel": "uploads", "key": key}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	data := make([]byte, 11<<20)
	_, _ = rand.Read(data)
	parts := [][]byte{data[:5<<20], data[5<<20 : 10<<20], data[10<<20:]}

	var mp multipart
	e.mustCall("multipart", with("contentType", "application/octet-stream"), &mp)
	if mp.UploadID == "" || mp.Key != key {
		t.Fatalf("create: %+v", mp)
	}
	var urls partURLs
	e.mustCall("multipart/parts", with("uploadId", mp.UploadID, "partNumbers", []int{1, 2, 3}), &urls)
	if len(urls.Parts) != 3 {
		t.Fatalf("parts: %+v", urls)
	}
	var done []map[string]any
	for i, p := range urls.Parts {
		if p.PartNumber != i+1 || p.Method != http.MethodPut {
			t.Fatalf("part %d: %+v", i, p)
		}
		resp, raw := send(t, p.Method, p.URL, nil, parts[i])
		if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
			t.Fatalf("part %d: %d %s", p.PartNumber, resp.StatusCode, raw)
		}
		done = append(done, map[string]any{"partNumber": p.PartNumber, "eTag": resp.Header.Get("ETag")})
	}
	// A wrong ETag is the target's refusal, passed on as such, ending in
	// one full stop where the target's message ends in its own.
	bad := slices.Clone(done)
	bad[1] = map[string]any{"partNumber": 2, "eTag": `"00000000000000000000000000000000"`}
	if w := e.call("multipart/complete", with("uploadId", mp.UploadID, "parts", bad), nil); w.Code != http.StatusBadRequest ||
		!strings.Contains(w.Body.String(), "The storage target refused the request: InvalidPart") || strings.Contains(w.Body.String(), `.."`) {
		t.Errorf("complete with a wrong ETag: %d %s", w.Code, w.Body)
	}
	var complete completed
	e.mustCall("multipart/complete", with("uploadId", mp.UploadID, "parts", done), &complete)
	if complete.Key != key || complete.ETag == "" {
		t.Errorf("complete: %+v", complete)
	}
	got, err := e.s3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || !bytes.Equal(body, data) {
		t.Fatalf("object: %d bytes, equal %v, %v", len(body), bytes.Equal(body, data), err)
	}

	// Cancelled: one part uploaded, then aborted.
	e.mustCall("multipart", scope, &mp)
	e.mustCall("multipart/parts", with("uploadId", mp.UploadID, "partNumbers", []int{1}), &urls)
	if resp, raw := send(t, http.MethodPut, urls.Parts[0].URL, nil, parts[0]); resp.StatusCode != http.StatusOK {
		t.Fatalf("part: %d %s", resp.StatusCode, raw)
	}
	if _, uploads := e.keys(); len(uploads) != 1 {
		t.Fatalf("uploads in progress: %v", uploads)
	}
	e.mustCall("multipart/abort", with("uploadId", mp.UploadID), nil)
	if _, uploads := e.keys(); len(uploads) != 0 {
		t.Errorf("after abort, uploads in progress: %v", uploads)
	}
	e.mustCall("multipart/abort", with("uploadId", mp.UploadID), nil)
}

// failingDeletes is the real target except that DeleteObjects reports the
// keys in fail as not deleted: a per-key refusal the gateway cannot be
// made to give on demand.
type failingDeletes struct {
	handlers.Objects
	fail map[string]bool
}

func (f failingDeletes) DeleteObjects(ctx context.Context, bucket string, keys []string) ([]s3iam.DeleteFailure, error) {
	var pass []string
	var failed []s3iam.DeleteFailure
	for _, k := range keys {
		if f.fail[k] {
			failed = append(failed, s3iam.DeleteFailure{Key: k, Code: "AccessDenied", Message: "Access Denied"})
		} else {
			pass = append(pass, k)
		}
	}
	more, err := f.Objects.DeleteObjects(ctx, bucket, pass)
	return append(failed, more...), err
}

// TestDeleteFolder deletes a folder of more keys than one DeleteObjects
// call takes, leaving its neighbours, and reports each key not deleted.
func TestDeleteFolder(t *testing.T) {
	t.Parallel()
	stuck := "public/dir/00007.txt"
	e := newObjectsEnv(t, "handlers-delete-folder", true, func(o handlers.Objects) handlers.Objects {
		return failingDeletes{Objects: o, fail: map[string]bool{stuck: true}}
	})
	e.put("public/dir/", 1500)
	e.put("public/dir/sub/", 3)
	e.put("public/dirx-", 2)

	var resp deleted
	e.mustCall("delete", map[string]any{"accessLevel": "public", "prefix": "public/dir/"}, &resp)
	if resp.Deleted != 1502 || len(resp.Errors) != 1 || resp.Errors[0] != (deleteError{Key: stuck, Code: "AccessDenied", Message: "Access Denied"}) {
		t.Errorf("delete folder: deleted %d, errors %+v", resp.Deleted, resp.Errors)
	}
	keys, _ := e.keys()
	if want := []string{stuck, "public/dirx-00000.txt", "public/dirx-00001.txt"}; !slices.Equal(keys, want) {
		t.Errorf("left %v, want %v", keys, want)
	}
	// One object; a key already gone counts as deleted, as S3 says.
	e.mustCall("delete", map[string]any{"accessLevel": "public", "key": "public/dirx-00000.txt"}, &resp)
	if resp.Deleted != 1 || len(resp.Errors) != 0 {
		t.Errorf("delete key: %+v", resp)
	}
	e.mustCall("delete", map[string]any{"accessLevel": "public", "key": "public/dirx-00000.txt"}, &resp)
	if keys, _ := e.keys(); !slices.Equal(keys, []string{stuck, "public/dirx-00001.txt"}) {
		t.Errorf("left %v", keys)
	}
}

// TestBrowserReachesGateway: the console's CSP lets it reach the target's
// S3 origin, and the gateway answers a browser's CORS preflight for the
// console's origin, on a bucket with Amplify's CORS rule and on one with no
// rule, exposing ETag (which completing a multipart upload needs).
func TestBrowserReachesGateway(t *testing.T) {
	t.Parallel()
	e := newObjectsEnv(t, "handlers-cors-rule", true, nil)
	bare := newObjectsEnv(t, "handlers-cors-none", false, nil)

	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/console/", nil))
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self' "+gateway.S3Endpoint+";") || !strings.Contains(csp, "img-src 'self' data: "+gateway.S3Endpoint+";") {
		t.Errorf("CSP %q does not allow %s", csp, gateway.S3Endpoint)
	}

	for _, env := range []*objectsEnv{e, bare} {
		url := gateway.S3Endpoint + "/" + env.bucket + "/public/x.txt"
		resp, raw := send(t, http.MethodOptions, url, map[string]string{"Origin": testConsoleOrigin,
			"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}, nil)
		if resp.StatusCode/100 != 2 || !slices.Contains([]string{"*", testConsoleOrigin}, resp.Header.Get("Access-Control-Allow-Origin")) ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PUT") ||
			!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "content-type") &&
				resp.Header.Get("Access-Control-Allow-Headers") != "*" {
			t.Errorf("%s preflight: %d %v %s", env.bucket, resp.StatusCode, resp.Header, raw)
		}
		var up presigned
		env.mustCall("upload", map[string]any{"accessLevel": "public", "key": "public/x.txt"}, &up)
		h := headers(up)
		h["Origin"] = testConsoleOrigin
		resp, raw = send(t, http.MethodPut, up.URL, h, []byte("x"))
		if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers")), "etag") {
			t.Errorf("%s PUT from the console: %d %v %s", env.bucket, resp.StatusCode, resp.Header, raw)
		}
	}
}
