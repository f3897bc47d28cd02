package caller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	sigTestKeyID  = "AKIDEXAMPLE"
	sigTestSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

// sigTestNow is the server's clock in the signature tests.
var sigTestNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	const good = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/amplifybackend/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=0123abcd"
	tests := []struct {
		name   string
		header string
		want   authHeader
		ok     bool
	}{
		{name: "good", header: good, ok: true, want: authHeader{
			accessKey: "AKIDEXAMPLE", date: "20261122", region: "us-east-1", service: "amplifybackend",
			signedHeaders: []string{"content-type", "host", "x-amz-date"}, signature: "0123abcd",
		}},
		{name: "no spaces after commas", ok: true,
			header: "AWS4-HMAC-SHA256 Credential=K/20261122/eu-west-3/amplifybackend/aws4_request,SignedHeaders=host,Signature=ff",
			want:   authHeader{accessKey: "K", date: "20261122", region: "eu-west-3", service: "amplifybackend", signedHeaders: []string{"host"}, signature: "ff"}},
		{name: "empty", header: ""},
		{name: "algorithm only", header: "AWS4-HMAC-SHA256 "},
		{name: "wrong algorithm", header: strings.Replace(good, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1)},
		{name: "sigv4a", header: strings.Replace(good, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1)},
		{name: "bearer", header: "Bearer abc"},
		{name: "lower-case algorithm", header: strings.ToLower(good[:16]) + good[16:]},
		{name: "missing credential", header: "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ff"},
		{name: "missing signed headers", header: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/amplifybackend/aws4_request, Signature=ff"},
		{name: "missing signature", header: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/amplifybackend/aws4_request, SignedHeaders=host"},
		{name: "empty signature", header: strings.Replace(good, "Signature=0123abcd", "Signature=", 1)},
		{name: "part without =", header: good + ", garbage"},
		{name: "scope too short", header: strings.Replace(good, "/us-east-1/amplifybackend/aws4_request", "/amplifybackend/aws4_request", 1)},
		{name: "scope too long", header: strings.Replace(good, "aws4_request", "aws4_request/extra", 1)},
		{name: "scope wrong terminator", header: strings.Replace(good, "aws4_request", "aws5_request", 1)},
		{name: "scope empty access key", header: strings.Replace(good, "Credential=AKIDEXAMPLE/", "Credential=/", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseAuthorization(tt.header)
			if ok != tt.ok {
				t.Fatalf("parseAuthorization(%q) ok = %v, want %v", tt.header, ok, tt.ok)
			}
			if ok && (got.accessKey != tt.want.accessKey || got.date != tt.want.date || got.region != tt.want.region ||
				got.service != tt.want.service || got.signature != tt.want.signature ||
				strings.Join(got.signedHeaders, ";") != strings.Join(tt.want.signedHeaders, ";")) {
				t.Errorf("parseAuthorization(%q) = %+v, want %+v", tt.header, got, tt.want)
			}
		})
	}
}

// sigTestRequest describes a request a client signs with aws-sdk-go-v2's v4
// signer and sends over a real connection. Zero values mean: POST to
// /backend/app/storage with a small JSON body, signed now by a known key
// for amplifybackend in us-east-1.
type sigTestRequest struct {
	method, path string
	body         string
	keyID        string
	secret       string
	service      string
	region       string
	signedAt     time.Time
	// contentSHA, when set, is sent as x-amz-content-sha256 and used as the
	// payload hash when signing.
	contentSHA string
	// unsignedLength sends Content-Length without signing it, as boto3 does.
	unsignedLength bool
	// tamper changes the request after it was signed.
	tamper func(r *http.Request)
	// unsigned skips signing altogether.
	unsigned bool
}

func (s sigTestRequest) build(t *testing.T, base string) *http.Request {
	t.Helper()
	method, path, body := s.method, s.path, s.body
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/backend/app/storage"
	}
	if body == "" && method != http.MethodGet {
		body = `{"backendEnvironmentName":"dev","resourceName":"photos"}`
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequestWithContext(context.Background(), method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	if s.unsigned {
		return r
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	if s.contentSHA != "" {
		hash = s.contentSHA
		r.Header.Set("X-Amz-Content-Sha256", s.contentSHA)
	}
	creds := aws.Credentials{AccessKeyID: sigTestOr(s.keyID, sigTestKeyID), SecretAccessKey: sigTestOr(s.secret, sigTestSecret)}
	at := s.signedAt
	if at.IsZero() {
		at = sigTestNow
	}
	length := r.ContentLength
	if s.unsignedLength {
		r.ContentLength = 0
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hash, sigTestOr(s.service, SigningName), sigTestOr(s.region, "us-east-1"), at); err != nil {
		t.Fatal(err)
	}
	r.ContentLength = length
	if signed := strings.Contains(r.Header.Get("Authorization"), "content-length"); signed != (length > 0 && !s.unsignedLength) {
		t.Fatalf("content-length signed = %v, want %v", signed, !signed)
	}
	if s.tamper != nil {
		s.tamper(r)
	}
	return r
}

func sigTestOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// sigTestServer answers 204 when verifySignature accepts a request and
// otherwise 403 with the failed check and the stamp it quotes in headers.
func sigTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	signer := v4.NewSigner()
	keys := StaticKeys{sigTestKeyID: sigTestSecret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		r.URL.RawPath = r.URL.EscapedPath() // as the API's router does
		if e := verifySignature(r.Context(), signer, r, body, keys, sigTestNow); e != nil {
			w.Header().Set("X-Check", strconv.Itoa(int(e.Check)))
			w.Header().Set("X-Stamp", e.Stamp)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	srv := sigTestServer(t)
	otherSum := sha256.Sum256([]byte("another body"))
	tests := []struct {
		name      string
		req       sigTestRequest
		want      Check // 0 means the signature is accepted
		wantStamp string
	}{
		{name: "good", req: sigTestRequest{}},
		{name: "good GET without body", req: sigTestRequest{method: http.MethodGet, path: "/backend/app/job/dev/3f1c2b8e"}},
		{name: "good other region", req: sigTestRequest{region: "eu-central-1"}},
		{name: "good with x-amz-content-sha256", req: sigTestRequest{contentSHA: func() string {
			s := sha256.Sum256([]byte(`{"backendEnvironmentName":"dev","resourceName":"photos"}`))
			return hex.EncodeToString(s[:])
		}()}},
		{name: "good content-length signed", req: sigTestRequest{}},
		{name: "good content-length sent but not signed", req: sigTestRequest{unsignedLength: true}},
		{name: "good escaped slash and space in path", req: sigTestRequest{path: "/backend/my%2Fapp/storage/dev%20env/details"}},
		{name: "good 4 minutes old", req: sigTestRequest{signedAt: sigTestNow.Add(-4 * time.Minute)}},
		{name: "good 4 minutes ahead", req: sigTestRequest{signedAt: sigTestNow.Add(4 * time.Minute)}},

		{name: "missing authorization", req: sigTestRequest{unsigned: true}, want: NoAuthorization},
		{name: "malformed authorization", req: sigTestRequest{tamper: func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }},
			want: MalformedAuthorization},
		{name: "wrong algorithm", req: sigTestRequest{tamper: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1))
		}}, want: MalformedAuthorization},
		{name: "unknown key", req: sigTestRequest{keyID: "AKIDUNKNOWN"}, want: UnknownKey},
		{name: "wrong secret", req: sigTestRequest{secret: "not-the-secret"}, want: SignatureMismatch},
		{name: "wrong service scope", req: sigTestRequest{service: "s3"}, want: WrongService},
		{name: "tampered body", req: sigTestRequest{tamper: func(r *http.Request) {
			b := `{"backendEnvironmentName":"prd","resourceName":"photos"}` // same length
			r.Body = io.NopCloser(strings.NewReader(b))
			r.GetBody = nil
		}}, want: SignatureMismatch},
		{name: "tampered path", req: sigTestRequest{tamper: func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/backend/other/storage", "" }},
			want: SignatureMismatch},
		{name: "tampered escaping", req: sigTestRequest{path: "/backend/my%2Fapp/storage", tamper: func(r *http.Request) { r.URL.RawPath = "" }},
			want: SignatureMismatch},
		{name: "tampered signed header", req: sigTestRequest{tamper: func(r *http.Request) { r.Header.Set("Content-Type", "application/x-amz-json-1.1") }},
			want: SignatureMismatch},
		{name: "tampered x-amz-date", req: sigTestRequest{tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", sigTestNow.Add(time.Second).Format("20060102T150405Z"))
		}}, want: SignatureMismatch},
		{name: "signed header list altered", req: sigTestRequest{tamper: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "content-type;", "", 1))
		}}, want: SignatureMismatch},
		{name: "missing x-amz-date", req: sigTestRequest{tamper: func(r *http.Request) { r.Header.Del("X-Amz-Date") }},
			want: BadDate},
		{name: "expired 6 minutes old", req: sigTestRequest{signedAt: sigTestNow.Add(-6 * time.Minute)},
			want: Expired, wantStamp: "20261122T115400Z"},
		{name: "6 minutes in the future", req: sigTestRequest{signedAt: sigTestNow.Add(6 * time.Minute)},
			want: NotYetValid, wantStamp: "20261122T120600Z"},
		{name: "date scope mismatch", req: sigTestRequest{tamper: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20261122/", "/20261121/", 1))
		}}, want: WrongScopeDate},
		{name: "x-amz-content-sha256 of another body", req: sigTestRequest{contentSHA: hex.EncodeToString(otherSum[:])},
			want: PayloadHashMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := srv.Client().Do(tt.req.build(t, srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if tt.want == 0 {
				if resp.StatusCode != http.StatusNoContent {
					t.Fatalf("refused: %d, check %s", resp.StatusCode, resp.Header.Get("X-Check"))
				}
				return
			}
			if got := resp.Header.Get("X-Check"); resp.StatusCode != http.StatusForbidden || got != strconv.Itoa(int(tt.want)) {
				t.Fatalf("got %d, check %s; want 403, check %d (%s)", resp.StatusCode, got, tt.want, tt.want)
			}
			if got := resp.Header.Get("X-Stamp"); got != tt.wantStamp {
				t.Errorf("stamp %q, want %q", got, tt.wantStamp)
			}
		})
	}
}

// TestVerifySignatureLeavesRequestUsable checks the check reads nothing the
// handlers need afterwards: the body slice and the request are unchanged.
func TestVerifySignatureLeavesRequestUsable(t *testing.T) {
	t.Parallel()
	body := []byte(`{"resourceName":"photos"}`)
	r := httptest.NewRequest(http.MethodPost, "http://example.com/backend/app/storage/dev/details", bytes.NewReader(body))
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: sigTestKeyID, SecretAccessKey: sigTestSecret},
		r, hex.EncodeToString(sum[:]), SigningName, "us-east-1", sigTestNow); err != nil {
		t.Fatal(err)
	}
	before := r.Header.Clone()
	if e := verifySignature(context.Background(), v4.NewSigner(), r, body, StaticKeys{sigTestKeyID: sigTestSecret}, sigTestNow); e != nil {
		t.Fatalf("verifySignature: %v", e)
	}
	for k, v := range before {
		if strings.Join(r.Header[k], ",") != strings.Join(v, ",") {
			t.Errorf("header %s changed from %q to %q", k, v, r.Header[k])
		}
	}
	if string(body) != `{"resourceName":"photos"}` {
		t.Errorf("body changed to %q", body)
	}
}

// TestParseAmzDateMatchesTimeParse holds the hand parser to time.Parse on
// stamps at and around the edges of every field.
func TestParseAmzDateMatchesTimeParse(t *testing.T) {
	stamps := []string{
		"20261122T061530Z", "20240229T235959Z", "20230229T120000Z", "20260431T000000Z",
		"20261301T000000Z", "20260001T000000Z", "20260100T000000Z", "20261231T240000Z",
		"20261231T236000Z", "20261231T235960Z", "00000101T000000Z", "99991231T235959Z",
		"2026112XT061530Z", "20261122 061530Z", "20261122T061530z", "20261122T061530.5Z",
		"20261122T0615300", "+0261122T061530Z", "2026-11-22T06:15:30Z", "", "20261122T061530ZZ",
	}
	for _, s := range stamps {
		checkAmzDate(t, s)
	}
}

func checkAmzDate(t *testing.T, s string) {
	t.Helper()
	want, wantErr := time.Parse(AmzDateLayout, s)
	got, exact, err := parseAmzDate(s)
	if (err != nil) != (wantErr != nil) || !got.Equal(want) {
		t.Errorf("%q: got %v, %v; time.Parse %v, %v", s, got, err, want, wantErr)
	}
	if exact && want.Format(AmzDateLayout) != s {
		t.Errorf("%q reported exact but formats as %q", s, want.Format(AmzDateLayout))
	}
}

func FuzzParseAmzDate(f *testing.F) {
	for _, s := range []string{"20261122T061530Z", "20240229T235959Z", "20261231T236000Z", "20261122T061530.5Z"} {
		f.Add(s)
	}
	f.Fuzz(checkAmzDate)
}
