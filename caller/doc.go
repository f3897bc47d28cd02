// Package caller establishes who is calling the API. It needs nothing of
// the HTTP framework the API is served with: Verify takes an *http.Request
// and returns the verified Caller (the access key the request was signed
// with) and the body, or an *Error naming the check that failed. The API
// layer calls it from one middleware and phrases its errors for clients;
// what a verified caller may then do is decided from the Caller, here as
// well, after the signature and before any handler.
//
// # Order of the checks
//
// Everything the headers alone can condemn is checked before a byte of the
// body is read: Authorization's form, a known key, the service scope, the
// clock window (ClockSkew either way), the credential's date, an
// x-amz-content-sha256 that could be a SHA-256, and a Content-Length within
// MaxBodyBytes. A client without a key cannot make the server wait for, or
// hold, a body. The body is then read as it arrives, into a buffer that
// grows with the bytes received (never from Content-Length), hashed on the
// way, under MaxBodyBytes and a budget shared by all requests in flight
// (body.go): past the budget a request is refused at once rather than
// given memory, so one with a key cannot make the server hold more than
// the budget either.
//
// # The signature
//
// The canonical request is built directly from the request as received,
// the way AWS builds it for services other than S3: the escaped path
// normalised (no "." or ".." segments, no runs of slashes, as botocore, the
// CRT signer and the JS SDK v3 sign it while sending it as it is) and
// escaped once more, the query decoded and re-escaped,
// only the signed headers with their values trimmed and spaces collapsed,
// and the SHA-256 of the body. A SignedHeaders list the SDK would not
// produce (unsorted, without host or x-amz-date, naming a header that is
// absent or that the SDK never signs) is refused rather than taken on
// trust. Derived signing keys are cached per access key, secret, date,
// region and service; the usual X-Amz-Date is parsed by hand. The SDK's
// signer, given the normalised path (its own signs a path as it is), is
// the reference: the tests and fuzz targets compare verdicts and canonical
// requests with it on random and mutated requests (sigv4_diff_test.go,
// sigv4_sdk_test.go), and signatures botocore and the CRT signer made
// for paths with dot segments are verified (testdata/).
package caller
