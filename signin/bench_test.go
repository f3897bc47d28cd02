package signin

import "testing"

// BenchmarkLookup is what a signed call made with a session's key costs
// the signature check to find the key: a store read, the creator's lookup
// and the session's policy.
func BenchmarkLookup(b *testing.B) {
	f := newFixture(b)
	cred := f.exchange(f.create("app"))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := lookup(f.svc, cred.AccessKeyID); !ok {
			b.Fatal("not found")
		}
	}
}
