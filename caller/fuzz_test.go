package caller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Fuzz targets: run one with `go test ./caller -run '^$' -fuzz FuzzVerifySignature
// -fuzztime 30s` (also FuzzSigV4MatchesSDK, FuzzParseAmzDate); test.sh runs
// each for a bounded time. Seeds live in testdata/fuzz/<Target>/.

var fuzzCreds = aws.Credentials{AccessKeyID: "AKIAFUZZFUZZFUZZFUZZ", SecretAccessKey: "fuzz-secret"}

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
		if e := verifySignature(context.Background(), signer, req, body, keys, now); e == nil {
			// Accepted: it must be exactly what the real key signs.
			cp := req.Clone(context.Background())
			cp.Header.Del("Authorization")
			cp.URL = normalizedURL(cp.URL)
			sum := sha256.Sum256(body)
			at, _ := time.Parse(AmzDateLayout, date)
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
