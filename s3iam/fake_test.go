package s3iam_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
)

// fakeS3 covers what the embedded gateway cannot show: Versity answers 501
// to lifecycle and encryption, has one account (so no BucketAlreadyExists),
// and never throttles. It stores bucket subresources verbatim (the SDK's PUT
// body has the same XML root as the GET answer) and can be told to fail.
type fakeS3 struct {
	mu     sync.Mutex
	sub    map[string][]byte // "lifecycle", "encryption", ... -> XML
	writes []string
	bodies map[string]string // last body per "METHOD ?sub"
	calls  int
	fail   func(r *http.Request) (status int, code string) // status 0: no failure
}

// missingCodes are the answers AWS gives for a subresource never set.
var missingCodes = map[string]string{
	"lifecycle":  "NoSuchLifecycleConfiguration",
	"encryption": "ServerSideEncryptionConfigurationNotFoundError",
	"cors":       "NoSuchCORSConfiguration",
	"tagging":    "NoSuchTagSet",
	"policy":     "NoSuchBucketPolicy",
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	sub := ""
	for k := range r.URL.Query() {
		if _, ok := missingCodes[k]; ok {
			sub = k
		}
	}
	f.bodies[r.Method+" ?"+sub] = string(body)
	if f.fail != nil {
		if status, code := f.fail(r); status != 0 {
			if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
				writeIAMErr(w, status, code)
				return
			}
			writeErr(w, status, code)
			return
		}
	}
	switch {
	case r.Method == http.MethodPut && sub == "":
		f.writes = append(f.writes, "PUT bucket")
	case r.Method == http.MethodGet && sub != "":
		doc, ok := f.sub[sub]
		if !ok {
			writeErr(w, http.StatusNotFound, missingCodes[sub])
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Write(doc)
	case r.Method == http.MethodPut && sub != "":
		f.writes = append(f.writes, "PUT ?"+sub)
		f.sub[sub] = body
	default:
		writeErr(w, http.StatusNotImplemented, "NotImplemented")
	}
}

func writeErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>fake %s</Message></Error>`, code, code)
}

// writeIAMErr answers in the IAM query protocol's error shape.
func writeIAMErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>`+
		`<Code>%s</Code><Message>fake %s</Message></Error><RequestId>r</RequestId></ErrorResponse>`, code, code)
}

// newFake starts a fake S3 and a Target pointed at it.
func newFake(t *testing.T, region string) (*fakeS3, *s3iam.Target) {
	t.Helper()
	f := &fakeS3{sub: map[string][]byte{}, bodies: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	tgt, err := s3iam.New(t.Context(), s3iam.Config{
		Region: region, S3Endpoint: srv.URL, IAMEndpoint: srv.URL, AccessKey: "a", SecretKey: "b",
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, tgt
}

func (f *fakeS3) snapshot() (writes []string, calls int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.writes...), f.calls
}

func (f *fakeS3) set(sub, xml string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sub[sub] = []byte(xml)
}

func (f *fakeS3) lastBody(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[key]
}

func TestEnsureAbortMultipartRuleMerge(t *testing.T) {
	t.Parallel()
	f, tgt := newFake(t, "")
	ctx := t.Context()
	f.set("lifecycle", `<LifecycleConfiguration><Rule><ID>theirs</ID><Status>Enabled</Status>`+
		`<Filter><Prefix>tmp/</Prefix></Filter><Expiration><Days>7</Days></Expiration></Rule></LifecycleConfiguration>`)

	changed, err := tgt.EnsureAbortMultipartRule(ctx, "b", "amplify-abort-mpu", 1)
	if err != nil || !changed {
		t.Fatalf("EnsureAbortMultipartRule = %v, %v; want true, nil", changed, err)
	}
	put := f.lastBody("PUT ?lifecycle")
	for _, want := range []string{"<ID>theirs</ID>", "<Prefix>tmp/</Prefix>", "<Days>7</Days>",
		"<ID>amplify-abort-mpu</ID>", "<DaysAfterInitiation>1</DaysAfterInitiation>"} {
		if !strings.Contains(put, want) {
			t.Errorf("written lifecycle lacks %s:\n%s", want, put)
		}
	}

	w0, _ := f.snapshot()
	changed, err = tgt.EnsureAbortMultipartRule(ctx, "b", "amplify-abort-mpu", 1)
	if err != nil || changed {
		t.Fatalf("EnsureAbortMultipartRule again = %v, %v; want false, nil", changed, err)
	}
	if w1, _ := f.snapshot(); len(w1) != len(w0) {
		t.Errorf("second call wrote %v", w1[len(w0):])
	}

	changed, err = tgt.EnsureAbortMultipartRule(ctx, "b", "amplify-abort-mpu", 3)
	if err != nil || !changed {
		t.Fatalf("EnsureAbortMultipartRule(3 days) = %v, %v; want true, nil", changed, err)
	}
	put = f.lastBody("PUT ?lifecycle")
	if strings.Count(put, "<ID>amplify-abort-mpu</ID>") != 1 || !strings.Contains(put, "<DaysAfterInitiation>3</DaysAfterInitiation>") ||
		!strings.Contains(put, "<ID>theirs</ID>") {
		t.Errorf("lifecycle after change:\n%s", put)
	}
}

func TestEnsureDefaultEncryption(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	f, tgt := newFake(t, "")
	changed, err := tgt.EnsureDefaultEncryption(ctx, "b")
	if err != nil || !changed {
		t.Fatalf("EnsureDefaultEncryption(none) = %v, %v; want true, nil", changed, err)
	}
	if put := f.lastBody("PUT ?encryption"); !strings.Contains(put, "<SSEAlgorithm>AES256</SSEAlgorithm>") {
		t.Errorf("written encryption:\n%s", put)
	}
	w0, _ := f.snapshot()
	if changed, err = tgt.EnsureDefaultEncryption(ctx, "b"); err != nil || changed {
		t.Fatalf("EnsureDefaultEncryption again = %v, %v; want false, nil", changed, err)
	}
	if w1, _ := f.snapshot(); len(w1) != len(w0) {
		t.Errorf("second call wrote %v", w1[len(w0):])
	}

	// KMS is never downgraded to AES256.
	f2, tgt2 := newFake(t, "")
	f2.set("encryption", `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>`+
		`<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>arn:aws:kms:us-east-1:1:key/k</KMSMasterKeyID>`+
		`</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>`)
	if changed, err = tgt2.EnsureDefaultEncryption(ctx, "b"); err != nil || changed {
		t.Fatalf("EnsureDefaultEncryption(KMS) = %v, %v; want false, nil", changed, err)
	}
	if w, _ := f2.snapshot(); len(w) != 0 {
		t.Errorf("KMS bucket written: %v", w)
	}
}

func TestCreateBucketLocationConstraint(t *testing.T) {
	t.Parallel()
	f, tgt := newFake(t, "eu-west-1")
	if _, err := tgt.CreateBucket(t.Context(), "b"); err != nil {
		t.Fatal(err)
	}
	if body := f.lastBody("PUT ?"); !strings.Contains(body, "<LocationConstraint>eu-west-1</LocationConstraint>") {
		t.Errorf("CreateBucket in eu-west-1 sent %q", body)
	}
	f2, tgt2 := newFake(t, "us-east-1")
	if _, err := tgt2.CreateBucket(t.Context(), "b"); err != nil {
		t.Fatal(err)
	}
	if body := f2.lastBody("PUT ?"); strings.Contains(body, "LocationConstraint") {
		t.Errorf("CreateBucket in us-east-1 sent %q", body)
	}
}

func TestCreateBucketAlreadyExists(t *testing.T) {
	t.Parallel()
	f, tgt := newFake(t, "")
	f.fail = func(*http.Request) (int, string) { return http.StatusConflict, "BucketAlreadyExists" }
	_, err := tgt.CreateBucket(t.Context(), "b")
	if err == nil || s3iam.Classify(err) != s3iam.Permanent {
		t.Fatalf("CreateBucket(taken) = %v, want a Permanent error", err)
	}
	if got := s3iam.APIMessage(err); got != "BucketAlreadyExists: fake BucketAlreadyExists" {
		t.Errorf("APIMessage = %q", got)
	}
}

// TestSDKRetriesAndClasses proves the SDK makes at most three attempts and
// that the answer then classifies as the job layer expects.
func TestSDKRetriesAndClasses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status   int
		code     string
		want     s3iam.Class
		attempts int
	}{
		{http.StatusServiceUnavailable, "SlowDown", s3iam.Transient, 3},
		{http.StatusInternalServerError, "InternalError", s3iam.Transient, 3},
		// The SDK's standard retryer does not retry a 429 with this code;
		// the job layer does.
		{http.StatusTooManyRequests, "TooManyRequests", s3iam.Transient, 1},
		{http.StatusNotImplemented, "NotImplemented", s3iam.NotImplemented, 1},
		{http.StatusForbidden, "AccessDenied", s3iam.Permanent, 1},
		{http.StatusBadRequest, "InvalidBucketName", s3iam.Permanent, 1},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			t.Parallel()
			f, tgt := newFake(t, "")
			f.fail = func(*http.Request) (int, string) { return c.status, c.code }
			_, err := tgt.Tags(t.Context(), "b")
			if got := s3iam.Classify(err); got != c.want {
				t.Errorf("%d %s classified %v, want %v (%v)", c.status, c.code, got, c.want, err)
			}
			if _, calls := f.snapshot(); calls != c.attempts {
				t.Errorf("%d %s: %d attempts, want %d", c.status, c.code, calls, c.attempts)
			}
		})
	}
}

// TestIAMUnknownAction: an S3 server without IAM answers an IAM call with
// some error; an IAM server without the action answers InvalidAction.
func TestIAMUnknownAction(t *testing.T) {
	t.Parallel()
	f, tgt := newFake(t, "")
	f.fail = func(*http.Request) (int, string) { return http.StatusBadRequest, "InvalidAction" }
	_, err := tgt.RolePolicy(t.Context(), "r", "p")
	if s3iam.Classify(err) != s3iam.NotImplemented {
		t.Fatalf("IAM InvalidAction: %v classified %v, want NotImplemented", err, s3iam.Classify(err))
	}
}

// TestRolePolicyRawDocument covers Ceph, which returns documents unencoded.
func TestRolePolicyRawDocument(t *testing.T) {
	t.Parallel()
	doc := `{"Version":"2012-10-17","Statement":[{"Sid":"a+b","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/x%41"}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<GetRolePolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetRolePolicyResult>`+
			`<RoleName>r</RoleName><PolicyName>p</PolicyName><PolicyDocument>%s</PolicyDocument>`+
			`</GetRolePolicyResult></GetRolePolicyResponse>`, doc)
	}))
	t.Cleanup(srv.Close)
	tgt, err := s3iam.New(t.Context(), s3iam.Config{S3Endpoint: srv.URL, IAMEndpoint: srv.URL, AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tgt.RolePolicy(t.Context(), "r", "p")
	if err != nil || string(got) != doc {
		t.Fatalf("RolePolicy(raw) = %s, %v; want %s", got, err, doc)
	}
}

// TestEndpointFromEnvironment checks that AWS_ENDPOINT_URL_S3 is honoured
// through the SDK's own configuration and switches to path-style.
func TestEndpointFromEnvironment(t *testing.T) {
	// Not parallel: it sets environment variables.
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Host+" "+r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	tgt, err := s3iam.New(t.Context(), s3iam.Config{AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tgt.HeadBucket(t.Context(), "envbucket"); err != nil {
		t.Fatalf("HeadBucket via AWS_ENDPOINT_URL_S3: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := strings.TrimPrefix(srv.URL, "http://") + " /envbucket"
	if len(paths) != 1 || paths[0] != want {
		t.Errorf("requests = %v, want [%s] (path-style)", paths, want)
	}
}
