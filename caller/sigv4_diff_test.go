package caller

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Differential tests: checkSignature against the SDK reference in
// sigv4_sdk_test.go, on requests signed by aws-sdk-go-v2 and then mutated.

var (
	diffCreds = aws.Credentials{AccessKeyID: sigTestKeyID, SecretAccessKey: sigTestSecret}
	diffKeys  = StaticKeys{sigTestKeyID: sigTestSecret}
)

// diffVerdicts runs both verifiers on the server-side request r and fails
// unless they agree. It returns checkSignature's verdict.
func diffVerdicts(t testing.TB, cache *signingKeyCache, r *http.Request, body []byte) *Error {
	t.Helper()
	got := checkSignature(r, body, diffKeys, sigTestNow, cache)
	want := verifySignatureSDK(context.Background(), v4.NewSigner(), r, body, diffKeys, sigTestNow)
	if !sameVerdict(got, want) {
		t.Fatalf("%s %q Host %q: checkSignature = %v, SDK reference = %v\nheaders %q\ncanonical request:\n%s",
			r.Method, r.URL.RequestURI(), r.Host, got, want, r.Header, ourCanonical(r, body))
	}
	return got
}

// ourCanonical is checkSignature's canonical request for r, for failure
// messages.
func ourCanonical(r *http.Request, body []byte) string {
	a, ok := parseAuthorization(r.Header.Get("Authorization"))
	at, err := time.Parse(AmzDateLayout, r.Header.Get("X-Amz-Date"))
	if !ok || err != nil {
		return "(no valid Authorization or X-Amz-Date)"
	}
	sum := sha256.Sum256(body)
	c, ok := appendCanonicalRequest(nil, r, len(body), a.signedHeaders, []byte(at.Format(AmzDateLayout)), []byte(hex.EncodeToString(sum[:])))
	return fmt.Sprintf("%s\n(list accepted: %v)", c, ok)
}

// sigMutation changes a signed request as an attacker or a broken proxy
// might; each one must make the request fail verification.
type sigMutation struct {
	name  string
	apply func(r *http.Request, body []byte) []byte
}

var sigMutations = []sigMutation{
	{"signed header value", func(r *http.Request, body []byte) []byte {
		a, _ := parseAuthorization(r.Header.Get("Authorization"))
		for _, name := range a.signedHeaders {
			if name == "host" || name == "x-amz-date" || name == "content-length" {
				continue
			}
			if key := http.CanonicalHeaderKey(name); len(r.Header[key]) > 0 {
				r.Header[key] = append([]string{r.Header[key][0] + "x"}, r.Header[key][1:]...)
				return body
			}
		}
		r.Host += "x"
		return body
	}},
	{"path", func(r *http.Request, body []byte) []byte {
		r.URL.Path += "x"
		r.URL.RawPath += "x"
		return body
	}},
	{"query", func(r *http.Request, body []byte) []byte {
		if r.URL.RawQuery != "" {
			r.URL.RawQuery += "&"
		}
		r.URL.RawQuery += "mutated=1"
		return body
	}},
	{"body", func(r *http.Request, body []byte) []byte { return append(bytes.Clone(body), '!') }},
	{"signature", func(r *http.Request, body []byte) []byte {
		auth := r.Header.Get("Authorization")
		last := auth[len(auth)-1]
		flipped := byte('0')
		if last == '0' {
			flipped = '1'
		}
		r.Header.Set("Authorization", auth[:len(auth)-1]+string(flipped))
		return body
	}},
	{"date", func(r *http.Request, body []byte) []byte {
		at, _ := time.Parse(AmzDateLayout, r.Header.Get("X-Amz-Date"))
		r.Header.Set("X-Amz-Date", at.Add(time.Second).Format(AmzDateLayout))
		return body
	}},
}

// Pools the random client requests draw from: escaped path segments (%2F,
// spaces, '+', unicode raw and escaped, reserved characters, dot segments),
// query strings (repeated keys, '+' and %20, escaped '=', pairs that cannot
// be decoded, keys that sort differently escaped), headers (several values,
// runs of spaces, tabs, unicode, empty, and ones the SDK never signs).
var (
	diffSegments = []string{"backend", "app", "storage", "dev", "details", "my%2Fapp", "a%20b", "a b", "a+b", "%2B",
		"%E2%9C%93", "é", "日本", "%C3%A9", "a:b", "a@b", "!$&'()*,;=", "~user", "a.b-c_d", "%7E", "%41", "%25", "%252F",
		"..", ".", "", "%00", "x%3Fy", "%23frag"}
	diffQueries = []string{"", "a=1", "a=2&a=1", "b=&a", "x=a+b", "x=a%20b", "k%3D=v%3D", "z=%E2%9C%93", "a-=1&a=2",
		"a.b=1&a=0", "=v", "k=", "a=1&&b=2", "q=%zz&r=1", "s=a;b&t=2", "x=~!*()'", "pretty", "a=%2F&a=%2f&a=/", "é=ü"}
	diffHeaders = [][]string{
		{"Content-Type", "application/x-amz-json-1.1"},
		{"X-Custom", "a  b   c"},
		{"X-Multi", "one", "two  three", " four "},
		{"X-Tab", "a\tb"},
		{"X-Unicode", "ünï  cödé\u00a0"},
		{"X-Empty", ""},
		{"X-Amz-Meta-Note", "  padded  "},
		{"Amz-Sdk-Invocation-Id", "3f1c2b8e-4a5d-4e6f-8a7b-9c0d1e2f3a4b"},
		{"Amz-Sdk-Request", "attempt=1; max=3"},
		{"X-Amz-Target", "AmplifyBackend.GetBackendStorage"},
		{"User-Agent", "aws-sdk-go-v2/1.0 os/linux"},
		{"X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"},
		{"Accept", "*/*", "application/json"},
	}
	diffHosts   = []string{"example.com", "example.com:80", "example.com:8080", "127.0.0.1:4000", "[::1]:8080", "[::1]:80", "localhost"}
	diffRegions = []string{"us-east-1", "eu-west-3", "cn-north-1"}
)

// diffClientRequest is a random request signed by the SDK as a client
// would sign it, plus its body.
func diffClientRequest(t *testing.T, rng *rand.Rand) (*http.Request, []byte) {
	t.Helper()
	for {
		segs := make([]string, 1+rng.IntN(5))
		for i := range segs {
			segs[i] = diffSegments[rng.IntN(len(diffSegments))]
		}
		query := diffQueries[rng.IntN(len(diffQueries))]
		target := "http://" + diffHosts[rng.IntN(len(diffHosts))] + "/" + strings.Join(segs, "/")
		if query != "" {
			target += "?" + query
		}
		var body []byte
		switch rng.IntN(4) {
		case 1:
			body = []byte(`{"resourceName":"photos"}`)
		case 2:
			body = make([]byte, rng.IntN(300))
			for i := range body {
				body[i] = byte(rng.IntN(256))
			}
		case 3:
			body = []byte{}
		}
		method := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}[rng.IntN(5)]
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
			if rng.IntN(4) == 0 {
				rd = io.NopCloser(rd) // unknown length: chunked on the wire, content-length unsigned
			}
		}
		r, err := http.NewRequest(method, target, rd)
		if err != nil {
			continue
		}
		lowerKeys := rng.IntN(6) == 0
		for _, i := range rng.Perm(len(diffHeaders))[:rng.IntN(len(diffHeaders))] {
			h := diffHeaders[i]
			key := h[0]
			if lowerKeys && rng.IntN(2) == 0 && !sdkUnsigned(strings.ToLower(key)) {
				// As a client may write it; the wire canonicalizes it. (The
				// SDK matches the headers it skips by canonical key, so it
				// would sign a lower-case "user-agent", which no server
				// that follows it can verify.)
				key = strings.ToLower(key)
			}
			r.Header[key] = append(r.Header[key], h[1:]...)
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])
		if rng.IntN(3) == 0 {
			r.Header.Set("X-Amz-Content-Sha256", hash)
		}
		length := r.ContentLength
		if rng.IntN(4) == 0 {
			r.ContentLength = 0 // sent but not signed, as boto3 does
		}
		at := sigTestNow.Add(time.Duration(rng.IntN(480)-240) * time.Second)
		if err := signLikeBotocore(r, diffCreds, hash, diffRegions[rng.IntN(len(diffRegions))], at); err != nil {
			t.Fatal(err)
		}
		r.ContentLength = length
		if rng.IntN(2) == 0 {
			// Go's signer rewrote the query in canonical form; other
			// clients send their own.
			r.URL.RawQuery = query
		}
		return r, body
	}
}

// overTheWire is r as a server receives it: written by net/http's client
// code, read back by its server code, body read whole.
func overTheWire(t *testing.T, r *http.Request) (*http.Request, []byte, bool) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		return nil, nil, false
	}
	got, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("reading back %q: %v", buf.String(), err)
	}
	body, err := io.ReadAll(got.Body)
	if err != nil {
		t.Fatal(err)
	}
	got.URL.RawPath = got.URL.EscapedPath() // as the API's router does
	return got, body, true
}

// TestSigV4MatchesSDK signs random requests with the SDK and checks, over
// the wire and in process, that checkSignature accepts each, that it
// rejects each one-point mutation of it, and that its verdict is the SDK
// reference's every time.
func TestSigV4MatchesSDK(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	var cache signingKeyCache
	wire, inProcess := 0, 0
	for i := 0; i < 1500; i++ {
		client, body := diffClientRequest(t, rng)
		mut := sigMutations[i%len(sigMutations)]

		// Over the wire.
		if r, got, ok := overTheWire(t, client.Clone(context.Background())); ok {
			wire++
			if e := diffVerdicts(t, &cache, r, got); e != nil {
				t.Fatalf("wire: SDK-signed %s %q refused: %v\n%s", r.Method, r.URL.RequestURI(), e, ourCanonical(r, got))
			}
			got = mut.apply(r, got)
			if e := diffVerdicts(t, &cache, r, got); !forged(e) {
				t.Fatalf("wire: %s mutation of %s %q accepted: %v", mut.name, r.Method, r.URL.RequestURI(), e)
			}
		}

		// In process, as httptest and the benchmarks hand requests over.
		r := client.Clone(context.Background())
		r.URL.RawPath = r.URL.EscapedPath()
		if len(r.Header) != len(canonicalKeys(r.Header)) {
			continue // a lower-case key only the wire canonicalizes: both refuse it
		}
		inProcess++
		if e := diffVerdicts(t, &cache, r, body); e != nil {
			t.Fatalf("in process: SDK-signed %s %q refused: %v\n%s", r.Method, r.URL.RequestURI(), e, ourCanonical(r, body))
		}
		body = mut.apply(r, body)
		if e := diffVerdicts(t, &cache, r, body); !forged(e) {
			t.Fatalf("in process: %s mutation of %s %q accepted: %v", mut.name, r.Method, r.URL.RequestURI(), e)
		}
	}
	if wire < 1000 || inProcess < 1000 {
		t.Fatalf("only %d of 1500 requests went over the wire and %d in process", wire, inProcess)
	}
}

func canonicalKeys(h http.Header) map[string]bool {
	keys := map[string]bool{}
	for k := range h {
		if k == http.CanonicalHeaderKey(k) {
			keys[k] = true
		}
	}
	return keys
}

// specSignature is what a client that follows the SigV4 specification
// literally signs for r with the SignedHeaders list it chose: the SDK's
// canonical request for the standard list sdk, with the header lines and
// list replaced by the client's. Header lines the SDK wrote are reused; any
// other is "name:trimmed values".
func specSignature(t *testing.T, r *http.Request, sdk sdkSigning, list, region string, at time.Time) string {
	t.Helper()
	lines := strings.Split(sdk.canonical, "\n")
	if len(lines) < 7 {
		t.Fatalf("SDK canonical request too short: %q", sdk.canonical)
	}
	sdkHeaders := map[string]string{}
	for _, l := range lines[3 : len(lines)-3] {
		name, _, _ := strings.Cut(l, ":")
		sdkHeaders[name] = l
	}
	var b strings.Builder
	b.WriteString(strings.Join(lines[:3], "\n") + "\n")
	for _, name := range strings.Split(list, ";") {
		if l, ok := sdkHeaders[name]; ok {
			b.WriteString(l + "\n")
			continue
		}
		b.WriteString(strings.ToLower(name) + ":" + strings.TrimSpace(strings.Join(r.Header.Values(name), ",")) + "\n")
	}
	b.WriteString("\n" + list + "\n" + lines[len(lines)-1])
	canonical := b.String()

	scope := at.Format(scopeDateLayout) + "/" + region + "/" + SigningName + "/aws4_request"
	sum := sha256.Sum256([]byte(canonical))
	toSign := sigV4Algorithm + "\n" + at.Format(AmzDateLayout) + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := []byte("AWS4" + sigTestSecret)
	for _, part := range []string{at.Format(scopeDateLayout), region, SigningName, "aws4_request", toSign} {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(part))
		key = m.Sum(nil)
	}
	return sigV4Algorithm + " Credential=" + sigTestKeyID + "/" + scope + ", SignedHeaders=" + list + ", Signature=" + hex.EncodeToString(key)
}

// TestSigV4SignedHeaderLists signs requests, correctly per the
// specification, for SignedHeaders lists the SDK would not produce: both
// verifiers must refuse those, and accept the lists the SDK could produce
// for a subset of the headers.
func TestSigV4SignedHeaderLists(t *testing.T) {
	t.Parallel()
	const std = "content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-custom"
	tests := []struct {
		name, list string
		emptyBody  bool
		accept     bool
	}{
		{name: "the SDK's list", list: std, accept: true},
		{name: "host and date only", list: "host;x-amz-date", accept: true},
		{name: "content-length left out, as boto3 does", list: "content-type;host;x-amz-content-sha256;x-amz-date;x-custom", accept: true},
		{name: "payload hash header", list: "host;x-amz-content-sha256;x-amz-date", accept: true},
		{name: "empty body without content-length", list: "content-type;host;x-amz-date", emptyBody: true, accept: true},

		{name: "host left out", list: "content-length;content-type;x-amz-content-sha256;x-amz-date;x-custom"},
		{name: "date left out", list: "content-length;content-type;host;x-amz-content-sha256;x-custom"},
		{name: "authorization", list: "authorization;host;x-amz-date"},
		{name: "user-agent", list: "host;user-agent;x-amz-date"},
		{name: "x-amzn-trace-id", list: "host;x-amz-date;x-amzn-trace-id"},
		{name: "expect", list: "expect;host;x-amz-date"},
		{name: "transfer-encoding", list: "host;transfer-encoding;x-amz-date"},
		{name: "unsorted", list: "host;content-type;x-amz-date"},
		{name: "duplicate", list: "host;host;x-amz-date"},
		{name: "upper-case name", list: "Content-Type;host;x-amz-date"},
		{name: "absent header", list: "host;x-absent;x-amz-date"},
		{name: "content-length of an empty body", list: "content-length;host;x-amz-date", emptyBody: true},
		{name: "empty name", list: ";host;x-amz-date"},
		{name: "trailing separator", list: "host;x-amz-date;"},
		{name: "header under a non-canonical key", list: "host;x-amz-date;x-custom"}, // stored as "x-custom" below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(`{"resourceName":"photos"}`)
			if tt.emptyBody {
				body = nil
			}
			r := serverRequest(http.MethodPost, "http://example.com/backend/my%2Fapp/storage/dev/details", body)
			r.Header.Set("Content-Type", "application/json")
			sum := sha256.Sum256(body)
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			r.Header.Set("X-Custom", "a  b")
			r.Header.Set("User-Agent", "test/1.0")
			r.Header.Set("X-Amzn-Trace-Id", "Root=1")
			r.Header.Set("Expect", "100-continue")
			r.Header.Set("Transfer-Encoding", "identity")
			if tt.name == "header under a non-canonical key" {
				r.Header["x-custom"] = r.Header["X-Custom"]
				delete(r.Header, "X-Custom")
			}
			names := strings.Split(std, ";")
			sdk, err := signAsServerSees(r, body, names, diffCreds, "us-east-1", sigTestNow)
			if err != nil {
				t.Fatal(err)
			}
			if tt.list == std && specSignature(t, r, sdk, std, "us-east-1", sigTestNow) != r.Header.Get("Authorization") {
				t.Fatalf("specSignature disagrees with the SDK on the SDK's own list:\n%s\n%s", specSignature(t, r, sdk, std, "us-east-1", sigTestNow), r.Header.Get("Authorization"))
			}
			r.Header.Set("Authorization", specSignature(t, r, sdk, tt.list, "us-east-1", sigTestNow))
			var cache signingKeyCache
			e := diffVerdicts(t, &cache, r, body)
			if (e == nil) != tt.accept {
				t.Fatalf("list %q: verdict %v, want accepted = %v", tt.list, e, tt.accept)
			}
		})
	}
}

// serverRequest is a server-side request for target, as the router would
// receive it once readBody had read body (which the verifiers are given
// separately).
func serverRequest(method, target string, body []byte) *http.Request {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	r := &http.Request{Method: method, URL: &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Host: u.Host, Header: http.Header{}, ContentLength: int64(len(body))}
	r.URL.RawPath = r.URL.EscapedPath()
	return r
}

// FuzzSigV4MatchesSDK builds a server-side request from arbitrary parts
// (method, Host, request target, headers as "Name: v1|v2" lines, body),
// signs it with the SDK for exactly what the server sees, and checks that
// checkSignature builds the SDK's canonical request byte for byte, that
// both verifiers give the same verdict, and that after the chosen mutation
// they still agree and refuse.
func FuzzSigV4MatchesSDK(f *testing.F) {
	f.Add(uint8(1), "example.com", "/backend/app/storage/dev/details", "Content-Type: application/json", []byte(`{"resourceName":"r"}`), uint8(0x61), uint8(0))
	f.Add(uint8(0), "example.com:80", "/backend/my%2Fapp/job/dev%20env/3f1c", "", []byte(nil), uint8(0x60), uint8(1))
	f.Add(uint8(0), "[::1]:80", "/a%252Fb/%E2%9C%93/caf%C3%A9", "X-Multi: a|b  c| d ", []byte(nil), uint8(0x60), uint8(2))
	f.Add(uint8(1), ":80", "/?b=2&a=1&a=0&c", "X-Tab: a\tb", []byte("x"), uint8(0x63), uint8(3))
	f.Add(uint8(1), "h", "/?x=a+b&y=a%20b&k%3D=v&q=%zz&s=a;b&a-=1&a=2", "X-Amz-Meta-A:   spaced   out   ", []byte("{}"), uint8(0x62), uint8(4))
	f.Add(uint8(2), "[]:80", "/x/../y/./z//", "User-Agent: ua|X-Amzn-Trace-Id: t", []byte("body"), uint8(0x61), uint8(5))
	f.Add(uint8(3), " spaced  host ", "*", "X-Unicode: ünï\u00a0", []byte(nil), uint8(0x60), uint8(0))
	f.Add(uint8(4), "example.com", "foo:bar/baz", "x y: lower name with a space", []byte("opaque"), uint8(0x61), uint8(1))
	f.Add(uint8(5), "example.com", "/é/日本?é=ü", "X-Empty: ", []byte(nil), uint8(0x00), uint8(2))
	f.Add(uint8(1), "example.com", "/s3Buckets", "Content-Type: application/json", []byte("{}"), uint8(0xe1), uint8(3))
	f.Add(uint8(1), "example.com", "/s3Buckets", "X-Amz-Content-Sha256: 00", []byte("{}"), uint8(0x60), uint8(4))
	var cache signingKeyCache
	f.Fuzz(func(t *testing.T, method uint8, host, target, headers string, body []byte, flags, mutation uint8) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: []string{"GET", "POST", "PUT", "DELETE", "PATCH", "get"}[int(method)%6], URL: u, Host: host, Header: http.Header{}}
		for _, line := range strings.Split(headers, "\n") {
			name, values, ok := strings.Cut(line, ":")
			if !ok || name == "" {
				continue
			}
			for _, v := range strings.Split(values, "|") {
				r.Header.Add(name, v)
			}
		}
		r.URL.RawPath = r.URL.EscapedPath()
		var names []string
		for k := range r.Header {
			names = append(names, strings.ToLower(k))
		}
		if flags&1 != 0 {
			names = append(names, "content-length")
		}
		// Signing times from 6 minutes early to 8 late: some outside the window.
		at := sigTestNow.Add(time.Duration(int(flags>>5)-3) * 2 * time.Minute)
		sdk, err := signAsServerSees(r, body, names, diffCreds, "us-east-1", at)
		if err != nil {
			t.Fatal(err)
		}
		ambiguous := false
		for k := range r.Header {
			ambiguous = ambiguous || strings.ContainsAny(k, ",;") || strings.TrimSpace(k) != k
		}
		a, ok := parseAuthorization(r.Header.Get("Authorization"))
		if !ok || ambiguous {
			// A header name with ',', ';' or outer spaces makes the SDK's
			// own Authorization ambiguous: only the verdicts can be
			// compared.
			diffVerdicts(t, &cache, r, body)
			return
		}
		sum := sha256.Sum256(body)
		ours, ok := appendCanonicalRequest(nil, r, len(body), a.signedHeaders, []byte(at.Format(AmzDateLayout)), []byte(hex.EncodeToString(sum[:])))
		if !ok || string(ours) != sdk.canonical {
			t.Fatalf("canonical request (list accepted: %v):\n%q\nSDK:\n%q", ok, ours, sdk.canonical)
		}
		before := diffVerdicts(t, &cache, r, body)
		if before != nil {
			return // out of the window, or a payload hash header that does not match
		}
		mut := sigMutations[int(mutation)%len(sigMutations)]
		if mut.name == "path" && u.Opaque != "" || mut.name == "query" && strings.Count(u.RawQuery, "&") > 1000 {
			return // not a change the signature covers
		}
		body = mut.apply(r, body)
		if e := diffVerdicts(t, &cache, r, body); e == nil {
			t.Fatalf("%s mutation accepted", mut.name)
		}
	})
}

// TestHMACSHA256 holds the allocation-free HMAC to crypto/hmac.
func TestHMACSHA256(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 5))
	for n := 0; n < 600; n += 1 + rng.IntN(7) {
		var key [sha256.Size]byte
		msg := make([]byte, n)
		for i := range key {
			key[i] = byte(rng.IntN(256))
		}
		for i := range msg {
			msg[i] = byte(rng.IntN(256))
		}
		m := hmac.New(sha256.New, key[:])
		m.Write(msg)
		if got := hmacSHA256(&key, msg); !bytes.Equal(got[:], m.Sum(nil)) {
			t.Fatalf("hmacSHA256 of %d bytes = %x, want %x", n, got, m.Sum(nil))
		}
	}
}

// rotatingKeys is a Keys whose secret can change under a running
// server.
type rotatingKeys struct {
	mu     sync.Mutex
	secret string
}

func (k *rotatingKeys) Lookup(_ context.Context, id string) (Key, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return Key{Secret: k.secret}, id == sigTestKeyID, nil
}

// TestSigningKeyCacheRotation: once a secret is rotated, requests signed
// with the old one fail even though a key derived from it is cached, and
// requests signed with the new one pass.
func TestSigningKeyCacheRotation(t *testing.T) {
	t.Parallel()
	keys := &rotatingKeys{secret: "old-secret"}
	var cache signingKeyCache
	signed := func(secret string) (*http.Request, []byte) {
		body := []byte(`{"resourceName":"photos"}`)
		r := serverRequest(http.MethodPost, "http://example.com/backend/app/storage/dev/details", body)
		if _, err := signAsServerSees(r, body, []string{"content-length"}, aws.Credentials{AccessKeyID: sigTestKeyID, SecretAccessKey: secret}, "us-east-1", sigTestNow); err != nil {
			t.Fatal(err)
		}
		return r, body
	}
	check := func(secret string) *Error {
		r, body := signed(secret)
		return checkSignature(r, body, keys, sigTestNow, &cache)
	}
	if e := check("old-secret"); e != nil {
		t.Fatalf("old secret before rotation: %v", e)
	}
	keys.mu.Lock()
	keys.secret = "new-secret"
	keys.mu.Unlock()
	if e := check("old-secret"); e == nil {
		t.Fatal("old secret accepted after rotation")
	}
	if e := check("new-secret"); e != nil {
		t.Fatalf("new secret after rotation: %v", e)
	}
}

// TestSigningKeyCacheBounded: any number of regions (which a caller that
// knows only an access key id can choose freely) leaves the cache at its
// bound, from many goroutines at once.
func TestSigningKeyCacheBounded(t *testing.T) {
	t.Parallel()
	var cache signingKeyCache
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3*maxSigningKeys; i++ {
				id := signingKeyID{accessKey: sigTestKeyID, secret: sigTestSecret, date: "20261122", region: fmt.Sprintf("r-%d-%d", g, i), service: SigningName}
				if got, want := cache.get(id), deriveSigningKey(id); got != want {
					t.Errorf("cached key for %v differs from a fresh derivation", id)
					return
				}
			}
		}()
	}
	wg.Wait()
	cache.mu.RLock()
	defer cache.mu.RUnlock()
	if n := len(cache.keys); n > maxSigningKeys {
		t.Fatalf("cache holds %d keys, bound is %d", n, maxSigningKeys)
	}
}

// TestDeriveSigningKey checks the key chain against the example in AWS's
// SigV4 documentation.
func TestDeriveSigningKey(t *testing.T) {
	t.Parallel()
	key := deriveSigningKey(signingKeyID{secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", date: "20150830", region: "us-east-1", service: "iam"})
	const want = "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
	if got := hex.EncodeToString(key[:]); got != want {
		t.Fatalf("derived key %s, want %s", got, want)
	}
}

// TestBotocoreSignatures verifies signatures botocore's own signer and the
// CRT signer made (testdata/botocore_signatures.py) for paths with dot
// segments and runs of slashes, which they sign normalised and send as
// they are: read off the wire as the server reads them, each is accepted,
// and so is no other path.
func TestBotocoreSignatures(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/botocore_signatures.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	signers := map[string]int{}
	var cache signingKeyCache
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var fx struct {
			Signer, Method, Host, Path, Body string
			Headers                          map[string]string
		}
		if err := json.Unmarshal(line, &fx); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		signers[fx.Signer]++
		read := func(path string) (*http.Request, []byte) {
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", fx.Method, path, fx.Host, len(fx.Body))
			for k, v := range fx.Headers {
				fmt.Fprintf(&b, "%s: %s\r\n", k, v)
			}
			b.WriteString("\r\n" + fx.Body)
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(b.String())))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			r.URL.RawPath = r.URL.EscapedPath() // as the API's router does
			return r, body
		}
		r, body := read(fx.Path)
		if e := diffVerdicts(t, &cache, r, body); e != nil {
			t.Errorf("%s signed %s %s: refused: %v\n%s", fx.Signer, fx.Method, fx.Path, e, ourCanonical(r, body))
		}
		r, body = read(fx.Path + "x")
		if e := diffVerdicts(t, &cache, r, body); !forged(e) {
			t.Errorf("%s signed %s %s: accepted for %s", fx.Signer, fx.Method, fx.Path, fx.Path+"x")
		}
	}
	if len(signers) != 2 {
		t.Errorf("signatures from %v; want botocore's own signer and the CRT signer", signers)
	}
}

// TestCanonicalPath holds appendCanonicalPath to the normalize-path cases
// of AWS's SigV4 test suite and to botocore's remove_dot_segments.
func TestCanonicalPath(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/example/..":               "/",         // get-relative
		"/example1/example2/../..":  "/",         // get-relative-relative
		"//":                        "/",         // get-slash
		"/./":                       "/",         // get-slash-dot-slash
		"/./example":                "/example",  // get-slash-pointless-dot
		"//example//":               "/example/", // get-slashes
		"/example%20space/":         "/example%2520space/",
		"/":                         "/",
		"/backend/./details":        "/backend/details",
		"/backend/../details":       "/details",
		"/backend/app/job/dev/.":    "/backend/app/job/dev",
		"/backend/app/job/dev/..":   "/backend/app/job",
		"/../../a":                  "/a",
		"/a/b/../../..":             "/",
		"/backend/my%2Fapp/..x/.a/": "/backend/my%252Fapp/..x/.a/",
		"/%C3%A9/%2E/a%2F..":        "/%25C3%25A9/%252E/a%252F..",
		"*":                         "%2A",
		"a/../b/":                   "b/",
		"a/..":                      "",
	} {
		if got := string(appendCanonicalPath([]byte("prefix"), path)); got != "prefix"+want {
			t.Errorf("appendCanonicalPath(%q) = %q, want %q", path, strings.TrimPrefix(got, "prefix"), want)
		}
		u, err := url.ParseRequestURI(path)
		if err != nil {
			continue // not a request target: no client sends it
		}
		if got := string(appendSigV4Escaped(nil, normalizedURL(u).EscapedPath(), false)); got != want {
			t.Errorf("normalizedURL(%q), escaped, = %q; want %q", path, got, want)
		}
	}
}
