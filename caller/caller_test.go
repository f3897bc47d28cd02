package caller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/access"
)

// TestEveryCheckHasAReason: each check has its own one-word reason, the
// label the metrics count refusals under, so no refusal is lumped in with
// another or goes uncounted as "unknown".
func TestEveryCheckHasAReason(t *testing.T) {
	seen := map[string]Check{}
	for c := NoAuthorization; c <= SignatureMismatch; c++ {
		r := c.Reason()
		if r == "unknown" || seen[r] != 0 {
			t.Errorf("check %v: reason %q", c, r)
		}
		seen[r] = c
	}
}

// expiringKeys is one key with an expiry and a policy, as a sign-in
// session's key is.
type expiringKeys struct{ expires time.Time }

func (k expiringKeys) Lookup(_ context.Context, id string) (Key, bool, error) {
	return Key{Secret: sigTestSecret, Name: "session", Policy: access.Administrator, Expires: k.expires}, id == sigTestKeyID, nil
}

// TestTemporaryKeys: a key past its expiry is refused before its signature
// is looked at; before it, the verified caller carries the key's name,
// policy and expiry.
func TestTemporaryKeys(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		expires time.Time
		want    Check
	}{
		{sigTestNow.Add(time.Minute), 0},
		{sigTestNow, KeyExpired},
		{sigTestNow.Add(-time.Hour), KeyExpired},
	} {
		r := sigTestRequest{}.build(t, "http://example.com")
		v := New(Config{Keys: expiringKeys{c.expires}, Now: func() time.Time { return sigTestNow }})
		got, body, err := v.Verify(r)
		if c.want != 0 {
			var e *Error
			if !errors.As(err, &e) || e.Check != c.want {
				t.Fatalf("expires %v: err = %v, want check %v", c.expires, err, c.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("expires %v: %v", c.expires, err)
		}
		body.Release()
		if got.Name != "session" || got.Policy != access.Administrator || !got.Expires.Equal(c.expires) {
			t.Fatalf("caller = %+v, want the key's name, policy and expiry", got)
		}
	}
}

// failingKeys cannot say whether they know a key, as a store that does not
// answer cannot.
type failingKeys struct{ err error }

func (k failingKeys) Lookup(context.Context, string) (Key, bool, error) { return Key{}, false, k.err }

// TestKeyLookupFailure: a lookup that fails refuses the request as one the
// server could not check (KeyLookupFailed, carrying the cause), not as an
// unknown key, and a Chain stops at the first keys that cannot answer
// rather than asking the next as if the key were unknown.
func TestKeyLookupFailure(t *testing.T) {
	t.Parallel()
	cause := errors.New("store did not answer")
	for _, keys := range []Keys{failingKeys{cause}, Chain{StaticKeys{"AKOTHER": "s"}, failingKeys{cause}, expiringKeys{sigTestNow.Add(time.Hour)}}} {
		r := sigTestRequest{}.build(t, "http://example.com")
		_, _, err := New(Config{Keys: keys, Now: func() time.Time { return sigTestNow }}).Verify(r)
		var e *Error
		if !errors.As(err, &e) || e.Check != KeyLookupFailed || !errors.Is(err, cause) {
			t.Fatalf("%T: err = %v, want KeyLookupFailed wrapping the cause", keys, err)
		}
	}
}
