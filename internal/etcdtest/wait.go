package etcdtest

import (
	"testing"
	"time"
)

// waitBound only turns a condition that never comes into a failure; it
// times nothing.
const waitBound = time.Minute

// WaitFor polls cond until it holds, as for what a watch delivers to
// another client, failing the test after a bound only a broken cluster
// or client reaches.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		<-tick.C
	}
}
