package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/amplifybackendd/amplifybackendd/target"
)

// RetryPolicy bounds how often and how fast a failing step is retried.
type RetryPolicy struct {
	// Attempts is the most times one step runs (default 8).
	Attempts int
	// Base is the first backoff (default 250ms); each retry doubles it.
	Base time.Duration
	// Max caps one backoff (default 15s).
	Max time.Duration
}

func (p *RetryPolicy) defaults() {
	if p.Attempts <= 0 {
		p.Attempts = 8
	}
	if p.Base <= 0 {
		p.Base = 250 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 15 * time.Second
	}
}

// backoff returns the wait before retry n (1-based): capped exponential with
// full jitter, so many jobs failing together do not retry together.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.Base << min(n-1, 30)
	if d <= 0 || d > p.Max {
		d = p.Max
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// terminalError marks a step failure that no retry can fix (a bucket name
// taken by someone else, a policy over the size limit). The executor fails
// the job at once with its message.
type terminalError struct{ msg string }

func (e *terminalError) Error() string { return e.msg }

func terminal(format string, args ...any) error {
	return &terminalError{msg: fmt.Sprintf(format, args...)}
}

// stepError is a step's final failure, phrased for the job's error field:
// which step, and what the target answered.
type stepError struct {
	step string
	err  error
	// attempts is set when the step gave up on a retryable error.
	attempts int
}

func (e *stepError) Error() string {
	var t *terminalError
	if errors.As(e.err, &t) {
		return t.msg
	}
	msg := fmt.Sprintf("%s failed: %s", e.step, target.APIMessage(e.err))
	if e.attempts > 0 {
		msg += fmt.Sprintf(" (gave up after %d attempts)", e.attempts)
	}
	return msg
}

func (e *stepError) Unwrap() error { return e.err }

// step runs fn until it succeeds, fails permanently, or the attempt budget is
// spent. Transient target errors (throttling, 5xx, refused connections) and
// recovered panics are retried with backoff; anything else ends the step.
// A cancelled ctx ends it at once with ctx's cause.
func (r *Runner) step(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := safeCall(ctx, fn)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		var t *terminalError
		retryable := !errors.As(err, &t) && (isPanic(err) || target.Classify(err) == target.Transient)
		if !retryable || attempt >= r.cfg.Retry.Attempts {
			se := &stepError{step: name, err: err}
			if retryable {
				se.attempts = attempt
			}
			return se
		}
		wait := r.cfg.Retry.backoff(attempt)
		r.log.Warn("step failed; retrying", "step", name, "attempt", attempt, "wait", wait, "error", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return context.Cause(ctx)
		case <-timer.C:
		}
	}
}

type panicError struct{ v any }

func (e *panicError) Error() string { return fmt.Sprintf("internal error: panic: %v", e.v) }

func isPanic(err error) bool {
	var p *panicError
	return errors.As(err, &p)
}

// safeCall turns a panic inside one step into an error, so a bug costs an
// attempt of one job instead of the whole process.
func safeCall(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{v: v}
		}
	}()
	return fn(ctx)
}
