package caller

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

const (
	scopeDateLayout = "20060102"
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
)

// authHeader is a parsed "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." value.
type authHeader struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

// parseAuthorization parses an Authorization value. It walks the value
// with strings.Cut rather than splitting it, as every signed request comes
// through here; only the signed header list gets a slice.
func parseAuthorization(v string) (authHeader, bool) {
	const algo = sigV4Algorithm + " "
	if !strings.HasPrefix(v, algo) {
		return authHeader{}, false
	}
	var a authHeader
	sawList := false
	for rest, more := v[len(algo):], true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ",")
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return authHeader{}, false
		}
		switch k {
		case "Credential":
			var f [5]string
			n := 0
			for s, ok := val, true; ok; n++ {
				if n == len(f) {
					return authHeader{}, false
				}
				f[n], s, ok = strings.Cut(s, "/")
			}
			if n != len(f) || f[4] != "aws4_request" || f[0] == "" {
				return authHeader{}, false
			}
			a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders, sawList = strings.Split(val, ";"), true
		case "Signature":
			a.signature = val
		}
	}
	if a.accessKey == "" || a.signature == "" || !sawList {
		return authHeader{}, false
	}
	return a, true
}

// verify checks the signature of a request that passed checkSigned, given
// its body's length and SHA-256, by rebuilding the canonical request from
// the request as received, the way aws-sdk-go-v2's signer builds it, and
// comparing the HMAC with the client's. cache keeps derived signing keys
// across requests.
//
// It once re-signed a copy of the request with the SDK's signer; that
// cloned headers and built strings per request and was half the cost of a
// signed read. The SDK signer is still the reference: the tests compare
// the two verdicts on random and mutated requests.
func (in *signedInput) verify(r *http.Request, bodyLen int, bodySum [sha256.Size]byte, cache *signingKeyCache) *Error {
	hex.Encode(in.payloadHash[:], bodySum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != string(in.payloadHash[:]) {
		return contentSHAMismatch()
	}
	a, amzDate, payloadHash := in.auth, in.amzDate[:], in.payloadHash[:]

	// Room for a typical SDK request's canonical form, so it stays on the
	// stack; append moves longer ones to the heap.
	canonical, ok := appendCanonicalRequest(make([]byte, 0, 1024), r, bodyLen, a.signedHeaders, amzDate, payloadHash)
	if !ok {
		return signatureMismatch()
	}
	canonicalHash := sha256.Sum256(canonical)

	key := cache.get(signingKeyID{accessKey: a.accessKey, secret: in.secret, date: a.date, region: a.region, service: a.service})
	toSign := make([]byte, 0, 256)
	toSign = append(toSign, sigV4Algorithm+"\n"...)
	toSign = append(toSign, amzDate...)
	toSign = append(toSign, '\n')
	toSign = append(toSign, a.date...)
	toSign = append(toSign, '/')
	toSign = append(toSign, a.region...)
	toSign = append(toSign, '/')
	toSign = append(toSign, a.service...)
	toSign = append(toSign, "/aws4_request\n"...)
	toSign = hex.AppendEncode(toSign, canonicalHash[:])
	mac := hmacSHA256(&key, toSign)

	var want, got [2 * sha256.Size]byte
	hex.Encode(want[:], mac[:])
	if len(a.signature) != len(got) {
		return signatureMismatch()
	}
	copy(got[:], a.signature)
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return signatureMismatch()
	}
	return nil
}

// signedInput is what the checks before the signature itself establish
// about a request.
type signedInput struct {
	auth     authHeader
	secret   string
	signedAt time.Time
	// key is what Keys said of the access key.
	key Key
	// amzDate is signedAt as SigV4 writes it; payloadHash the body's
	// SHA-256 in hex, once verify has it.
	amzDate     [len(AmzDateLayout)]byte
	payloadHash [2 * sha256.Size]byte
}

// checkSigned runs every check the headers alone allow, so a request that
// cannot pass is refused before a byte of its body is read: a well-formed
// Authorization header, a known key, the service scope, the clock window,
// the date scope, and an x-amz-content-sha256 that could be a SHA-256.
func checkSigned(r *http.Request, keys Keys, now time.Time) (in signedInput, _ *Error) {
	raw := r.Header.Get("Authorization")
	if raw == "" {
		return in, &Error{Check: NoAuthorization}
	}
	a, ok := parseAuthorization(raw)
	if !ok {
		return in, &Error{Check: MalformedAuthorization}
	}
	key, ok, err := keys.Lookup(r.Context(), a.accessKey)
	if err != nil {
		return in, &Error{Check: KeyLookupFailed, Err: err}
	}
	if !ok {
		return in, &Error{Check: UnknownKey}
	}
	if !key.Expires.IsZero() && !now.Before(key.Expires) {
		return in, &Error{Check: KeyExpired}
	}
	if a.service != SigningName {
		return in, &Error{Check: WrongService}
	}
	stamp := r.Header.Get("X-Amz-Date")
	signedAt, exact, dateErr := parseAmzDate(stamp)
	if dateErr != nil {
		return in, &Error{Check: BadDate}
	}
	if d := now.Sub(signedAt); d > ClockSkew {
		return in, &Error{Check: Expired, Stamp: stamp, Now: now}
	} else if d < -ClockSkew {
		return in, &Error{Check: NotYetValid, Stamp: stamp, Now: now}
	}
	in.auth, in.secret, in.signedAt, in.key = a, key.Secret, signedAt, key
	// Unless the header is exactly what the SDK writes, the signing time is
	// re-formatted rather than taken from it: time.Parse accepts fractional
	// seconds the SDK would not sign.
	if exact {
		copy(in.amzDate[:], stamp)
	} else {
		signedAt.AppendFormat(in.amzDate[:0], AmzDateLayout)
	}
	if a.date != string(in.amzDate[:len(scopeDateLayout)]) {
		return in, &Error{Check: WrongScopeDate}
	}
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && !isLowerHexSHA256(h) {
		// No body hashes to this: refuse it now rather than after the body.
		return in, contentSHAMismatch()
	}
	return in, nil
}

// isLowerHexSHA256 reports whether h could be a SHA-256 as verify writes it:
// 64 lower-case hex digits.
func isLowerHexSHA256(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func contentSHAMismatch() *Error { return &Error{Check: PayloadHashMismatch} }

// parseAmzDate parses an X-Amz-Date value. The form SigV4 writes,
// yyyymmddThhmmssZ with every field in range, is read by hand and reported
// exact; anything else is left to time.Parse, whose verdict stands. (Parsing
// and re-formatting with the time package cost as much as the HMAC.)
func parseAmzDate(stamp string) (t time.Time, exact bool, err error) {
	if len(stamp) == len(AmzDateLayout) && stamp[8] == 'T' && stamp[15] == 'Z' {
		num := func(from, to int) int {
			n := 0
			for i := from; i < to; i++ {
				c := stamp[i]
				if c < '0' || c > '9' {
					return -1
				}
				n = n*10 + int(c-'0')
			}
			return n
		}
		year, month, day := num(0, 4), num(4, 6), num(6, 8)
		hour, minute, sec := num(9, 11), num(11, 13), num(13, 15)
		t = time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
		// time.Date normalises what is out of range (13th months, 31 April);
		// time.Parse refuses it, so such a stamp takes the slow path.
		if min(year, month, day, hour, minute, sec) >= 0 && t.Year() == year && int(t.Month()) == month &&
			t.Day() == day && t.Hour() == hour && t.Minute() == minute && t.Second() == sec {
			return t, true, nil
		}
	}
	t, err = time.Parse(AmzDateLayout, stamp)
	return t, false, err
}

func signatureMismatch() *Error { return &Error{Check: SignatureMismatch} }

// appendCanonicalRequest appends the SigV4 canonical request of r to dst,
// with the headers of list, the client's SignedHeaders. It reports false
// when list is not the one aws-sdk-go-v2 would sign for those headers:
// sorted, lower case, without duplicates, with host and x-amz-date, with
// content-length only for a non-empty body, and without a header that is
// absent or that the SDK never signs. Taking such a list on trust would let
// a request pass with, say, its host unsigned.
func appendCanonicalRequest(dst []byte, r *http.Request, bodyLen int, list []string, amzDate, payloadHash []byte) ([]byte, bool) {
	dst = append(dst, r.Method...)
	dst = append(dst, '\n')
	dst = appendCanonicalPath(dst, uriPath(r.URL))
	dst = append(dst, '\n')
	dst = appendCanonicalQuery(dst, r.URL.RawQuery)
	dst = append(dst, '\n')

	var sawHost, sawDate bool
	for i, name := range list {
		if i > 0 && name <= list[i-1] {
			return dst, false
		}
		dst = append(dst, name...)
		dst = append(dst, ':')
		switch name {
		case "host":
			// Unlike other values, only spaces are trimmed from the host.
			sawHost = true
			dst = appendCollapsedSpaces(dst, strings.Trim(signingHost(r.Host), " "))
		case "x-amz-date":
			sawDate = true
			dst = append(dst, amzDate...)
		case "content-length":
			// The SDK signs the length of the body it was given, and only
			// when there is one.
			if bodyLen == 0 {
				return dst, false
			}
			dst = strconv.AppendInt(dst, int64(bodyLen), 10)
		default:
			if !isLowerName(name) || sdkUnsigned(name) {
				return dst, false
			}
			values := headerValues(r.Header, name)
			if len(values) == 0 {
				return dst, false
			}
			// The SDK trims spaces, collapses runs of them, then trims
			// Unicode white space; trimming all white space first and then
			// collapsing gives the same bytes without a copy.
			for j, v := range values {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendCollapsedSpaces(dst, strings.TrimSpace(v))
			}
		}
		dst = append(dst, '\n')
	}
	if !sawHost || !sawDate {
		return dst, false
	}
	dst = append(dst, '\n')
	for i, name := range list {
		if i > 0 {
			dst = append(dst, ';')
		}
		dst = append(dst, name...)
	}
	dst = append(dst, '\n')
	return append(dst, payloadHash...), true
}

// uriPath is the path the SDK signs: the escaped path, or for an opaque URL
// the part of it from the first slash (before any query), and "/" if empty.
func uriPath(u *url.URL) string {
	p := u.Opaque
	if p == "" {
		p = u.EscapedPath()
	} else {
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		p = strings.TrimPrefix(p, "//")
		if i := strings.IndexByte(p, '/'); i >= 0 {
			p = p[i:]
		} else {
			p = ""
		}
	}
	if p == "" {
		return "/"
	}
	return p
}

// appendCanonicalPath appends the canonical URI of the escaped path p as
// AWS builds it for every service but S3: the path normalised
// (appendNormalizedPath), then escaped once more ("a%2Fb" is signed as
// "a%252Fb").
func appendCanonicalPath(dst []byte, p string) []byte {
	return appendNormalizedPath(dst, p, true)
}

// appendNormalizedPath appends the escaped path p normalised as AWS
// normalises it before checking a signature for every service but S3:
// without "." segments, without a ".." segment and the one before it, and
// without empty segments (runs of slashes), keeping a leading slash and,
// unless nothing is left, a trailing one. botocore, the AWS CLI, the CRT
// signer and the JS SDK v3 sign a path so and send it as it is: an app id
// "." is sent as /backend/./details and signed as /backend/details.
// aws-sdk-go-v2's signer does not normalise (see SigningCopy). With
// escape, each segment is escaped once more as it is written.
//
// Segments are written as they are read; a ".." truncates dst back to the
// slash before the last segment written, so nothing is allocated.
func appendNormalizedPath(dst []byte, p string, escape bool) []byte {
	start := len(dst)
	for rest, more := p, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		switch seg {
		case "", ".":
		case "..":
			if i := bytes.LastIndexByte(dst[start:], '/'); i >= 0 {
				dst = dst[:start+i]
			}
		default:
			dst = append(dst, '/')
			if escape {
				dst = appendSigV4Escaped(dst, seg, false)
			} else {
				dst = append(dst, seg...)
			}
		}
	}
	kept := len(dst) > start
	if !strings.HasPrefix(p, "/") && kept {
		// Every segment was written after a slash; a relative path (only
		// an opaque or "*" target has one) starts without it.
		dst = append(dst[:start], dst[start+1:]...)
	}
	switch {
	case kept && strings.HasSuffix(p, "/"):
		dst = append(dst, '/')
	case !kept && strings.HasPrefix(p, "/"):
		dst = append(dst, '/')
	}
	return dst
}

// SigningCopy returns a shallow copy of the client request r whose path is
// the one the server checks the signature against (normalised, see
// appendNormalizedPath), sharing r's headers. aws-sdk-go-v2's signer signs
// the path as it is; a Go client that signs this copy instead signs as
// botocore does, so a path with dot segments (an app id ".") verifies and
// reaches the API's validation rather than failing as a bad signature.
func SigningCopy(r *http.Request) *http.Request {
	cp := r.WithContext(r.Context())
	u := *r.URL
	n := string(appendNormalizedPath(nil, uriPath(r.URL), false))
	if u.Opaque != "" {
		// The signer takes an opaque path as it is, from its first slash.
		u.Opaque = n
	} else if path, err := url.PathUnescape(n); err == nil {
		u.Path, u.RawPath = path, n
	}
	cp.URL = &u
	return cp
}

// appendCanonicalQuery appends the canonical query string: every name and
// value decoded as url.ParseQuery does (pairs it cannot decode are dropped,
// as the SDK's signer drops them), escaped again, and sorted by escaped
// name, then escaped value. The API's routes take no query, so the empty
// case comes first.
func appendCanonicalQuery(dst []byte, rawQuery string) []byte {
	if rawQuery == "" {
		return dst
	}
	values, _ := url.ParseQuery(rawQuery)
	type pair struct{ name, value string }
	pairs := make([]pair, 0, len(values))
	for k, vs := range values {
		name := string(appendSigV4Escaped(nil, k, true))
		for _, v := range vs {
			pairs = append(pairs, pair{name, string(appendSigV4Escaped(nil, v, true))})
		}
	}
	// Not "name=value" strings: '-', '.' and '%' sort below '=', so "a-=1"
	// would come before "a=1".
	slices.SortFunc(pairs, func(x, y pair) int {
		if c := strings.Compare(x.name, y.name); c != 0 {
			return c
		}
		return strings.Compare(x.value, y.value)
	})
	for i, p := range pairs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.name...)
		dst = append(dst, '=')
		dst = append(dst, p.value...)
	}
	return dst
}

// appendSigV4Escaped appends s with every byte outside RFC 3986's unreserved
// set percent-encoded in upper-case hex; '/' is kept unless escapeSlash.
func appendSigV4Escaped(dst []byte, s string, escapeSlash bool) []byte {
	const upperHex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '/' && !escapeSlash {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}

// signingHost is the host as the SDK signs it for an http URL (the scheme
// the verifier has always assumed): a ":80" port is dropped, and with it the
// brackets of an IPv6 literal, unless nothing would be left.
func signingHost(host string) string {
	colon := strings.IndexByte(host, ':')
	if colon < 0 {
		return host
	}
	var port string
	if i := strings.Index(host, "]:"); i >= 0 {
		port = host[i+2:]
	} else if !strings.Contains(host, "]") {
		port = host[colon+1:]
	}
	if port != "80" {
		return host
	}
	stripped := host[:colon]
	if i := strings.IndexByte(host, ']'); i >= 0 {
		stripped = strings.TrimPrefix(host[:i], "[")
	}
	if stripped == "" {
		// The SDK then falls back to the URL's host, which is this one.
		return host
	}
	return stripped
}

// appendCollapsedSpaces appends s with every run of spaces made one space:
// the SDK collapses runs of ' ' (only) inside values it signs.
func appendCollapsedSpaces(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && i > 0 && s[i-1] == ' ' {
			continue
		}
		dst = append(dst, s[i])
	}
	return dst
}

// isLowerName reports whether strings.ToLower(name) == name, the form of
// every name the SDK lists, without allocating for ASCII names.
func isLowerName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(name) == name
		}
		if 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// sdkUnsigned reports whether the SDK leaves the (lower-case) header out of
// the signature even when asked to sign it.
func sdkUnsigned(name string) bool {
	switch name {
	case "authorization", "user-agent", "x-amzn-trace-id", "expect", "transfer-encoding":
		return true
	}
	return false
}

// headerValues is h.Values(name) for a lower-case name, without allocating
// the canonical key for the short names requests carry.
func headerValues(h http.Header, name string) []string {
	var buf [64]byte
	if len(name) > len(buf) {
		return h[http.CanonicalHeaderKey(name)]
	}
	key := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isTokenByte(c) {
			// Not a valid header name: http.Header holds it as it is.
			return h[name]
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		key[i] = c
		upper = c == '-'
	}
	return h[string(key)]
}

// isTokenByte reports whether c may appear in an HTTP header name (RFC 7230
// tchar); net/textproto leaves names with any other byte as they are.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// signingKeyID names a derived signing key by everything it is derived
// from. The secret is part of it so that a key source rotating a secret
// under the same access key never meets a key derived from the old one.
type signingKeyID struct {
	accessKey, secret, date, region, service string
}

// maxSigningKeys bounds the cache: a client that knows an access key id can
// send any number of regions, each of which derives a key.
const maxSigningKeys = 256

// signingKeyCache keeps derived SigV4 signing keys. A client signs with the
// same key for a whole UTC day, and deriving one costs four HMACs, as much
// as the rest of a check. The zero value is ready to use.
type signingKeyCache struct {
	mu   sync.RWMutex
	keys map[signingKeyID][sha256.Size]byte
}

func (c *signingKeyCache) get(id signingKeyID) [sha256.Size]byte {
	c.mu.RLock()
	k, ok := c.keys[id]
	c.mu.RUnlock()
	if ok {
		return k
	}
	k = deriveSigningKey(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = make(map[signingKeyID][sha256.Size]byte)
	}
	if len(c.keys) >= maxSigningKeys {
		for old := range c.keys {
			// Map order is random enough to evict by.
			delete(c.keys, old)
			break
		}
	}
	c.keys[id] = k
	return k
}

// deriveSigningKey is SigV4's key chain: the secret, then the date, region,
// service and "aws4_request" in turn, each an HMAC keyed by the one before.
func deriveSigningKey(id signingKeyID) [sha256.Size]byte {
	k := []byte("AWS4" + id.secret)
	for _, part := range []string{id.date, id.region, id.service, "aws4_request"} {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(part))
		k = m.Sum(nil)
	}
	return [sha256.Size]byte(k)
}

// hmacSHA256 is HMAC-SHA256 (RFC 2104) under a 32-byte key, as two Sum256
// calls over stack buffers: hmac.New allocates two digests and two pads on
// every call, which showed in a signed read's profile. TestHMACSHA256
// checks it against crypto/hmac.
func hmacSHA256(key *[sha256.Size]byte, msg []byte) [sha256.Size]byte {
	const blockSize = 64 // SHA-256's block; a 32-byte key is zero-padded to it
	inner := make([]byte, blockSize, blockSize+256)
	var outer [blockSize + sha256.Size]byte
	for i := range blockSize {
		var b byte
		if i < len(key) {
			b = key[i]
		}
		inner[i] = b ^ 0x36
		outer[i] = b ^ 0x5c
	}
	innerSum := sha256.Sum256(append(inner, msg...))
	copy(outer[blockSize:], innerSum[:])
	return sha256.Sum256(outer[:])
}
