package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestReadiness walks the states /readyz answers from: not ready before
// recovery, while the store's check runs behind the opening, before the
// target's first answer, once that answer is stale,
// with the store closed, and from the start of shutdown on.
func TestReadiness(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	recovered := make(chan struct{})
	var storeErr error
	r := &readiness{
		store:     func(context.Context) error { return storeErr },
		recovered: recovered, now: func() time.Time { return clock }, stale: probeStale,
	}
	want := func(state, reason string) {
		t.Helper()
		err := r.check(context.Background())
		switch {
		case reason == "" && err != nil:
			t.Errorf("%s: not ready: %v", state, err)
		case reason != "" && (err == nil || !strings.Contains(err.Error(), reason)):
			t.Errorf("%s: got %v, want a reason with %q", state, err, reason)
		}
	}
	checked := make(chan struct{})
	r.checked = checked
	r.answered(clock)
	want("target answered, jobs not recovered", "recovered")
	close(recovered)
	want("recovered, store being checked", "store is being checked")
	close(checked)
	r.lastAnswer.Store(0)
	want("recovered, target never answered", "has not answered yet")
	r.answered(clock)
	want("recovered, target answered", "")
	clock = clock.Add(probeStale)
	want("last answer just within the limit", "")
	clock = clock.Add(time.Second)
	want("last answer too old", "has not answered for 31s")
	r.answered(clock)
	storeErr = errors.New("database not open")
	want("store closed", "store cannot be used")
	storeErr = nil
	want("all well again", "")
	// A store that does not answer (etcd cut off) makes the probe answer
	// not ready, at once rather than when the store gives up.
	stuck := make(chan struct{})
	defer close(stuck)
	r.store = func(context.Context) error { <-stuck; return nil }
	want("store silent", "store did not answer within")
	r.store = func(context.Context) error { return storeErr }
	r.shuttingDown()
	want("shutting down", "shutting down")
}
