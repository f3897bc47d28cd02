package caller

import "testing"

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
