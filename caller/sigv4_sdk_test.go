package caller

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"
)

// The SDK reference. The server once verified signatures by re-signing a
// copy of each request with aws-sdk-go-v2's signer; checkSignature now
// rebuilds the canonical request itself, and that re-signing verifier is
// kept here, unchanged, as the oracle the tests hold it to.

// checkSignature is Verify's two checks for a request whose body is
// already in memory: the checks of the headers alone, then the signature
// over body. Verify makes the same two calls with the body read in
// between; the tests and fuzz targets hold this pair to the SDK.
func checkSignature(r *http.Request, body []byte, keys Keys, now time.Time, cache *signingKeyCache) *Error {
	in, e := checkSigned(r, keys, now)
	if e != nil {
		return e
	}
	return in.verify(r, len(body), sha256.Sum256(body), cache)
}

// forged reports whether e is a refusal for a request signed, but not as
// its key signs it (not unsigned, not an unknown key): what every change
// to a signed request must be met with.
func forged(e *Error) bool {
	return e != nil && e.Check != NoAuthorization && e.Check != UnknownKey
}

// testSigningKeys is the key cache of the verifier the tests call.
var testSigningKeys signingKeyCache

// verifySignature is the verifier the signature tests call: checkSignature,
// checked on every call against the SDK reference, so each of those tests
// is also a differential one. A disagreement panics, failing whichever
// test (or HTTP handler under test) made the call.
func verifySignature(ctx context.Context, signer *v4.Signer, r *http.Request, body []byte, keys Keys, now time.Time) *Error {
	got := checkSignature(r, body, keys, now, &testSigningKeys)
	want := verifySignatureSDK(ctx, signer, r, body, keys, now)
	if !sameVerdict(got, want) {
		panic(fmt.Sprintf("checkSignature = %v, SDK reference = %v, for %s %q (Authorization %q)",
			got, want, r.Method, r.URL.RequestURI(), r.Header.Get("Authorization")))
	}
	return got
}

func sameVerdict(a, b *Error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// verifySignatureSDK is the former verifier: after the same checks that
// need no signature (checkSigned), it signs a copy of r, made of only the
// headers the client signed, with the same secret and time, and compares
// signatures. Its signer caches derived keys by access key, date
// and region only, so a test that rotates a secret needs a fresh signer.
func verifySignatureSDK(ctx context.Context, signer *v4.Signer, r *http.Request, body []byte, keys Keys, now time.Time) *Error {
	in, e := checkSigned(r, keys, now)
	if e != nil {
		return e
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return contentSHAMismatch()
	}
	a, secret, signedAt := in.auth, in.secret, in.signedAt

	cp := sdkCopy(ctx, r, len(body), a.signedHeaders)
	creds := aws.Credentials{AccessKeyID: a.accessKey, SecretAccessKey: secret}
	if err := signer.SignHTTP(ctx, creds, cp, payloadHash, SigningName, a.region, signedAt); err != nil {
		return signatureMismatch()
	}
	// The signer's header ends "SignedHeaders=<list>, Signature=<hex>": the
	// list must be the client's (a header the signer would skip must not pass
	// unverified) and the signature must match.
	got := cp.Header.Get("Authorization")
	sigAt := strings.LastIndex(got, ", Signature=")
	listAt := strings.Index(got, "SignedHeaders=")
	if sigAt < 0 || listAt < 0 || listAt > sigAt || got[listAt+len("SignedHeaders="):sigAt] != strings.Join(a.signedHeaders, ";") ||
		subtle.ConstantTimeCompare([]byte(got[sigAt+len(", Signature="):]), []byte(a.signature)) != 1 {
		return signatureMismatch()
	}
	return nil
}

// sdkCopy is the request the SDK reference signs for r: its method, path
// normalised as AWS normalises it for every service but S3 (see
// normalizedURL), query and host, and of its headers only those in list.
func sdkCopy(ctx context.Context, r *http.Request, bodyLen int, list []string) *http.Request {
	u := normalizedURL(r.URL)
	u.Scheme, u.Host = "http", r.Host
	cp := (&http.Request{Method: r.Method, URL: u, Host: r.Host, Header: make(http.Header, len(list)+2)}).WithContext(ctx)
	for _, h := range list {
		switch h {
		case "host":
		case "content-length":
			cp.ContentLength = int64(bodyLen)
		default:
			if vs := r.Header.Values(h); len(vs) > 0 {
				cp.Header[http.CanonicalHeaderKey(h)] = vs
			}
		}
	}
	return cp
}

// sdkSigning is what the SDK's signer logged while signing one request.
type sdkSigning struct {
	canonical, stringToSign string
}

// signWithSDK signs r in place with the SDK and returns the canonical
// request and string to sign it logged.
func signWithSDK(r *http.Request, creds aws.Credentials, payloadHash, region string, at time.Time) (sdkSigning, error) {
	var mu sync.Mutex
	var got sdkSigning
	logger := logging.LoggerFunc(func(_ logging.Classification, _ string, v ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(v) >= 2 {
			got.canonical, _ = v[0].(string)
			got.stringToSign, _ = v[1].(string)
		}
	})
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.LogSigning, o.Logger = true, logger })
	err := signer.SignHTTP(context.Background(), creds, r, payloadHash, SigningName, region, at)
	mu.Lock()
	defer mu.Unlock()
	return got, err
}

// signAsServerSees signs r as the server received it: the SDK signs the
// copy the SDK reference would build from the headers in names (plus the
// ones it always adds), and r gets the resulting Authorization and
// X-Amz-Date. It is the signature a faultless client sends for exactly this
// request, whatever a real client's URL handling would have made of it.
func signAsServerSees(r *http.Request, body []byte, names []string, creds aws.Credentials, region string, at time.Time) (sdkSigning, error) {
	cp := sdkCopy(context.Background(), r, len(body), names)
	sum := sha256.Sum256(body)
	got, err := signWithSDK(cp, creds, hex.EncodeToString(sum[:]), region, at)
	if err != nil {
		return got, err
	}
	r.Header.Set("Authorization", cp.Header.Get("Authorization"))
	r.Header.Set("X-Amz-Date", cp.Header.Get("X-Amz-Date"))
	return got, nil
}

// normalizedURL is u with the path a client signs for it: aws-sdk-go-v2's
// signer signs the path as it is, while botocore, the CRT signer and the JS
// SDK v3 first remove its dot segments and empty segments, as AWS does
// when it checks a signature for any service but S3. This is botocore's
// remove_dot_segments written out plainly, independently of
// appendCanonicalPath; TestBotocoreSignatures holds both to signatures
// botocore and the CRT signer made.
func normalizedURL(u *url.URL) *url.URL {
	cp := *u
	p := uriPath(u)
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	n := strings.Join(out, "/")
	if strings.HasPrefix(p, "/") {
		n = "/" + n
	}
	if strings.HasSuffix(p, "/") && len(out) > 0 {
		n += "/"
	}
	if u.Opaque != "" {
		// The signer takes an opaque path as it is, from its first slash.
		cp.Opaque = n
		return &cp
	}
	unescaped, err := url.PathUnescape(n)
	if err != nil {
		panic(fmt.Sprintf("normalizedURL: %q from a valid escaped path %q: %v", n, p, err))
	}
	cp.Path, cp.RawPath = unescaped, n
	return &cp
}

// signLikeBotocore signs r in place with the SDK's signer as botocore signs
// it: for the normalised path (normalizedURL), while r keeps the path it
// is sent with.
func signLikeBotocore(r *http.Request, creds aws.Credentials, payloadHash, region string, at time.Time) error {
	cp := r.Clone(context.Background())
	cp.URL = normalizedURL(r.URL)
	if _, err := signWithSDK(cp, creds, payloadHash, region, at); err != nil {
		return err
	}
	for _, h := range []string{"Authorization", "X-Amz-Date"} {
		r.Header.Set(h, cp.Header.Get(h))
	}
	// The signer rewrote the query in canonical form, as it sends it.
	r.URL.RawQuery = cp.URL.RawQuery
	return nil
}
