package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SigningName is the SigV4 service name clients sign AmplifyBackend calls with.
const SigningName = "amplifybackend"

// ClockSkew is how far a request's signing time may be from the server's.
const ClockSkew = 5 * time.Minute

// KeySource looks up the secret for an access key id. It is an interface so
// keys can be rotated while the server runs.
type KeySource interface {
	Secret(accessKeyID string) (secret string, ok bool)
}

// StaticKeys is a fixed KeySource.
type StaticKeys map[string]string

// Secret implements KeySource.
func (k StaticKeys) Secret(id string) (string, bool) { s, ok := k[id]; return s, ok }

// authHeader is a parsed "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." value.
type authHeader struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseAuthorization(v string) (authHeader, bool) {
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(v, algo) {
		return authHeader{}, false
	}
	var a authHeader
	for _, part := range strings.Split(v[len(algo):], ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return authHeader{}, false
		}
		switch k {
		case "Credential":
			f := strings.Split(val, "/")
			if len(f) != 5 || f[4] != "aws4_request" || f[0] == "" {
				return authHeader{}, false
			}
			a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(val, ";")
		case "Signature":
			a.signature = val
		}
	}
	if a.accessKey == "" || a.signature == "" || len(a.signedHeaders) == 0 {
		return authHeader{}, false
	}
	return a, true
}

// verifySignature checks a SigV4-signed request against keys by signing a
// copy of it, made of only the headers the client signed, with the same
// secret and time, and comparing signatures. body is the full request body.
// signer is shared so its cache of derived signing keys is reused.
func verifySignature(ctx context.Context, signer *v4.Signer, r *http.Request, body []byte, keys KeySource, now time.Time) *APIError {
	raw := r.Header.Get("Authorization")
	if raw == "" {
		return forbidden(MissingAuthentication, "Missing Authentication Token")
	}
	a, ok := parseAuthorization(raw)
	if !ok {
		return forbidden(InvalidSignature, "The Authorization header is not a well-formed AWS4-HMAC-SHA256 signature.")
	}
	secret, ok := keys.Secret(a.accessKey)
	if !ok {
		return forbidden(UnrecognizedClient, "The security token included in the request is invalid.")
	}
	if a.service != SigningName {
		return forbidden(InvalidSignature, "Credential should be scoped to correct service: '%s'.", SigningName)
	}
	stamp := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse("20060102T150405Z", stamp)
	if err != nil {
		return forbidden(InvalidSignature, "The request must carry a valid X-Amz-Date header.")
	}
	if d := now.Sub(signedAt); d > ClockSkew {
		return forbidden(InvalidSignature, "Signature expired: %s is now earlier than %s (%s - 5 min.)",
			stamp, now.Add(-ClockSkew).UTC().Format("20060102T150405Z"), now.UTC().Format("20060102T150405Z"))
	} else if d < -ClockSkew {
		return forbidden(InvalidSignature, "Signature not yet current: %s is still later than %s (%s + 5 min.)",
			stamp, now.Add(ClockSkew).UTC().Format("20060102T150405Z"), now.UTC().Format("20060102T150405Z"))
	}
	if a.date != signedAt.Format("20060102") {
		return forbidden(InvalidSignature, "Credential should be scoped to a valid date matching X-Amz-Date.")
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return forbidden(InvalidSignature, "The provided x-amz-content-sha256 header does not match the request body.")
	}

	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	cp := (&http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: make(http.Header, len(a.signedHeaders)+2)}).WithContext(ctx)
	for _, h := range a.signedHeaders {
		switch h {
		case "host":
		case "content-length":
			cp.ContentLength = int64(len(body))
		default:
			if vs := r.Header.Values(h); len(vs) > 0 {
				cp.Header[http.CanonicalHeaderKey(h)] = vs
			}
		}
	}
	creds := aws.Credentials{AccessKeyID: a.accessKey, SecretAccessKey: secret}
	if err := signer.SignHTTP(ctx, creds, cp, payloadHash, SigningName, a.region, signedAt); err != nil {
		return forbidden(InvalidSignature, "The request cannot be verified.")
	}
	// The signer's header ends "SignedHeaders=<list>, Signature=<hex>": the
	// list must be the client's (a header the signer would skip must not pass
	// unverified) and the signature must match.
	got := cp.Header.Get("Authorization")
	sigAt := strings.LastIndex(got, ", Signature=")
	listAt := strings.Index(got, "SignedHeaders=")
	if sigAt < 0 || listAt < 0 || listAt > sigAt || got[listAt+len("SignedHeaders="):sigAt] != strings.Join(a.signedHeaders, ";") ||
		subtle.ConstantTimeCompare([]byte(got[sigAt+len(", Signature="):]), []byte(a.signature)) != 1 {
		return forbidden(InvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}
