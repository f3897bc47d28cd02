package caller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchmarkVerify is what every signed API call costs before its handler
// runs: the header checks, reading and hashing a small body, and the
// signature. Compare with `go test -bench GetBackend ./handlers`, which
// includes it.
func BenchmarkVerify(b *testing.B) {
	body := []byte(`{"resourceName":"data"}`)
	tmpl := httptest.NewRequest(http.MethodPost, "/backend/app/storage/dev/details", nil)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), fuzzCreds, tmpl, hex.EncodeToString(sum[:]), SigningName, "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	v := New(Config{Keys: StaticKeys{fuzzCreds.AccessKeyID: fuzzCreds.SecretAccessKey}})
	b.ReportAllocs()
	for b.Loop() {
		r := new(http.Request)
		*r = *tmpl
		r.Body = io.NopCloser(bytes.NewReader(body))
		_, got, err := v.Verify(r)
		if err != nil {
			b.Fatal(err)
		}
		got.Release()
	}
}
