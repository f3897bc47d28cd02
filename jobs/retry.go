package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
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
	var msg string
	switch {
	case errors.As(e.err, &t):
		return t.msg
	case isPanic(e.err):
		msg = e.err.Error()
	default:
		msg = fmt.Sprintf("%s failed: %s", e.step, s3iam.APIMessage(e.err))
	}
	if e.attempts > 0 {
		msg += fmt.Sprintf(" (gave up after %d attempts)", e.attempts)
	}
	return msg
}

func (e *stepError) Unwrap() error { return e.err }

// step runs fn until it succeeds, fails permanently, or the attempt budget is
// spent. Transient target errors (throttling, 5xx, refused connections) and
// panics are retried with backoff; anything else ends the step.
// A cancelled ctx ends it at once with ctx's cause.
// Each attempt's end is counted by the limiter of jobs executing at once.
func (r *Runner) step(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	counted := func(ctx context.Context) error {
		err := fn(ctx)
		r.limit.observe(err)
		return err
	}
	return r.attempt(ctx, name, counted, func(err error) bool {
		var t *terminalError
		return !errors.As(err, &t) && s3iam.Classify(err) == s3iam.Transient
	})
}

// guard runs fn, a whole phase made of steps, retrying it only when it
// panics outside its steps (the steps retry their own failures). Its other
// errors come back as they are: the steps have phrased them already.
func (r *Runner) guard(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	return r.attempt(ctx, name, fn, nil)
}

// attempt is the retry loop of step and guard. A panic in fn is one failed
// attempt, always retried: a bug met once may not be met again (it may
// depend on what the target answered), and when it is, the budget ends it
// with a clear error instead of taking the process down or leaving the
// job's resource locked. retryable says which other errors to retry; nil
// passes them through untouched.
func (r *Runner) attempt(ctx context.Context, name string, fn func(ctx context.Context) error, retryable func(error) bool) error {
	for n := 1; ; n++ {
		err := safeCall(ctx, fn)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		// Only a panic of fn itself: one inside a nested step arrives
		// wrapped in that step's final error, its budget already spent.
		p, panicked := err.(*panicError)
		if panicked {
			p.step = name
			r.logFor(ctx).Error("panic in a job; counted as a failed attempt", "step", name, "attempt", n, "panic", p.v, "stack", string(p.stack))
		}
		again := panicked || retryable != nil && retryable(err)
		switch {
		case !again && retryable == nil:
			return err
		case !again:
			return &stepError{step: name, err: err}
		case n >= r.cfg.Retry.Attempts:
			return &stepError{step: name, err: err, attempts: n}
		}
		wait := r.cfg.Retry.backoff(n)
		r.retries.Add(1)
		r.cfg.Metrics.JobRetry()
		r.logFor(ctx).Warn("step failed; retrying", "step", name, "attempt", n, "wait", wait, "error", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return context.Cause(ctx)
		case <-timer.C:
		}
	}
}

// jobKey carries the logger of the job an execution works on (jobLogger),
// for the logs of the steps deep inside it.
type jobKey struct{}

// jobLogger returns the runner's logger with the fields every job event
// carries, so an operator can find all of a job's lines, or all of an
// app's: the job id, its operation, app and environment. The job is read
// once for them; a job that cannot be read still gets its id.
func (r *Runner) jobLogger(ctx context.Context, id string) *slog.Logger {
	var j store.Job
	err := r.store.View(ctx, func(tx *store.Tx) error {
		var err error
		j, err = tx.Job(id)
		return err
	})
	if err != nil {
		return r.log.With("job_id", id)
	}
	return r.log.With("job_id", j.ID, "operation", j.Operation, "app_id", j.AppID, "env", j.Env)
}

// logFor is the logger of the job ctx executes, or the runner's outside one.
func (r *Runner) logFor(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(jobKey{}).(*slog.Logger); ok {
		return l
	}
	return r.log
}

// panicError is a recovered panic, with where it happened for the job's
// error and the stack for the log.
type panicError struct {
	step  string
	v     any
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("internal error in step %q: panic: %v", e.step, e.v)
}

func isPanic(err error) bool {
	var p *panicError
	return errors.As(err, &p)
}

// safeCall turns a panic inside fn into a *panicError, so a bug costs an
// attempt of one job instead of the whole process.
func safeCall(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{v: v, stack: debug.Stack()}
		}
	}()
	return fn(ctx)
}
