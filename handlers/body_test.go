package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// bodyTestServer is the real router with the signature tests' key and
// clock and the given body budget (0: the default).
func bodyTestServer(budget int64) http.Handler {
	return New(Config{
		Buckets: noBuckets{}, Keys: StaticKeys{sigTestKeyID: sigTestSecret},
		Now:        func() time.Time { return sigTestNow },
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		BodyBudget: budget,
	})
}

// signedFor signs r for body with the signature tests' key and clock,
// without touching r's body.
func signedFor(t *testing.T, r *http.Request, body []byte) {
	t.Helper()
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: sigTestKeyID, SecretAccessKey: sigTestSecret},
		r, hex.EncodeToString(sum[:]), SigningName, "us-east-1", sigTestNow); err != nil {
		t.Fatal(err)
	}
}

// stalledBody is a request body that never delivers a byte: its first Read
// reports that the server started reading, then blocks until the test ends.
type stalledBody struct {
	read    chan struct{}
	once    sync.Once
	release chan struct{}
}

func newStalledBody(t *testing.T) *stalledBody {
	b := &stalledBody{read: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(b.release) })
	return b
}

func (b *stalledBody) Read([]byte) (int, error) {
	b.once.Do(func() { close(b.read) })
	<-b.release
	return 0, io.ErrUnexpectedEOF
}

func (*stalledBody) Close() error { return nil }

// TestRefusedBeforeTheBody sends requests that announce a 1 MiB body and
// never send it. Whatever the headers alone condemn must be answered
// without a single read of the body: a client without a valid key cannot
// make the server wait for, or hold memory for, what it announced.
func TestRefusedBeforeTheBody(t *testing.T) {
	t.Parallel()
	srv := bodyTestServer(0)
	tests := []struct {
		name     string
		tamper   func(r *http.Request)
		status   int
		wantType string
		wantMsg  string
	}{
		{name: "no Authorization", tamper: func(r *http.Request) { r.Header.Del("Authorization") },
			status: 403, wantType: MissingAuthentication, wantMsg: "Missing Authentication Token"},
		{name: "malformed Authorization", tamper: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x") },
			status: 403, wantType: InvalidSignature, wantMsg: "well-formed"},
		{name: "unknown access key", tamper: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), sigTestKeyID, "AKIDUNKNOWN", 1))
		}, status: 403, wantType: UnrecognizedClient, wantMsg: "security token"},
		{name: "another service's scope", tamper: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/"+SigningName+"/", "/s3/", 1))
		}, status: 403, wantType: InvalidSignature, wantMsg: "correct service"},
		{name: "signed 6 minutes ago", tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", sigTestNow.Add(-6*time.Minute).Format(amzDateLayout))
		},
			status: 403, wantType: InvalidSignature, wantMsg: "Signature expired"},
		{name: "signed 6 minutes ahead", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", sigTestNow.Add(6*time.Minute).Format(amzDateLayout)) },
			status: 403, wantType: InvalidSignature, wantMsg: "not yet current"},
		{name: "date scope of another day", tamper: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20261122/", "/20261121/", 1))
		}, status: 403, wantType: InvalidSignature, wantMsg: "valid date"},
		{name: "x-amz-content-sha256 no body hashes to", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") },
			status: 403, wantType: InvalidSignature, wantMsg: "x-amz-content-sha256"},
		{name: "signed, announcing more than 1 MiB", tamper: func(r *http.Request) { r.ContentLength = MaxBodyBytes + 1 },
			status: 400, wantType: BadRequest, wantMsg: "larger than 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := newStalledBody(t)
			r := httptest.NewRequest(http.MethodPost, "http://api.example.com/backend/app/storage", nil)
			r.ContentLength = MaxBodyBytes
			signedFor(t, r, bytes.Repeat([]byte{'x'}, MaxBodyBytes))
			tt.tamper(r)
			r.Body = body
			w := httptest.NewRecorder()
			answered := make(chan struct{})
			go func() { defer close(answered); srv.ServeHTTP(w, r) }()
			select {
			case <-body.read:
				t.Fatal("the server read the body of a request its headers already condemn")
			case <-answered:
			}
			var doc errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("answer is not JSON: %q", w.Body)
			}
			if w.Code != tt.status || doc.Type != tt.wantType || !strings.Contains(doc.Message, tt.wantMsg) {
				t.Fatalf("got %d %+v, want %d %s mentioning %q", w.Code, doc, tt.status, tt.wantType, tt.wantMsg)
			}
		})
	}
}

// shortBody delivers its bytes, then ends before the Content-Length the
// request announced.
func shortBody(n int) io.ReadCloser {
	return io.NopCloser(io.MultiReader(bytes.NewReader(bytes.Repeat([]byte{'x'}, n)), errReader{io.ErrUnexpectedEOF}))
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestBodyBufferFollowsArrivingBytes sends requests with valid headers that
// announce 1 MiB and deliver 1 KiB: what the server allocates must follow
// the bytes that came, not the length that was announced. Not parallel:
// it reads the process's allocation counter.
func TestBodyBufferFollowsArrivingBytes(t *testing.T) {
	srv := bodyTestServer(0)
	const rounds = 8
	reqs := make([]*http.Request, rounds)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodPost, "http://api.example.com/s3Buckets", nil)
		r.ContentLength = MaxBodyBytes
		signedFor(t, r, nil)
		r.Body = shortBody(1 << 10)
		reqs[i] = r
	}
	recs := make([]*httptest.ResponseRecorder, rounds)
	for i := range recs {
		recs[i] = httptest.NewRecorder()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i, r := range reqs {
		srv.ServeHTTP(recs[i], r)
	}
	runtime.ReadMemStats(&after)
	for _, w := range recs {
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "could not be read") {
			t.Fatalf("a body shorter than announced: %d %s, want 400 could not be read", w.Code, w.Body)
		}
	}
	perRequest := (after.TotalAlloc - before.TotalAlloc) / rounds
	t.Logf("allocated %d bytes per request announcing %d and sending 1 KiB", perRequest, MaxBodyBytes)
	if perRequest >= MaxBodyBytes/4 {
		t.Fatalf("allocated %d bytes per request: the buffer was sized from Content-Length", perRequest)
	}
}

// TestBodyBudget fills a small budget with one request whose body stalls
// part way, and checks that the next body is refused at once with a 429
// naming the limit, and that the budget comes back when the stalled
// request ends.
func TestBodyBudget(t *testing.T) {
	t.Parallel()
	const budget = 64 << 10
	srv := bodyTestServer(budget)

	// A holds the budget: 40 KiB arrive (its buffer doubles to 64 KiB on
	// the way), then nothing more.
	pr, pw := io.Pipe()
	a := httptest.NewRequest(http.MethodPost, "http://api.example.com/s3Buckets", nil)
	a.ContentLength = MaxBodyBytes
	signedFor(t, a, nil)
	a.Body = pr
	aw := httptest.NewRecorder()
	aDone := make(chan struct{})
	go func() { defer close(aDone); srv.ServeHTTP(aw, a) }()
	// Write returns once the server has read every byte, so its buffer,
	// and its share of the budget, have grown to hold them.
	if _, err := pw.Write(bytes.Repeat([]byte{'x'}, 40<<10)); err != nil {
		t.Fatal(err)
	}

	// A body that outgrows the inline buffer, on a correctly signed call.
	body := []byte(`{"pad":"` + strings.Repeat("p", 1000) + `"}`)
	call := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://api.example.com/s3Buckets", bytes.NewReader(body))
		signedFor(t, r, body)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	w := call()
	var doc errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("answer is not JSON: %q", w.Body)
	}
	if w.Code != http.StatusTooManyRequests || w.Header().Get("X-Amzn-ErrorType") != TooManyRequests ||
		doc.Type != TooManyRequests || doc.LimitType != BodyBudgetLimit || !strings.Contains(doc.Message, "65536 bytes") {
		t.Fatalf("with the budget held: %d %s, want 429 %s with limitType %s", w.Code, w.Body, TooManyRequests, BodyBudgetLimit)
	}

	pw.CloseWithError(errors.New("client went away"))
	<-aDone
	if aw.Code != http.StatusBadRequest {
		t.Fatalf("the stalled request: %d %s, want 400", aw.Code, aw.Body)
	}
	if w := call(); w.Code != http.StatusOK {
		t.Fatalf("after the stalled request ended: %d %s, want 200 (its share back in the budget)", w.Code, w.Body)
	}
}
