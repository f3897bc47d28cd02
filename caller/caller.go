package caller

import (
	"cmp"
	"context"
	"net/http"
	"time"

	"github.com/amplifybackendd/amplifybackendd/access"
)

// SigningName is the SigV4 service name clients sign AmplifyBackend calls with.
const SigningName = "amplifybackend"

// ClockSkew is how far a request's signing time may be from the server's.
const ClockSkew = 5 * time.Minute

// AmzDateLayout is the form of X-Amz-Date, and of the times the errors
// about it quote back to the client.
const AmzDateLayout = "20060102T150405Z"

// Keys looks up an access key id. It is an interface so keys can be
// created, rotated and revoked while the server runs, and so keys of
// different origins (the key files, sign-in sessions) answer as one.
//
// Lookup answers ok false for a key it does not know, and an error when it
// could not find out (a sign-in session's key is read from the store,
// which may be unreachable): the request is then refused as one the
// server could not check, not as one signed with a bad key.
type Keys interface {
	Lookup(ctx context.Context, accessKeyID string) (key Key, ok bool, err error)
}

// Key is what the server knows of an access key: the secret requests are
// signed with, and what the key may do.
type Key struct {
	Secret string
	// Name says whose key it is in logs and in the console: the profile
	// name of a long-lived key, or the sign-in session's.
	Name string
	// Policy is what the key may do; nil allows nothing.
	Policy *access.Policy
	// Expires, when set, is when the key stops working (sign-in sessions).
	Expires time.Time
}

// StaticKeys is a fixed set of administrator keys: access key id to secret.
type StaticKeys map[string]string

// Lookup implements Keys.
func (k StaticKeys) Lookup(_ context.Context, id string) (Key, bool, error) {
	s, ok := k[id]
	return Key{Secret: s, Name: id, Policy: access.Administrator}, ok, nil
}

// Chain asks each of its Keys in turn and answers with the first that
// knows the key: the key files' keys, then sign-in sessions. The first
// that cannot find out ends the search with its error.
type Chain []Keys

// Lookup implements Keys.
func (c Chain) Lookup(ctx context.Context, id string) (Key, bool, error) {
	for _, k := range c {
		if key, ok, err := k.Lookup(ctx, id); ok || err != nil {
			return key, ok, err
		}
	}
	return Key{}, false, nil
}

// Caller is who a verified request comes from: what a decision about what
// the caller may do starts from.
type Caller struct {
	// AccessKeyID is the key the request was signed with.
	AccessKeyID string
	// Name and Policy are the key's (see Key).
	Name   string
	Policy *access.Policy
	// Expires is when the key stops working; zero for a long-lived key.
	Expires time.Time
}

// Config sets up a Verifier.
type Config struct {
	Keys Keys
	// Now is the clock signing times are checked against (default time.Now).
	Now func() time.Time
	// BodyBudget is how many bytes of request bodies all requests together
	// may hold (default DefaultBodyBudget).
	BodyBudget int64
}

// Verifier establishes who sent a request. It outlives requests: it keeps
// derived signing keys (a client signs a day's requests with one) and
// counts the bytes of bodies held by all requests in flight.
type Verifier struct {
	keys        Keys
	now         func() time.Time
	signingKeys signingKeyCache
	bodies      bodyBudget
}

// New returns a Verifier for cfg.
func New(cfg Config) *Verifier {
	v := &Verifier{keys: cfg.Keys, now: cfg.Now}
	if v.now == nil {
		v.now = time.Now
	}
	v.bodies.limit = cmp.Or(cfg.BodyBudget, DefaultBodyBudget)
	return v
}

// Verify checks that r is signed with a key the Verifier knows, and
// returns the caller and r's body, read whole. Whatever the headers alone
// can condemn is refused before a byte of the body is read, so a client
// without a key cannot make the server wait for, or hold, a body; then
// the body is read as it arrives, under MaxBodyBytes and the budget, and
// the signature checked over it.
//
// The body also replaces r.Body, so whatever reads r afterwards still
// can. The caller calls its Release when the request ends. A failed
// check is an *Error saying which check, and holds nothing.
func (v *Verifier) Verify(r *http.Request) (Caller, *Body, error) {
	in, err := checkSigned(r, v.keys, v.now())
	if err != nil {
		return Caller{}, nil, err
	}
	b, err := v.readBody(r)
	if err != nil {
		return Caller{}, nil, err
	}
	if err := in.verify(r, len(b.data), b.sum, &v.signingKeys); err != nil {
		b.Release()
		return Caller{}, nil, err
	}
	b.Caller = Caller{AccessKeyID: in.auth.accessKey, Name: in.key.Name, Policy: in.key.Policy, Expires: in.key.Expires}
	return b.Caller, b, nil
}

// Check names one check of a request; an Error says which one failed.
type Check int

// The checks, in the order Verify makes them. Those up to WrongScopeDate
// are made on the headers alone, before the body is read, and so are a
// PayloadHashMismatch no body could satisfy and a BodyTooLarge announced
// by Content-Length.
const (
	// NoAuthorization: the request carries no Authorization header.
	NoAuthorization Check = iota + 1
	// MalformedAuthorization: Authorization is not an AWS4-HMAC-SHA256
	// signature with a credential, a signed header list and a signature.
	MalformedAuthorization
	// UnknownKey: the access key id is not one of the Keys.
	UnknownKey
	// KeyLookupFailed: the Keys could not say whether they know the key
	// (Err says why); the request may succeed when sent again.
	KeyLookupFailed
	// KeyExpired: the key is a temporary one whose time is up.
	KeyExpired
	// WrongService: the credential is scoped to a service other than
	// SigningName.
	WrongService
	// BadDate: X-Amz-Date is missing or not a time in AmzDateLayout.
	BadDate
	// Expired: the request was signed more than ClockSkew ago.
	Expired
	// NotYetValid: the request was signed more than ClockSkew ahead.
	NotYetValid
	// WrongScopeDate: the credential's date is not X-Amz-Date's.
	WrongScopeDate
	// PayloadHashMismatch: x-amz-content-sha256 is not the body's SHA-256.
	PayloadHashMismatch
	// BodyTooLarge: the body is, or is announced as, over MaxBodyBytes.
	BodyTooLarge
	// BodyBudgetSpent: holding the body would pass the budget all
	// requests share; a later attempt may find room.
	BodyBudgetSpent
	// BodyUnreadable: the body broke off, or did not match its
	// Content-Length.
	BodyUnreadable
	// SignatureMismatch: the signature is not the key's for this request.
	SignatureMismatch
)

var checkNames = [...]string{
	NoAuthorization:        "no Authorization header",
	MalformedAuthorization: "malformed Authorization header",
	UnknownKey:             "unknown access key",
	KeyLookupFailed:        "access key lookup failed",
	KeyExpired:             "access key expired",
	WrongService:           "credential scoped to another service",
	BadDate:                "missing or malformed X-Amz-Date",
	Expired:                "signature expired",
	NotYetValid:            "signature not yet valid",
	WrongScopeDate:         "credential date is not X-Amz-Date's",
	PayloadHashMismatch:    "x-amz-content-sha256 does not match the body",
	BodyTooLarge:           "body too large",
	BodyBudgetSpent:        "body budget spent",
	BodyUnreadable:         "body unreadable",
	SignatureMismatch:      "signature mismatch",
}

// checkReasons name the checks as metric label values and log fields:
// fixed words, so a label set stays bounded whatever a request carries.
var checkReasons = [...]string{
	NoAuthorization:        "no_authorization",
	MalformedAuthorization: "malformed_authorization",
	UnknownKey:             "unknown_key",
	KeyLookupFailed:        "key_lookup_failed",
	KeyExpired:             "key_expired",
	WrongService:           "wrong_service",
	BadDate:                "bad_date",
	Expired:                "expired",
	NotYetValid:            "not_yet_valid",
	WrongScopeDate:         "wrong_scope_date",
	PayloadHashMismatch:    "payload_hash_mismatch",
	BodyTooLarge:           "body_too_large",
	BodyBudgetSpent:        "body_budget_spent",
	BodyUnreadable:         "body_unreadable",
	SignatureMismatch:      "signature_mismatch",
}

// Reason names the check in one word, for metric labels and searchable
// log fields.
func (c Check) Reason() string {
	if c > 0 && int(c) < len(checkReasons) {
		return checkReasons[c]
	}
	return "unknown"
}

// String describes the check for logs.
func (c Check) String() string {
	if c > 0 && int(c) < len(checkNames) {
		return checkNames[c]
	}
	return "unknown check"
}

// Error is a request that failed a check. It carries what an answer to the
// client may quote, and no words of its own for the client: the API layer
// phrases it.
type Error struct {
	Check Check
	// Stamp is the request's X-Amz-Date and Now the server's clock when it
	// was checked; set for Expired and NotYetValid.
	Stamp string
	Now   time.Time
	// Budget is the bytes all request bodies together may hold; set for
	// BodyBudgetSpent.
	Budget int64
	// Err is what broke the body off, or why the key could not be looked
	// up; set for BodyUnreadable and KeyLookupFailed.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "request refused: " + e.Check.String() + ": " + e.Err.Error()
	}
	return "request refused: " + e.Check.String()
}

// Unwrap returns what broke the body off or the key lookup, if that was
// the failure.
func (e *Error) Unwrap() error { return e.Err }
