package jobs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amplifybackendd/amplifybackendd/metrics"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// Config tunes the runner. The zero value of each field means its default.
type Config struct {
	// Workers is the most jobs that execute at once (default 8); it bounds
	// the concurrent calls made to the target. How many do, up to it, the
	// runner chooses from how the target answers (limiter).
	Workers int
	// AuthRoleTemplate and UnauthRoleTemplate name the IAM roles of
	// environments whose roles are not recorded yet; {appId} and {env} are
	// replaced, and both must appear (CheckRoleTemplate).
	AuthRoleTemplate   string
	UnauthRoleTemplate string
	// IdentityPoolID is the Cognito identity pool the roles trust; {appId}
	// and {env} are replaced. Empty: a placeholder derived per app and env.
	IdentityPoolID string
	// Region of the target, used in placeholder identity pool ids.
	Region string
	// PublicGuestAccess also writes the guest statements into the bucket
	// policy for Principal "*", so anonymous S3 requests are served.
	PublicGuestAccess bool
	// DeleteBuckets lets DeleteBackendStorage remove an empty bucket this
	// service created (Amplify's default is to retain it).
	DeleteBuckets bool
	// BucketPolicyLimit is the largest bucket policy, in bytes, the target
	// takes (default MaxBucketPolicyBytes, S3's 20 KB).
	BucketPolicyLimit int
	// KnownGaps are the optional bucket settings (BucketSetting) the target
	// is known not to implement. Jobs do not try them and do not warn about
	// them: a gap known before any job runs is reported once, at start-up,
	// not on every job.
	KnownGaps []BucketSetting
	// Retry bounds the retries of one step.
	Retry RetryPolicy
	// JobTimeout bounds one execution of a job (default 10 minutes).
	JobTimeout time.Duration
	// YieldAt is how many API calls in flight (see Runner.BeginCall) make
	// the workers yield: while that many are, at most one job executes
	// (default 4; negative never yields).
	YieldAt int
	// JobRetention is how long a finished job stays after its last update
	// (default DefaultJobRetention; negative keeps jobs forever). Older ones
	// are removed in the background (store.SweepJobs), except each
	// resource's latest job.
	JobRetention time.Duration
	// Logger receives job events (default slog.Default()).
	Logger *slog.Logger
	// Metrics, when set, counts jobs accepted, finished and retried.
	Metrics *metrics.Metrics

	// onYield, when set, is called each time a worker holding a job starts
	// waiting for the API calls in flight to ease. It is the runner's own
	// word that it yields, so a test can tell a yielding worker from a slow
	// one without waiting for time to pass.
	onYield func()
	// onLimit, when set, is called with each new limit on the jobs that
	// execute at once, so a test can wait for the limit to move.
	onLimit func(limit int)
	// onSweep, when set, is called after each sweep of expired jobs with
	// what it removed, so a test can wait for a sweep instead of for time.
	onSweep func(removed int, err error)
	// onSweepYield, when set, is called each time the sweep of expired
	// jobs starts waiting between two batches for API calls to ease.
	onSweepYield func()
}

func (c *Config) defaults() {
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.AuthRoleTemplate == "" {
		c.AuthRoleTemplate = DefaultAuthRoleTemplate
	}
	if c.UnauthRoleTemplate == "" {
		c.UnauthRoleTemplate = DefaultUnauthRoleTemplate
	}
	if c.BucketPolicyLimit <= 0 {
		c.BucketPolicyLimit = MaxBucketPolicyBytes
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = 10 * time.Minute
	}
	c.Retry.defaults()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.YieldAt == 0 {
		c.YieldAt = 4
	}
	if c.JobRetention == 0 {
		c.JobRetention = DefaultJobRetention
	}
}

// DefaultJobRetention keeps finished jobs for 30 days, long enough for
// anyone to look back on a month of changes.
const DefaultJobRetention = 30 * 24 * time.Hour

// yieldPoll is how often a yielding worker looks again.
const yieldPoll = 5 * time.Millisecond

// Runner accepts storage changes as jobs and executes them against the
// target with a pool of workers. Job state moves only through its two
// transitions (state.go).
type Runner struct {
	store  *store.Store
	target Target
	cfg    Config
	log    *slog.Logger

	mu      sync.Mutex
	queue   []string
	queued  map[string]bool
	active  map[string]bool  // jobs a worker is executing
	running map[string]phase // how to interrupt their current phase
	wake    chan struct{}

	limit     *limiter      // how many jobs execute at once
	calls     atomic.Int64  // API calls in flight
	executing atomic.Int64  // workers executing a job
	retries   atomic.Uint64 // failed attempts that were retried (Retries)

	recovered     chan struct{} // closed once Run has queued the jobs left by an earlier process
	recoveredOnce sync.Once

	// What jobs last wrote into their environments' shared role documents
	// (envpolicy.go), as this process knows it.
	envMu  sync.Mutex
	shares map[store.ResourceKey]share
}

// phase is an execution phase in flight: how to interrupt it, and the job
// status it started from, which a cancel from another replica changes
// (scan).
type phase struct {
	cancel context.CancelCauseFunc
	status store.Status
}

// errInterrupted is the cause given to an execution's context when a client
// cancels its job, to tell it apart from a shutdown.
var errInterrupted = errors.New("job cancelled by client")

// errLeaseLost is the cause given to the executions of a replica whose
// lease on the shared store ended: their claims are gone, so they stop
// without a state write.
var errLeaseLost = errors.New("lease on the shared store lost")

// New returns a runner; call Run to start executing.
func New(st *store.Store, tg Target, cfg Config) *Runner {
	cfg.defaults()
	return &Runner{store: st, target: tg, cfg: cfg, log: cfg.Logger, limit: newLimiter(cfg.Workers, cfg.onLimit),
		queued: map[string]bool{}, active: map[string]bool{}, running: map[string]phase{}, wake: make(chan struct{}, 1),
		recovered: make(chan struct{})}
}

// Run records the roles of environments provisioned before role names were
// recorded, picks up every pending job left by an earlier process (on a
// shared store: every pending job no replica has claimed), then executes
// jobs until ctx is cancelled. On cancellation it stops softly: executions
// in flight are abandoned without a state write, so their jobs stay
// RUNNING and the next start, or another replica, resumes them. Run
// returns when every worker has stopped.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.recordLegacyRoles(ctx); err != nil {
		return err
	}
	pending, err := r.store.UnclaimedPending(ctx)
	if err != nil {
		return err
	}
	for _, id := range pending {
		r.enqueue(id)
	}
	if len(pending) > 0 {
		r.log.Info("resuming pending jobs", "count", len(pending))
	}
	r.recoveredOnce.Do(func() { close(r.recovered) })
	var wg sync.WaitGroup
	if r.store.Shared() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.scanEvery(ctx, r.store.LeaseTTL()/4)
		}()
	}
	if r.cfg.JobRetention > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.expireJobs(ctx)
		}()
	}
	for i := 0; i < r.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// Recovered is closed once Run has brought the store up to date and queued
// every job an earlier process left pending (on a shared store, every
// pending job no replica claims): until then the jobs a reader sees as
// RUNNING may belong to no worker, so the server is not ready.
func (r *Runner) Recovered() <-chan struct{} { return r.recovered }

func (r *Runner) enqueue(id string) {
	r.mu.Lock()
	if !r.queued[id] {
		r.queued[id] = true
		r.queue = append(r.queue, id)
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) next(ctx context.Context) (string, bool) {
	for {
		r.mu.Lock()
		if len(r.queue) > 0 {
			id := r.queue[0]
			r.queue = r.queue[1:]
			delete(r.queued, id)
			more := len(r.queue) > 0
			r.mu.Unlock()
			if more {
				select {
				case r.wake <- struct{}{}:
				default:
				}
			}
			return id, true
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", false
		case <-r.wake:
		}
	}
}

func (r *Runner) work(ctx context.Context) {
	for {
		id, ok := r.next(ctx)
		if !ok {
			return
		}
		r.mu.Lock()
		if r.active[id] {
			// Another worker has it and re-reads the job before it stops.
			r.mu.Unlock()
			continue
		}
		r.active[id] = true
		r.mu.Unlock()

		if r.admit(ctx) {
			// The API's turn first (admit), then the target's (the
			// limiter): a worker waiting for a slot is counted as
			// executing, so it also holds back others while the API is busy.
			if r.limit.acquire(ctx) {
				r.executeClaimed(ctx, id)
				r.limit.release()
			}
			r.executing.Add(-1)
		}

		r.mu.Lock()
		delete(r.active, id)
		r.mu.Unlock()
	}
}

// Retries counts the attempts of job steps (and of a job's own
// bookkeeping) that failed and were retried since the runner was made. It
// moves while a target refuses, throttles or fails, before any job fails
// for it, which is when an operator wants to know; Config.Metrics counts
// the same retries as amplifybackendd_job_retries_total.
func (r *Runner) Retries() uint64 { return r.retries.Load() }

// State reports, for the metrics, the jobs RUNNING in the store (the
// oldest one's acceptance time with them), the jobs waiting in the queue
// and how many may execute at once. It reads the pending index and those jobs at each call: a scrape
// every few seconds costs one read transaction, and no counter kept beside
// the store can drift from it across restarts and recovery.
func (r *Runner) State(ctx context.Context) (metrics.JobsState, error) {
	var s metrics.JobsState
	err := r.store.View(ctx, func(tx *store.Tx) error {
		n, oldest, err := tx.RunningJobs()
		s.Running, s.OldestRunning = n, oldest.CreateTime
		return err
	})
	r.mu.Lock()
	s.Queued = len(r.queue)
	r.mu.Unlock()
	s.Limit = r.limit.Limit()
	return s, err
}

// BeginCall and EndCall bracket an API call. While Config.YieldAt calls are
// in flight, workers yield: at most one job executes. On a small machine,
// and always with the embedded target, job execution and the API share the
// CPU; answering is what clients wait on, jobs are asynchronous, and the
// accepted backlog is worked off at full width once the calls ease.
func (r *Runner) BeginCall() { r.calls.Add(1) }

// EndCall ends what BeginCall began.
func (r *Runner) EndCall() { r.calls.Add(-1) }

// admit counts the worker as executing once the API leaves room for it,
// and reports false if ctx ended first. One job may always execute, so
// work never stops entirely.
func (r *Runner) admit(ctx context.Context) bool {
	return r.yieldUntil(ctx, func() bool {
		for {
			n := r.executing.Load()
			if n != 0 && !r.apiQuiet() {
				return false
			}
			if r.executing.CompareAndSwap(n, n+1) {
				return true
			}
		}
	}, r.cfg.onYield)
}

// apiQuiet reports whether fewer API calls are in flight than make work
// in the background yield.
func (r *Runner) apiQuiet() bool {
	return r.cfg.YieldAt < 0 || r.calls.Load() < int64(r.cfg.YieldAt)
}

// yieldUntil waits until ok holds, looking again every yieldPoll, and
// reports false if ctx ended first. onWait, when set, is called when the
// wait begins.
func (r *Runner) yieldUntil(ctx context.Context, ok func() bool, onWait func()) bool {
	var wait *time.Timer
	for {
		if ok() {
			if wait != nil {
				wait.Stop()
			}
			return true
		}
		if wait == nil {
			if onWait != nil {
				onWait()
			}
			wait = time.NewTimer(yieldPoll)
		} else {
			wait.Reset(yieldPoll)
		}
		select {
		case <-ctx.Done():
			wait.Stop()
			return false
		case <-wait.C:
		}
	}
}

// executeSafely runs a job so that a bug in the executor's own bookkeeping
// (a panic outside the steps, which run recovers) or a state write that
// fails costs attempts, not the process or the resource: the execution is
// retried with backoff within Config.Retry, each run starting again from the
// stored state, then the job is failed with that error and its resource
// released.
func (r *Runner) executeSafely(ctx context.Context, id string) {
	log := r.jobLogger(ctx, id)
	ctx = context.WithValue(ctx, jobKey{}, log)
	err := r.attempt(ctx, "job bookkeeping", func(ctx context.Context) error { return r.execute(ctx, id) },
		func(err error) bool { return !errors.Is(err, store.ErrFenced) })
	if errors.Is(err, store.ErrFenced) {
		log.Warn("the job's claim was lost; another replica owns it now", "error", err)
		return
	}
	if err != nil && ctx.Err() == nil {
		log.Error("job execution kept failing; failing the job", "error", err)
		r.giveUp(ctx, id, err)
	}
}

// interrupt aborts the execution of job id, if one is in flight.
func (r *Runner) interrupt(id string) {
	r.mu.Lock()
	p, ok := r.running[id]
	r.mu.Unlock()
	if ok {
		p.cancel(errInterrupted)
	}
}
