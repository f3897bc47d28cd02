package caller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/access"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// bodyTestVerifier is a Verifier with the signature tests' key and clock
// and the given body budget (0: the default).
func bodyTestVerifier(budget int64) *Verifier {
	return New(Config{Keys: StaticKeys{sigTestKeyID: sigTestSecret}, Now: func() time.Time { return sigTestNow }, BodyBudget: budget})
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

// TestRefusedBeforeTheBody verifies requests that announce a 1 MiB body
// and never send it. Whatever the headers alone condemn must be refused
// without a single read of the body: a client without a valid key cannot
// make the server wait for, or hold memory for, what it announced.
func TestRefusedBeforeTheBody(t *testing.T) {
	t.Parallel()
	v := bodyTestVerifier(0)
	tests := []struct {
		name   string
		tamper func(r *http.Request)
		want   Check
	}{
		{name: "no Authorization", tamper: func(r *http.Request) { r.Header.Del("Authorization") }, want: NoAuthorization},
		{name: "malformed Authorization", tamper: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x") },
			want: MalformedAuthorization},
		{name: "unknown access key", tamper: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), sigTestKeyID, "AKIDUNKNOWN", 1))
		}, want: UnknownKey},
		{name: "another service's scope", tamper: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/"+SigningName+"/", "/s3/", 1))
		}, want: WrongService},
		{name: "no X-Amz-Date", tamper: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, want: BadDate},
		{name: "signed 6 minutes ago", tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", sigTestNow.Add(-6*time.Minute).Format(AmzDateLayout))
		}, want: Expired},
		{name: "signed 6 minutes ahead", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", sigTestNow.Add(6*time.Minute).Format(AmzDateLayout)) },
			want: NotYetValid},
		{name: "date scope of another day", tamper: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20261122/", "/20261121/", 1))
		}, want: WrongScopeDate},
		{name: "x-amz-content-sha256 no body hashes to", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") },
			want: PayloadHashMismatch},
		{name: "signed, announcing more than 1 MiB", tamper: func(r *http.Request) { r.ContentLength = MaxBodyBytes + 1 }, want: BodyTooLarge},
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
			var err error
			answered := make(chan struct{})
			go func() { defer close(answered); _, _, err = v.Verify(r) }()
			select {
			case <-body.read:
				t.Fatal("the verifier read the body of a request its headers already condemn")
			case <-answered:
			}
			var e *Error
			if !errors.As(err, &e) || e.Check != tt.want {
				t.Fatalf("got %v, want check %q", err, tt.want)
			}
			if v.bodies.used.Load() != 0 {
				t.Fatalf("a refused request holds %d bytes of the budget", v.bodies.used.Load())
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

// TestBodyBufferFollowsArrivingBytes verifies requests with valid headers
// that announce 1 MiB and deliver 1 KiB: what the verifier allocates must
// follow the bytes that came, not the length that was announced. Not
// parallel: it reads the process's allocation counter.
func TestBodyBufferFollowsArrivingBytes(t *testing.T) {
	v := bodyTestVerifier(0)
	const rounds = 8
	reqs := make([]*http.Request, rounds)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodPost, "http://api.example.com/s3Buckets", nil)
		r.ContentLength = MaxBodyBytes
		signedFor(t, r, nil)
		r.Body = shortBody(1 << 10)
		reqs[i] = r
	}
	errs := make([]error, rounds)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i, r := range reqs {
		_, _, errs[i] = v.Verify(r)
	}
	runtime.ReadMemStats(&after)
	for _, err := range errs {
		if e := (*Error)(nil); !errors.As(err, &e) || e.Check != BodyUnreadable || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("a body shorter than announced: %v, want %q", err, BodyUnreadable)
		}
	}
	perRequest := (after.TotalAlloc - before.TotalAlloc) / rounds
	t.Logf("allocated %d bytes per request announcing %d and sending 1 KiB", perRequest, MaxBodyBytes)
	if perRequest >= MaxBodyBytes/4 {
		t.Fatalf("allocated %d bytes per request: the buffer was sized from Content-Length", perRequest)
	}
}

// TestBodyBudget fills a small budget with one request whose body stalls
// part way, and checks that the next body is refused at once, naming the
// budget, and that the budget comes back when the stalled request ends.
func TestBodyBudget(t *testing.T) {
	t.Parallel()
	const budget = 64 << 10
	v := bodyTestVerifier(budget)

	// A holds the budget: 40 KiB arrive (its buffer doubles to 64 KiB on
	// the way), then nothing more.
	pr, pw := io.Pipe()
	a := httptest.NewRequest(http.MethodPost, "http://api.example.com/s3Buckets", nil)
	a.ContentLength = MaxBodyBytes
	signedFor(t, a, nil)
	a.Body = pr
	var aErr error
	aDone := make(chan struct{})
	go func() { defer close(aDone); _, _, aErr = v.Verify(a) }()
	// Write returns once the verifier has read every byte, so its buffer,
	// and its share of the budget, have grown to hold them.
	if _, err := pw.Write(bytes.Repeat([]byte{'x'}, 40<<10)); err != nil {
		t.Fatal(err)
	}

	// A body that outgrows the inline buffer, on a correctly signed call.
	body := []byte(`{"pad":"` + strings.Repeat("p", 1000) + `"}`)
	call := func() (*Body, error) {
		r := httptest.NewRequest(http.MethodPost, "http://api.example.com/s3Buckets", bytes.NewReader(body))
		signedFor(t, r, body)
		_, b, err := v.Verify(r)
		return b, err
	}
	_, err := call()
	var e *Error
	if !errors.As(err, &e) || e.Check != BodyBudgetSpent || e.Budget != budget {
		t.Fatalf("with the budget held: %v, want %q naming %d bytes", err, BodyBudgetSpent, budget)
	}

	pw.CloseWithError(errors.New("client went away"))
	<-aDone
	if !errors.As(aErr, &e) || e.Check != BodyUnreadable {
		t.Fatalf("the stalled request: %v, want %q", aErr, BodyUnreadable)
	}
	b, err := call()
	if err != nil {
		t.Fatalf("after the stalled request ended: %v (its share not back in the budget)", err)
	}
	if !bytes.Equal(b.Bytes(), body) {
		t.Fatalf("body %q, want %q", b.Bytes(), body)
	}
	b.Release()
	if used := v.bodies.used.Load(); used != 0 {
		t.Fatalf("after every request ended the budget holds %d bytes", used)
	}
}

// TestVerifyReturnsCallerAndBody: a request that passes is answered with
// the key it was signed with and its body, which also replaces r.Body for
// whatever reads the request afterwards.
func TestVerifyReturnsCallerAndBody(t *testing.T) {
	t.Parallel()
	v := bodyTestVerifier(0)
	body := []byte(`{"resourceName":"photos"}`)
	r := httptest.NewRequest(http.MethodPost, "http://api.example.com/backend/app/storage/dev/details", bytes.NewReader(body))
	signedFor(t, r, body)
	who, b, err := v.Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if who != (Caller{AccessKeyID: sigTestKeyID, Name: sigTestKeyID, Policy: access.Administrator}) {
		t.Errorf("caller %+v, want access key %s", who, sigTestKeyID)
	}
	if !bytes.Equal(b.Bytes(), body) {
		t.Errorf("body %q, want %q", b.Bytes(), body)
	}
	if again, err := io.ReadAll(r.Body); err != nil || !bytes.Equal(again, body) {
		t.Errorf("r.Body reads %q, %v; want the body", again, err)
	}
}
