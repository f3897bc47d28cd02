package caller

import (
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

func (k expiringKeys) Lookup(id string) (Key, bool) {
	return Key{Secret: sigTestSecret, Name: "session", Policy: access.Administrator, Expires: k.expires}, id == sigTestKeyID
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
