package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The claims of a store in etcd. Under the store's prefix P, beside the
// key-value layer's keys (kv_etcd.go), in a range no bucket can reach (a
// bucket's name is never empty, so no bucket key starts with P//):
//
//	P//claim/jobID          the claim on a job: its value names the owner,
//	                        and it is bound to the owner's lease
//	P//lock/app \x00 env    the lock of an environment's role documents,
//	                        bound to the holder's lease
//	P//shares/app \x00 env  the environment's shares (JSON), written by the
//	                        lock holder only
//
// A claim or a lock is compare-and-create: the Txn puts the key only if
// it does not exist (its create revision is 0). The key's create revision
// then identifies this claim, and a fenced write compares it in its own
// Txn: a key deleted by the lease's end, or deleted and created again by
// another process's claim, has another create revision, and the write
// applies nothing.

// etcdLeases keeps this process's lease on a shared store and makes its
// claims.
type etcdLeases struct {
	kv    *etcdKV
	ttl   time.Duration
	owner string
	log   *slog.Logger

	mu    sync.Mutex
	cur   *Lease        // nil while there is no live term
	ready chan struct{} // closed when cur is set

	stop    chan struct{} // closed by close
	stopped chan struct{} // closed when keep has returned
	// revoke says whether close revokes the lease (a clean stop) or
	// leaves it to expire (abandon: a crash, for tests).
	revoke bool
}

// errLeaseGone is a claim or lock refused because the lease it was to hang
// on ended while it was made.
var errLeaseGone = errors.New("store: lease lost")

func newEtcdLeases(kv *etcdKV, ttl time.Duration, log *slog.Logger) *etcdLeases {
	host, _ := os.Hostname()
	l := &etcdLeases{kv: kv, ttl: ttl, owner: fmt.Sprintf("%s/%d", host, os.Getpid()), log: log,
		ready: make(chan struct{}), stop: make(chan struct{}), stopped: make(chan struct{}), revoke: true}
	go l.keep()
	return l
}

// Key names of the claims' range.
func (l *etcdLeases) claimKey(id string) string { return l.kv.prefix + "//claim/" + id }
func (l *etcdLeases) claimsRange() (string, string) {
	return l.kv.prefix + "//claim/", l.kv.prefix + "//claim0"
}
func (l *etcdLeases) lockKey(env string) string   { return l.kv.prefix + "//lock/" + env }
func (l *etcdLeases) sharesKey(env string) string { return l.kv.prefix + "//shares/" + env }

// pendingKey is the job's key in the pending/ bucket, as the key-value
// layer names it.
func (l *etcdLeases) pendingKey(id string) string {
	return l.kv.prefix + "/" + string(bucketPending) + "/" + id
}

// keep holds a lease term after term until close: it grants a lease,
// renews it every quarter of the TTL, and ends the term three quarters of
// the TTL after the last renewal etcd answered was sent. Etcd counts the
// TTL from when it received that renewal, which is after it was sent, so
// the term ends here before etcd can expire the lease and another process
// claim what it held, however late the answer arrived: an answer that
// waited (a stalled or paused process finds it on waking, a congested
// path delivers it late) renews the term only as far as its request did
// the lease.
func (l *etcdLeases) keep() {
	defer close(l.stopped)
	retry := min(l.ttl/4, time.Second)
	for {
		term, sent, err := l.grant()
		if err != nil {
			l.log.Warn("no lease on the etcd store; claiming no jobs until one is granted", "error", err)
			select {
			case <-l.stop:
				return
			case <-time.After(retry):
				continue
			}
		}
		l.mu.Lock()
		l.cur = term
		close(l.ready)
		l.mu.Unlock()

		stopped := l.hold(term, sent)
		l.mu.Lock()
		l.cur, l.ready = nil, make(chan struct{})
		l.mu.Unlock()
		close(term.done)
		if stopped && !l.revoke {
			return
		}
		// Lost, or stopping: revoke what may still live on the server, so
		// other processes take the claims over at once rather than at
		// its expiry. It may already be gone.
		ctx, done := context.WithTimeout(context.Background(), l.kv.timeout)
		_, err = l.kv.client.Revoke(ctx, clientv3.LeaseID(term.id))
		done()
		if stopped {
			return
		}
		l.log.Warn("the lease on the etcd store was lost; every job execution stops and the claims go to other replicas", "lease", fmt.Sprintf("%x", term.id), "revoke_error", err)
	}
}

// grant starts a term: a new lease, and when its request was sent.
func (l *etcdLeases) grant() (*Lease, time.Time, error) {
	sent := time.Now()
	ctx, done := context.WithTimeout(context.Background(), l.kv.timeout)
	resp, err := l.kv.client.Grant(ctx, int64((l.ttl+time.Second-1)/time.Second))
	done()
	if err != nil {
		return nil, sent, fmt.Errorf("grant a lease: %w", err)
	}
	term := &Lease{id: int64(resp.ID), done: make(chan struct{})}
	term.extend(sent.Add(l.ttl * 3 / 4))
	return term, sent, nil
}

// renewal is the outcome of one renewal of a term's lease.
type renewal struct {
	sent time.Time // when its request was sent
	ok   bool      // etcd renewed the lease
	gone bool      // etcd no longer has the lease
}

// hold renews term from its grant, sent then, until it ends: it reports
// true when close stopped it, false when the lease was not renewed in
// time or is gone. Each renewal is a request of its own, so one answered
// late holds back none after it. The clock decides every end: after a
// stall of the process its timers and the answers that waited are all
// ready at once, and none of them may stand for time that passed.
func (l *etcdLeases) hold(term *Lease, sent time.Time) bool {
	limit := l.ttl * 3 / 4
	deadline := sent.Add(limit)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	answers := make(chan renewal)
	renew := func() {
		r := renewal{sent: time.Now()}
		// An answer past the term's possible end could renew nothing.
		rctx, done := context.WithDeadline(ctx, r.sent.Add(limit))
		resp, err := l.kv.client.KeepAliveOnce(rctx, clientv3.LeaseID(term.id))
		done()
		r.ok = err == nil && resp.TTL > 0
		r.gone = errors.Is(err, rpctypes.ErrLeaseNotFound)
		select {
		case answers <- r:
		case <-ctx.Done():
		}
	}
	every := time.NewTicker(l.ttl / 4)
	defer every.Stop()
	end := time.NewTimer(time.Until(deadline))
	defer end.Stop()
	for {
		select {
		case <-l.stop:
			return true
		case <-end.C:
		case <-every.C:
			if time.Now().Before(deadline) {
				wg.Go(renew)
			}
		case r := <-answers:
			if r.gone {
				return false
			}
			if d := r.sent.Add(limit); r.ok && d.After(deadline) {
				deadline = d
				term.extend(deadline)
				end.Reset(time.Until(deadline))
			}
		}
		if !time.Now().Before(deadline) {
			return false
		}
	}
}

// current returns the live term, waiting for one.
func (l *etcdLeases) current(ctx context.Context) (*Lease, error) {
	for {
		l.mu.Lock()
		term, ready := l.cur, l.ready
		l.mu.Unlock()
		if term != nil {
			return term, nil
		}
		select {
		case <-ready:
		case <-l.stop:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// close ends the keeper, revoking the lease unless abandoned.
func (l *etcdLeases) close() {
	close(l.stop)
	<-l.stopped
}

// request bounds one request by the engine's timeout and ctx.
func (l *etcdLeases) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, l.kv.timeout)
}

// createUnder puts key (value: the owner) under term if it does not exist
// and every extra comparison holds, in one Txn with the extra operations.
// It returns the Txn's answer; on success the key's create revision is the
// answer's revision.
func (l *etcdLeases) createUnder(ctx context.Context, term *Lease, key string, cmps []clientv3.Cmp, then, orElse []clientv3.Op) (*clientv3.TxnResponse, error) {
	ctx, cancel := l.request(ctx)
	defer cancel()
	cmps = append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, cmps...)
	then = append([]clientv3.Op{clientv3.OpPut(key, l.owner, clientv3.WithLease(clientv3.LeaseID(term.id)))}, then...)
	resp, err := l.kv.client.Txn(ctx).If(cmps...).Then(then...).Else(orElse...).Commit()
	if err != nil {
		select {
		case <-term.done:
			return nil, fmt.Errorf("%w: %w", errLeaseGone, err)
		default:
		}
		return nil, fmt.Errorf("store: etcd: %w", err)
	}
	return resp, nil
}

// claim is ClaimJob on etcd. It checks, in the claim's Txn, that the job
// is still pending, so a finished job is never claimed. It does not put
// the commit key: no transaction of the key-value layer reads claims, and
// every write whose correctness rests on one (the executor's) compares
// the claim itself in its commit, so a claim has nothing to invalidate,
// and would otherwise make every transaction in flight run again.
func (l *etcdLeases) claim(ctx context.Context, id string) (*Claim, bool, error) {
	term, err := l.current(ctx)
	if err != nil {
		return nil, false, err
	}
	key := l.claimKey(id)
	resp, err := l.createUnder(ctx, term, key,
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(l.pendingKey(id)), ">", 0)}, nil, nil)
	if err != nil || !resp.Succeeded {
		return nil, false, err
	}
	return &Claim{job: id, key: key, rev: resp.Header.Revision, lease: term}, true, nil
}

// deleteIfCreatedAt deletes key if its create revision is still rev.
func (l *etcdLeases) deleteIfCreatedAt(ctx context.Context, key string, rev int64) error {
	ctx, cancel := l.request(ctx)
	defer cancel()
	_, err := l.kv.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return fmt.Errorf("store: etcd: release %s: %w", key, err)
	}
	return nil
}

// unclaimedPending reads the pending index and the claims at one revision
// (one Txn of two range reads) and returns the pending jobs not claimed.
func (l *etcdLeases) unclaimedPending(ctx context.Context) ([]string, error) {
	ctx, cancel := l.request(ctx)
	defer cancel()
	pendLo := l.pendingKey("")
	pendHi := l.kv.prefix + "/" + string(bucketPending) + "0"
	claimLo, claimHi := l.claimsRange()
	resp, err := l.kv.client.Txn(ctx).Then(
		clientv3.OpGet(pendLo, clientv3.WithRange(pendHi), clientv3.WithKeysOnly()),
		clientv3.OpGet(claimLo, clientv3.WithRange(claimHi), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("store: etcd: list unclaimed jobs: %w", err)
	}
	claimed := map[string]bool{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		claimed[string(kv.Key[len(claimLo):])] = true
	}
	var ids []string
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		if id := string(kv.Key[len(pendLo):]); !claimed[id] {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// lockEnv takes the environment's lock: compare-and-create of its key
// under the current term; while another holds it, a watch waits for its
// deletion (an unlock, or its holder's lease ending).
func (l *etcdLeases) lockEnv(ctx context.Context, s *Store, env string) (*EnvLock, error) {
	key, shares := l.lockKey(env), l.sharesKey(env)
	for {
		term, err := l.current(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := l.createUnder(ctx, term, key, nil, []clientv3.Op{clientv3.OpGet(shares)}, []clientv3.Op{clientv3.OpGet(key)})
		if errors.Is(err, errLeaseGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if resp.Succeeded {
			lock := &EnvLock{s: s, env: env, rev: resp.Header.Revision, lease: term}
			if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
				if err := json.Unmarshal(kvs[0].Value, &lock.shares); err != nil {
					l.unlockEnv(lock)
					return nil, fmt.Errorf("%w: shares of environment %q: %w", ErrDamaged, env, err)
				}
			}
			return lock, nil
		}
		if err := l.awaitDelete(ctx, term, key, resp.Header.Revision+1); err != nil {
			return nil, err
		}
	}
}

// awaitDelete waits until key is deleted at or after revision from, or
// term ends (the caller then takes the lock under the next term).
func (l *etcdLeases) awaitDelete(ctx context.Context, term *Lease, key string, from int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	events := l.kv.client.Watch(wctx, key, clientv3.WithRev(from), clientv3.WithFilterPut())
	for {
		select {
		case <-term.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-l.stop:
			return ErrClosed
		case resp, ok := <-events:
			if !ok || resp.Err() != nil || slices.ContainsFunc(resp.Events, func(e *clientv3.Event) bool { return e.Type == mvccpb.DELETE }) {
				// Deleted, or the watch broke (a compaction, no leader):
				// try again either way; the Txn is the judge.
				return nil
			}
		}
	}
}

// putShares writes the lock's shares, fenced on the lock.
func (l *etcdLeases) putShares(ctx context.Context, lock *EnvLock) error {
	v, err := json.Marshal(lock.shares)
	if err != nil {
		return err
	}
	ctx, cancel := l.request(ctx)
	defer cancel()
	resp, err := l.kv.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(l.lockKey(lock.env)), "=", lock.rev)).
		Then(clientv3.OpPut(l.sharesKey(lock.env), string(v))).Commit()
	if err != nil {
		return fmt.Errorf("store: etcd: record shares: %w", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("lock of environment %q: %w", lock.env, ErrFenced)
	}
	return nil
}

// unlockEnv deletes the lock key if it is still this lock's; a lock lost
// with its lease is gone already.
func (l *etcdLeases) unlockEnv(lock *EnvLock) {
	ctx, cancel := context.WithTimeout(context.Background(), l.kv.timeout)
	defer cancel()
	if err := l.deleteIfCreatedAt(ctx, l.lockKey(lock.env), lock.rev); err != nil {
		// It goes with the lease at the latest.
		l.log.Warn("an environment's lock was not released; it is released when this replica's lease ends", "error", err)
	}
}

// fencedError is a commit refused because a claim it was fenced on is no
// longer the one the writer holds: keys names those claims.
type fencedError struct{ keys []string }

func (e *fencedError) Error() string { return fmt.Sprintf("claims %v: %v", e.keys, ErrFenced) }
func (e *fencedError) Unwrap() error { return ErrFenced }
