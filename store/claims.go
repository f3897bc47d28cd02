package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// Claims: which process executes a job, and which writes a job's state.
// doc.go ("Claims and leases") says why they are shaped so; claims_etcd.go
// holds the etcd side. On bbolt one process holds the file's lock, so every
// claim is granted at once, never lost, and costs no store access.

// ErrFenced is what a fenced write (BatchFenced, EnvLock.SetShare) answers
// when its claim is no longer this process's live claim: its lease was lost
// or another process claimed the job since. Nothing was written; the job
// is someone else's now, and the caller stops working on it.
var ErrFenced = errors.New("store: claim no longer held by this process")

// Lease is one term of this process's lease on a shared store. Claims are
// made under the current term; when it ends (Done is closed) every claim
// made under it is gone, and the store takes a new term when it can.
type Lease struct {
	id   int64
	done chan struct{}
	// ends is when the term ends unless renewed (etcd; zero on bbolt),
	// in Unix nanoseconds of the monotonic clock's reading (ends, below).
	ends atomic.Int64
}

// Done is closed when the term ends: the lease expired, was revoked, or
// stopped being renewed in time. On bbolt it is never closed.
func (l *Lease) Done() <-chan struct{} { return l.done }

// monoStart anchors the readings Lease.ends keeps: durations since it are
// measured on the monotonic clock, which runs on while the process is
// stopped.
var monoStart = time.Now()

// extend sets when the term ends unless renewed again.
func (l *Lease) extend(t time.Time) { l.ends.Store(int64(t.Sub(monoStart))) }

// Live reports whether the term is still running, by the clock: true
// until Done is closed and, on etcd, until the end its last renewal set
// has passed. A process resumed after a stall past its lease learns so
// from Live at once, before the goroutine that closes Done has run.
func (l *Lease) Live() bool {
	select {
	case <-l.done:
		return false
	default:
	}
	ends := l.ends.Load()
	return ends == 0 || time.Since(monoStart) < time.Duration(ends)
}

// Claim is this process's hold on one job. Only the holder of a live claim
// writes the job's state, through BatchFenced.
type Claim struct {
	job   string
	key   string // etcd: the claim key; empty on bbolt
	rev   int64  // etcd: the claim key's create revision
	lease *Lease
}

// Held reports whether the claim is still this process's by its lease's
// clock (Lease.Live): a check before each effect of the job, which the
// fenced writes repeat in etcd for the store.
func (c *Claim) Held() bool { return c.lease.Live() }

// Job is the id of the claimed job.
func (c *Claim) Job() string { return c.job }

// Lost is closed when the claim's lease term ends; nil (never ready) on
// bbolt, where a claim cannot be lost.
func (c *Claim) Lost() <-chan struct{} {
	if c.key == "" {
		return nil
	}
	return c.lease.done
}

// Shared reports whether other processes may share the store (etcd): jobs
// must then be claimed before they are executed, and their state written
// under the claim.
func (s *Store) Shared() bool { return s.kv.etcd != nil }

// LeaseTTL is the life of this process's lease on a shared store (zero on
// bbolt): a claim outlives a dead process by at most this long.
func (s *Store) LeaseTTL() time.Duration {
	if s.leases == nil {
		return 0
	}
	return s.leases.ttl
}

// Lease returns this process's current lease term, waiting for a new one
// while there is none (the last was lost and etcd cannot grant one yet).
func (s *Store) Lease(ctx context.Context) (*Lease, error) {
	if s.leases == nil {
		return s.boltLease, nil
	}
	return s.leases.current(ctx)
}

// ClaimJob claims job id for this process. It reports false, claiming
// nothing, when another live claim holds the job or the job is no longer
// pending. The claim lasts until ReleaseJob or the end of its lease term.
func (s *Store) ClaimJob(ctx context.Context, id string) (*Claim, bool, error) {
	if s.leases == nil {
		return &Claim{job: id, lease: s.boltLease}, true, nil
	}
	return s.leases.claim(ctx, id)
}

// ReleaseJob gives up c, so another process may claim the job at once (a
// finished job is not pending, so none will). A claim already lost is
// released already.
func (s *Store) ReleaseJob(ctx context.Context, c *Claim) error {
	if c.key == "" {
		return nil
	}
	return s.leases.deleteIfCreatedAt(ctx, c.key, c.rev)
}

// BatchFenced is Batch for a write of c's job state: it commits only while
// c is this process's live claim, and otherwise writes nothing and answers
// ErrFenced. Fenced writes share group commits with other writes; the
// claim is compared in the commit itself, so a process that stalled past
// its lease cannot overwrite the job's new owner.
func (s *Store) BatchFenced(ctx context.Context, c *Claim, fn func(*Tx) error) error {
	if c.key == "" {
		return s.Batch(ctx, fn)
	}
	select {
	case <-c.lease.done:
		return fmt.Errorf("job %s: %w", c.job, ErrFenced)
	default:
	}
	return s.batch(ctx, c, fn)
}

// UnclaimedPending returns the pending jobs (Tx.PendingJobs) no live claim
// holds: what a process may claim. On bbolt, every pending job.
func (s *Store) UnclaimedPending(ctx context.Context) ([]string, error) {
	if s.leases == nil {
		var ids []string
		err := s.View(ctx, func(tx *Tx) error { ids = tx.PendingJobs(); return nil })
		return ids, err
	}
	return s.leases.unclaimedPending(ctx)
}

// Share is what a job last wrote into its environment's shared role
// documents for its resource (the job layer's envpolicy.go says why it is
// kept).
type Share struct {
	Job   string      `json:"job"`
	Perms Permissions `json:"perms"`
}

// EnvLock is the lock of one environment's shared role documents: one
// holder at a time across every process sharing the store, so two writers
// never write the documents from different snapshots. The shares of the
// environment's resources are kept with it.
type EnvLock struct {
	s      *Store
	env    string // envKey(app, env)
	shares map[string]Share
	// etcd: the lock key's create revision and its lease term.
	rev   int64
	lease *Lease
	// bbolt: the in-process lock to give back.
	local chan struct{}
}

// localEnvs holds, on bbolt, each environment's lock and shares in memory:
// one process owns the file.
type localEnvs struct {
	mu     sync.Mutex
	locks  map[string]chan struct{}
	shares map[string]map[string]Share
}

// LockEnv waits for the lock of the environment's role documents, or for
// ctx to end. On a shared store the lock is held under this process's
// lease: a process that dies or is cut off loses it with its claims.
func (s *Store) LockEnv(ctx context.Context, appID, env string) (*EnvLock, error) {
	k := string(envKey(appID, env))
	if s.leases != nil {
		return s.leases.lockEnv(ctx, s, k)
	}
	s.envs.mu.Lock()
	if s.envs.locks == nil {
		s.envs.locks, s.envs.shares = map[string]chan struct{}{}, map[string]map[string]Share{}
	}
	ch := s.envs.locks[k]
	if ch == nil {
		ch = make(chan struct{}, 1)
		s.envs.locks[k] = ch
	}
	s.envs.mu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.envs.mu.Lock()
	shares := maps.Clone(s.envs.shares[k])
	s.envs.mu.Unlock()
	return &EnvLock{s: s, env: k, shares: shares, local: ch}, nil
}

// Shares returns the environment's shares by resource name, as the lock
// found them plus what SetShare wrote since. The map is the lock's: read
// it while the lock is held.
func (l *EnvLock) Shares() map[string]Share { return l.shares }

// SetShare records what the lock holder's job wrote for resource name. On
// a shared store it is a fenced write: it fails with ErrFenced, writing
// nothing, once the lock is lost.
func (l *EnvLock) SetShare(ctx context.Context, name string, sh Share) error {
	if l.shares == nil {
		l.shares = map[string]Share{}
	}
	l.shares[name] = sh
	if l.local == nil {
		return l.s.leases.putShares(ctx, l)
	}
	l.s.envs.mu.Lock()
	l.s.envs.shares[l.env] = maps.Clone(l.shares)
	l.s.envs.mu.Unlock()
	return nil
}

// Unlock gives the lock back.
func (l *EnvLock) Unlock() {
	if l.local != nil {
		<-l.local
		return
	}
	l.s.leases.unlockEnv(l)
}
