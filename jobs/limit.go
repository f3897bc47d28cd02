package jobs

import (
	"context"
	"sync"
	"time"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
)

// limiter chooses how many jobs execute at once from how the target
// answers them, the way TCP chooses its window: it starts small, climbs
// while the target gets through more, and backs off when the target asks
// for fewer requests or gets through less. Config.Workers is only its
// ceiling.
//
// It counts the attempts of job steps (step) as they end, in rounds of a
// few times as many as the limit allows at once. A round's throughput is
// its attempts over the time it took. At the end of a round:
//
//   - the limit rises by one when the limit was reached in the round (work
//     was waiting for it: a limit nobody reaches proves nothing) and the
//     round got through at least riseAbove of the best throughput seen:
//     more at once has not yet cost anything;
//   - it falls by one when the limit was reached in the round, the round
//     got through less than fallBelow of the best, and the best was seen
//     at a lower limit: the extra jobs only queue inside the target (or
//     its CPU, which the embedded gateway shares with us), adding latency
//     and taking throughput away. A round short of work says nothing
//     about the target: a queue that ran dry is not a slower target.
//
// An attempt the target throttled (s3iam.Overloaded: SlowDown,
// Throttling, RequestLimitExceeded, 429, 503) halves the limit at once, at
// most once a round, since the attempts in flight when the first throttle
// arrives were all sent at the old limit; the best throughput is scaled
// down with it, so the limit climbs back by one a round once the target
// keeps up again. The SDK's own retries (three
// attempts) come first: a throttle the SDK rode out shows only as a slower
// round. The best throughput fades by
// 1/64 a round, so a target that has become slower for good (a busier
// host) is measured anew instead of held to its best moment.
//
// On the embedded gateway of a 2-core machine the limit climbs to the
// ceiling (the default 8) within the first few jobs. Past about 8 a burst
// took longer there (300 creates: 3.2 s at 8, 5–6 s at 16, on shared
// cores), which is why the ceiling stays 8.
type limiter struct {
	max int

	mu      sync.Mutex
	limit   int
	running int
	changed chan struct{} // closed when a slot may have come free

	n       int       // attempts ended in the round
	began   time.Time // when the round began
	reached bool      // the limit was reached in the round
	best    float64   // the best round throughput seen, in attempts per second
	bestAt  int       // the limit it was seen at
	calm    int       // attempts to end before the next throttle counts

	onChange func(limit int)  // called with each new limit (tests)
	now      func() time.Time // the clock (tests set their own)
}

const (
	// limitStart is where the limit starts: small, as the target is
	// unknown, and raised round by round.
	limitStart = 2
	// riseAbove and fallBelow are the fractions of the best round
	// throughput a round must reach for the limit to rise, or fall short
	// of for it to fall; between them it holds. They are wide because a
	// round mixes steps of very different lengths.
	riseAbove = 0.9
	fallBelow = 0.6
	// roundPerSlot attempts per slot make a round, and never fewer than
	// roundMin, so a limit of one or two is not moved by one slow answer.
	roundPerSlot = 4
	roundMin     = 16
)

func newLimiter(max int, onChange func(int)) *limiter {
	return &limiter{max: max, limit: min(limitStart, max), changed: make(chan struct{}),
		onChange: onChange, now: time.Now}
}

// acquire waits for a slot under the limit, or for ctx to end (false).
func (l *limiter) acquire(ctx context.Context) bool {
	for {
		l.mu.Lock()
		if l.running < l.limit {
			l.running++
			if l.running == l.limit {
				l.reached = true
			}
			l.mu.Unlock()
			return true
		}
		l.reached = true
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

// release gives back a slot acquire took.
func (l *limiter) release() {
	l.mu.Lock()
	l.running--
	l.wake()
	l.mu.Unlock()
}

// wake lets every waiting acquire look again; l.mu is held.
func (l *limiter) wake() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Limit is the number of jobs that may execute at once now.
func (l *limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// observe takes in the end of one attempt of a job step, with its error.
// A nil limiter (ApplyCreate's runner) ignores it.
func (l *limiter) observe(err error) {
	if l == nil {
		return
	}
	l.mu.Lock()
	now := l.now()
	defer l.mu.Unlock()
	if l.calm > 0 {
		l.calm--
	}
	if s3iam.Overloaded(err) {
		if l.calm == 0 {
			l.set(l.limit / 2)
			// The best was seen at more jobs at once than may now run: held
			// to it, a target whose answers take as long at any load (AWS's)
			// would keep the limit low long after the throttling stopped,
			// until the best faded. It is taken as what the new limit would
			// get through at the best's pace per job.
			if l.bestAt > l.limit {
				l.best, l.bestAt = l.best*float64(l.limit)/float64(l.bestAt), l.limit
			}
			l.calm = l.roundSize()
			l.newRound(now)
		}
		return
	}
	if l.began.IsZero() {
		l.began = now // the first attempt only starts the clock
		return
	}
	l.n++
	if l.n < l.roundSize() {
		return
	}
	rate := float64(l.n) / max(now.Sub(l.began).Seconds(), 1e-9)
	at := l.limit // the limit the round ran at
	switch {
	case rate >= l.best*riseAbove && l.reached:
		l.set(l.limit + 1)
	case rate < l.best*fallBelow && l.reached && l.bestAt < l.limit:
		l.set(l.limit - 1)
	}
	l.best -= l.best / 64
	if rate > l.best {
		l.best, l.bestAt = rate, at
	}
	l.newRound(now)
}

func (l *limiter) roundSize() int { return max(l.limit*roundPerSlot, roundMin) }

// newRound starts counting a round at now; l.mu is held.
func (l *limiter) newRound(now time.Time) {
	l.n, l.began, l.reached = 0, now, l.running >= l.limit
}

// set moves the limit to v, kept within [1, max]; l.mu is held.
func (l *limiter) set(v int) {
	v = min(max(v, 1), l.max)
	if v == l.limit {
		return
	}
	l.limit = v
	l.wake()
	if l.onChange != nil {
		l.onChange(v)
	}
}
