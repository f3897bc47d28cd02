package s3iam_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/embedded"
	"github.com/amplifybackendd/amplifybackendd/embedded/embeddedtest"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
)

const (
	rootAccess = "TARGETTESTROOT"
	rootSecret = "target-test-root-secret-0123456789"
)

// gw is the embedded gateway shared by every test of this package: Versity
// allows one per process, and each test works in buckets and roles of its
// own, so they run in parallel.
var gw *embedded.Server

func TestMain(m *testing.M) {
	os.Exit(embeddedtest.Main(m, rootAccess, rootSecret, func(s *embedded.Server) error { gw = s; return nil }))
}

// recorder is an http.RoundTripper that notes every request a Target sends,
// so a test can prove that a second reconcile wrote nothing.
type recorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, describe(req))
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// describe names a request "METHOD ?subresource" for S3 and "IAM Action" for
// IAM's query protocol (the action is in the form body, which is restored).
func describe(req *http.Request) string {
	if req.Method == http.MethodPost && strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && req.Body != nil {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		return "IAM " + form.Get("Action")
	}
	var sub []string
	for k := range req.URL.Query() {
		sub = append(sub, k)
	}
	slices.Sort(sub)
	return req.Method + " ?" + strings.Join(sub, "&")
}

// mark returns the number of requests seen so far, for since.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// since returns the requests sent after mark m.
func (r *recorder) since(m int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs[m:])
}

// writesSince returns the requests after mark m that change something: any
// S3 request other than GET/HEAD, any IAM action other than Get*/List*.
func (r *recorder) writesSince(m int) []string {
	var w []string
	for _, d := range r.since(m) {
		switch {
		case strings.HasPrefix(d, "IAM Get"), strings.HasPrefix(d, "IAM List"),
			strings.HasPrefix(d, "GET "), strings.HasPrefix(d, "HEAD "):
		default:
			w = append(w, d)
		}
	}
	return w
}

// env is what one test works with: a Target whose traffic is recorded, a
// raw root S3 client for arranging and inspecting state behind the Target's
// back, and a bucket of its own.
type env struct {
	t      *testing.T
	ctx    context.Context
	tgt    *s3iam.Target
	rec    *recorder
	s3     *s3.Client
	iam    *iam.Client
	bucket string
}

var seq atomic.Int64

// uniqueName makes a bucket or role name unique within the test process.
func uniqueName(t *testing.T, prefix string) string {
	n := fmt.Sprintf("%s-%d-%s", prefix, seq.Add(1), strings.ToLower(t.Name()))
	n = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, n)
	if len(n) > 60 {
		n = n[:60]
	}
	return strings.Trim(n, "-")
}

// setup builds an env with its bucket already created.
func setup(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	e := newEnv(t, rootAccess, rootSecret)
	e.bucket = uniqueName(t, "tt")
	if _, err := e.tgt.CreateBucket(e.ctx, e.bucket); err != nil {
		t.Fatalf("CreateBucket %s: %v", e.bucket, err)
	}
	return e
}

func newEnv(t *testing.T, access, secret string) *env {
	t.Helper()
	rec := &recorder{}
	tgt, err := s3iam.New(t.Context(), s3iam.Config{
		S3Endpoint:  gw.S3Endpoint,
		IAMEndpoint: gw.IAMEndpoint,
		AccessKey:   access,
		SecretKey:   secret,
		HTTPClient:  &http.Client{Transport: rec},
	})
	if err != nil {
		t.Fatalf("s3iam.New: %v", err)
	}
	creds := credentials.NewStaticCredentialsProvider(rootAccess, rootSecret, "")
	return &env{
		t:   t,
		ctx: t.Context(),
		tgt: tgt,
		rec: rec,
		s3: s3.New(s3.Options{
			Region: gw.Region, BaseEndpoint: aws.String(gw.S3Endpoint), UsePathStyle: true, Credentials: creds,
		}),
		iam: iam.New(iam.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(gw.IAMEndpoint), Credentials: creds,
		}),
	}
}

// noWrites fails the test when anything was written since mark m.
func (e *env) noWrites(m int, what string) {
	e.t.Helper()
	if w := e.rec.writesSince(m); len(w) > 0 {
		e.t.Errorf("%s: second call wrote %v", what, w)
	}
}

// iamUser creates an IAM user with an access key and the given inline
// policy (none when doc is ""), returning the key.
func (e *env) iamUser(doc string) (access, secret string) {
	e.t.Helper()
	name := uniqueName(e.t, "u")
	if _, err := e.iam.CreateUser(e.ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		e.t.Fatalf("CreateUser: %v", err)
	}
	k, err := e.iam.CreateAccessKey(e.ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		e.t.Fatalf("CreateAccessKey: %v", err)
	}
	if doc != "" {
		if _, err := e.iam.PutUserPolicy(e.ctx, &iam.PutUserPolicyInput{
			UserName: aws.String(name), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc),
		}); err != nil {
			e.t.Fatalf("PutUserPolicy: %v", err)
		}
	}
	return aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
}
