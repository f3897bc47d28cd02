package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// limiterRig drives a limiter with a clock of its own, so a round's
// throughput is what the test says it is.
type limiterRig struct {
	t     *testing.T
	l     *limiter
	clock time.Time
}

func newLimiterRig(t *testing.T, ceiling int) *limiterRig {
	r := &limiterRig{t: t, clock: time.Unix(0, 0)}
	r.l = newLimiter(ceiling, nil)
	r.l.now = func() time.Time { return r.clock }
	r.l.observe(nil) // starts the first round's clock
	return r
}

// climbed is a rig whose limit climbed from the start to the ceiling of
// 8 in busy rounds at 1,000 attempts a second.
func climbed(t *testing.T) *limiterRig {
	r := newLimiterRig(t, 8)
	for range 6 {
		r.fill()
		r.round(1000)
	}
	return r
}

// fill takes every free slot, as workers with jobs waiting do, so the
// round sees its limit reached.
func (r *limiterRig) fill() {
	for r.l.running < r.l.Limit() {
		if !r.l.acquire(context.Background()) {
			r.t.Fatal("acquire under the limit refused")
		}
	}
}

// drain gives every slot back, as workers do when the queue runs dry.
func (r *limiterRig) drain() {
	for r.l.running > 0 {
		r.l.release()
	}
}

// round ends one round of attempts that all succeed, at perSecond.
func (r *limiterRig) round(perSecond float64) {
	n := r.l.roundSize()
	for range n {
		r.clock = r.clock.Add(time.Duration(float64(time.Second) / perSecond))
		r.l.observe(nil)
	}
}

// throttled ends n attempts the target throttled and returns the limit.
func (r *limiterRig) throttled(n int) int {
	for range n {
		r.l.observe(slowDown)
	}
	return r.l.Limit()
}

var slowDown = &smithy.GenericAPIError{Code: "SlowDown", Message: "Please reduce your request rate."}

// TestLimiterFollowsThroughputAndThrottling: the limit climbs by one a
// round while its slots are all taken and the target keeps its throughput,
// never past the ceiling; it does not climb when nobody waits for it; it
// steps back when throughput falls well below what a lower limit got, but
// not when the work ran short; a throttle halves it, once for all the
// attempts of a round.
func TestLimiterFollowsThroughputAndThrottling(t *testing.T) {
	t.Parallel()
	t.Run("climbs while busy and the target keeps up", func(t *testing.T) {
		r := newLimiterRig(t, 8)
		if got := r.l.Limit(); got != limitStart {
			t.Fatalf("starts at %d, want %d", got, limitStart)
		}
		for want := limitStart + 1; want <= 10; want++ {
			r.fill()
			r.round(1000)
			if got := r.l.Limit(); got != min(want, 8) {
				t.Fatalf("after a busy round at full throughput: limit %d, want %d", got, min(want, 8))
			}
		}
	})
	t.Run("holds when nobody waits", func(t *testing.T) {
		r := newLimiterRig(t, 8)
		for range 5 {
			r.round(1000)
		}
		if got := r.l.Limit(); got != limitStart {
			t.Fatalf("limit %d with its slots never all taken, want %d", got, limitStart)
		}
	})
	t.Run("steps back when more at once gets less through", func(t *testing.T) {
		r := climbed(t)
		at := r.l.Limit()
		r.fill()
		r.round(400) // well under fallBelow of the best, seen at a lower limit
		if got := r.l.Limit(); got != at-1 {
			t.Fatalf("after a round at 40%% of the best: limit %d, want %d", got, at-1)
		}
	})
	t.Run("holds when the queue runs dry", func(t *testing.T) {
		r := climbed(t)
		at := r.l.Limit()
		r.drain()
		r.round(100) // few jobs left: the slots are not all taken
		if got := r.l.Limit(); got != at {
			t.Fatalf("after a slow round short of work: limit %d, want %d", got, at)
		}
	})
	t.Run("a throttle halves it once a round", func(t *testing.T) {
		r := climbed(t)
		if got := r.l.Limit(); got != 8 {
			t.Fatalf("limit %d, want 8 before the throttling", got)
		}
		for range 8 { // every attempt in flight at the old limit comes back throttled
			r.l.observe(fmt.Errorf("put bucket policy: %w", slowDown))
		}
		if got := r.l.Limit(); got != 4 {
			t.Fatalf("after one round's throttles: limit %d, want 4 (halved once)", got)
		}
		if got := r.throttled(r.l.roundSize()); got != 2 {
			t.Fatalf("after a second round's throttles: limit %d, want 2", got)
		}
		if got := r.throttled(3 * roundMin); got != 1 {
			t.Fatalf("under throttling for good: limit %d, want 1", got)
		}
	})
	t.Run("climbs back once a throttling target keeps up again", func(t *testing.T) {
		// A target whose answers take as long at any load (AWS's, over a
		// network): throughput follows the jobs at once, 125 a second each.
		r := newLimiterRig(t, 8)
		for range 6 {
			r.fill()
			r.round(125 * float64(r.l.Limit()))
		}
		if got := r.l.Limit(); got != 8 {
			t.Fatalf("limit %d, want 8 before the throttling", got)
		}
		if got := r.throttled(3 * roundMin); got != 1 {
			t.Fatalf("under throttling: limit %d, want 1", got)
		}
		r.drain()
		// The throttling stopped: each busy round gets through as much per
		// job as before it, which is all a rise asks for.
		for want := 2; want <= 8; want++ {
			r.fill()
			r.round(125 * float64(r.l.Limit()))
			if got := r.l.Limit(); got != want {
				t.Fatalf("busy round %d after the throttling at the throughput of before: limit %d, want %d", want-1, got, want)
			}
		}
	})
}

// throttlingProxy stands in front of the embedded gateway's S3 API and,
// while throttle is set, answers every request as S3 does when it wants
// fewer: 503 SlowDown. The real gateway never throttles, so only this can
// make it. peak is the most requests it has had in flight.
type throttlingProxy struct {
	*httptest.Server
	throttle       atomic.Bool
	inFlight, peak atomic.Int64
}

func newThrottlingProxy(t *testing.T, target string) *throttlingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &throttlingProxy{}
	forward := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := p.inFlight.Add(1)
		defer p.inFlight.Add(-1)
		for peak := p.peak.Load(); n > peak && !p.peak.CompareAndSwap(peak, n); peak = p.peak.Load() {
		}
		if p.throttle.Load() {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		forward.ServeHTTP(w, req)
	}))
	t.Cleanup(p.Close)
	return p
}

// TestJobConcurrencyFollowsTheTarget: a burst of creates on the embedded
// gateway starts with limitStart jobs at once and climbs while the target
// keeps up; when the target throttles, the runner falls back to one job at
// a time, and climbs again once the throttling stops. Every move is the
// runner's own word (Config.onLimit); nothing waits for time to pass.
func TestJobConcurrencyFollowsTheTarget(t *testing.T) {
	f := setup(t)
	proxy := newThrottlingProxy(t, s3Endpoint)
	tg, err := s3iam.New(f.ctx, s3iam.Config{S3Endpoint: proxy.URL, IAMEndpoint: iamEndpoint, AccessKey: rootKey, SecretKey: rootSecret})
	if err != nil {
		t.Fatal(err)
	}
	limits := make(chan int, 1024)
	var firstRise atomic.Int64 // the proxy's peak when the limit first rose
	f.runner = New(f.store, tg, Config{Workers: 8, PublicGuestAccess: true,
		Retry:  RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: 5 * time.Millisecond},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		onLimit: func(l int) {
			// Called before any job can take the new slot.
			firstRise.CompareAndSwap(0, proxy.peak.Load())
			limits <- l
		}})
	// A deadline only so that a broken runner fails the test instead of
	// hanging it; nothing below waits for time to pass.
	failsafe := time.After(2 * time.Minute)
	await := func(what string, ok func(int) bool) {
		t.Helper()
		for {
			select {
			case l := <-limits:
				if ok(l) {
					return
				}
			case <-failsafe:
				t.Fatalf("the limit on jobs at once never %s", what)
			}
		}
	}
	run := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	burst := func(tag string, n int) {
		for i := range n {
			env := fmt.Sprintf("%s%02d", tag, i)
			if _, err := f.runner.Create(f.ctx, CreateInput{Key: store.ResourceKey{AppID: f.app, Env: env, Name: "data"},
				Bucket: f.bucket(env + "-" + run), Permissions: store.Permissions{Authenticated: []string{"READ"}}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	burst("a", 40)
	f.start()
	await("rose to 4 on a target that keeps up", func(l int) bool { return l >= 4 })
	if peak := firstRise.Load(); peak > limitStart {
		t.Fatalf("%d S3 requests in flight before the limit first rose, want at most %d (one per job)", peak, limitStart)
	}

	proxy.throttle.Store(true)
	burst("b", 20)
	await("fell to 1 under throttling", func(l int) bool { return l == 1 })

	proxy.throttle.Store(false)
	burst("c", 40)
	await("rose again once the throttling stopped", func(l int) bool { return l >= 2 })
}
