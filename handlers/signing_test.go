package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/amplifybackendd/amplifybackendd/caller"
)

// The key and clock most handler tests sign with and serve under.
const (
	sigTestKeyID  = "AKIDEXAMPLE"
	sigTestSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

var sigTestCreds = aws.Credentials{AccessKeyID: sigTestKeyID, SecretAccessKey: sigTestSecret}

// sigTestNow is the server's clock in those tests.
var sigTestNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// signAs signs r for body as a client holding creds does in region at the
// time at, with aws-sdk-go-v2's signer on the path the server checks (as
// botocore signs).
func signAs(t testing.TB, r *http.Request, body []byte, creds aws.Credentials, region string, at time.Time) {
	t.Helper()
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, caller.SigningCopy(r), hex.EncodeToString(sum[:]), caller.SigningName, region, at); err != nil {
		t.Fatal(err)
	}
}
