package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Probe timing of the target behind /readyz. A load balancer polls /readyz
// far more often than the target should be called, so /readyz reads the
// outcome of the last probe instead of calling the target itself.
const (
	probeInterval = 10 * time.Second
	// probeStale is how old the last answer may be: two missed probes
	// (a probe can take its whole timeout) before the server says so.
	probeStale = 3 * probeInterval
	// probeTimeout bounds one probe.
	probeTimeout = 5 * time.Second
	// storeCheckTimeout bounds /readyz's look at the store: a store on etcd
	// cut off from its cluster would otherwise hold the answer for its whole
	// request timeout, and an orchestrator's probe (Kubernetes waits 1 s by
	// default) would see a timeout instead of the 503 and its reason.
	storeCheckTimeout = 800 * time.Millisecond
)

// readiness is what /readyz answers from: the store is open, the runner
// has recovered the jobs an earlier process left, the target answered a
// probe recently, and the server is not shutting down. /healthz answers
// liveness only and does not look at it.
type readiness struct {
	// store reports whether the store can be read (nil: open).
	store func(context.Context) error
	// recovered is closed once the runner has queued the pending jobs.
	recovered <-chan struct{}
	// checked is closed once the store's full check has ended
	// (store.Store.Checked); nil: nothing to wait for. Until then reads
	// are served and writes wait, so the server is not ready.
	checked <-chan struct{}
	now     func() time.Time
	stale   time.Duration

	lastAnswer atomic.Int64 // unix nanoseconds of the target's last answer; 0: never
	stopping   atomic.Bool
}

// checkStore asks the store within storeCheckTimeout. The store's own
// call may go on after that (the store bounds it by its request timeout);
// its answer is then dropped.
func (r *readiness) checkStore(ctx context.Context) error {
	answer, ask := make(chan error, 1), r.store
	go func() { answer <- ask(ctx) }()
	wait := time.NewTimer(storeCheckTimeout)
	defer wait.Stop()
	select {
	case err := <-answer:
		if err != nil {
			return fmt.Errorf("the store cannot be used: %w", err)
		}
		return nil
	case <-wait.C:
		return fmt.Errorf("the store did not answer within %s", storeCheckTimeout)
	}
}

// check returns why the server is not ready, or nil when it is.
func (r *readiness) check(ctx context.Context) error {
	if r.stopping.Load() {
		return errors.New("shutting down")
	}
	if err := r.checkStore(ctx); err != nil {
		return err
	}
	select {
	case <-r.recovered:
	default:
		return errors.New("jobs left by an earlier process are still being recovered")
	}
	if r.checked != nil {
		select {
		case <-r.checked:
		default:
			return errors.New("the store is being checked; reads are served, writes wait until it has passed")
		}
	}
	last := r.lastAnswer.Load()
	if last == 0 {
		return errors.New("the target has not answered yet")
	}
	if age := r.now().Sub(time.Unix(0, last)); age > r.stale {
		return fmt.Errorf("the target has not answered for %s", age.Round(time.Second))
	}
	return nil
}

// answered records that the target answered a probe at t.
func (r *readiness) answered(t time.Time) { r.lastAnswer.Store(t.UnixNano()) }

// shuttingDown makes the server unready for good, before it stops
// accepting requests, so a load balancer moves traffic away first.
func (r *readiness) shuttingDown() { r.stopping.Store(true) }

// probeTarget pings the target until ctx ends: with backoff while it does
// not answer (the API serves reads meanwhile and jobs retry on their own),
// every probeInterval once it does.
func probeTarget(ctx context.Context, ping func(context.Context) error, r *readiness, log *slog.Logger) {
	const firstBackoff = 100 * time.Millisecond
	backoff := firstBackoff
	for {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		wait := probeInterval
		if err == nil {
			r.answered(r.now())
			backoff = firstBackoff
		} else {
			log.Warn("target not reachable", "error", err)
			wait, backoff = backoff, min(backoff*2, 5*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
