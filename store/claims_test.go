package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
)

// claimTTL is the lease life in these tests: short, so an expiry is met
// quickly, long enough for a loaded machine to renew in time.
const claimTTL = 2 * time.Second

// claimFixture is n stores on one prefix of one etcd cluster, as n
// replicas, and a client of the cluster of the test's own.
type claimFixture struct {
	t      *testing.T
	ctx    context.Context
	stores []*Store
	cli    *clientv3.Client
}

func setupClaims(t *testing.T, c *etcdtest.Cluster, n int) *claimFixture {
	t.Helper()
	t.Parallel()
	prefix := fmt.Sprintf("/claimtest%d", etcdPrefixes.Add(1))
	f := &claimFixture{t: t, ctx: context.Background(), cli: c.Client(t)}
	for range n {
		s, err := OpenEtcd(f.ctx, EtcdOptions{Endpoints: c.Endpoints(), Prefix: prefix, LeaseTTL: claimTTL, RequestTimeout: time.Second}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		f.stores = append(f.stores, s)
	}
	return f
}

// pendingJob inserts a RUNNING job through s and returns its id.
func (f *claimFixture) pendingJob(s *Store, name string) string {
	f.t.Helper()
	j := newJob("job-"+name, "app", "dev", name, StatusRunning)
	err := s.Batch(f.ctx, func(tx *Tx) error {
		if err := tx.CreateResource(newResource("app", "dev", name, "bucket-"+name)); err != nil {
			return err
		}
		return tx.InsertJob(j)
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return j.ID
}

// claim claims id through s and fails the test unless it is granted.
func (f *claimFixture) claim(s *Store, id string) *Claim {
	f.t.Helper()
	c, ok, err := s.ClaimJob(f.ctx, id)
	if err != nil || !ok {
		f.t.Fatalf("claim %s: granted %v, %v", id, ok, err)
	}
	return c
}

// touch is a fenced write of the job: its error field set to what.
func touch(ctx context.Context, s *Store, c *Claim, what string) error {
	return s.BatchFenced(ctx, c, func(tx *Tx) error {
		j, err := tx.Job(c.Job())
		if err != nil {
			return err
		}
		j.Error = what
		return tx.PutJob(j)
	})
}

// jobError reads the job's error field through s.
func (f *claimFixture) jobError(s *Store, id string) string {
	f.t.Helper()
	var j Job
	if err := s.View(f.ctx, func(tx *Tx) (err error) { j, err = tx.Job(id); return err }); err != nil {
		f.t.Fatal(err)
	}
	return j.Error
}

// revoke ends s's current lease term from outside, as its expiry would.
func (f *claimFixture) revoke(s *Store) *Lease {
	f.t.Helper()
	term, err := s.Lease(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.cli.Revoke(f.ctx, clientv3.LeaseID(term.id)); err != nil {
		f.t.Fatal(err)
	}
	return term
}

// TestClaims holds the etcd claims to their contract.
func TestClaims(t *testing.T) {
	t.Parallel()
	c := etcdtest.Start(t, 1)

	t.Run("Exclusive", func(t *testing.T) {
		// 16 claimers on 3 stores race for one job: one wins.
		f := setupClaims(t, c, 3)
		id := f.pendingJob(f.stores[0], "exclusive")
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []int
		for i := range 16 {
			wg.Go(func() {
				_, ok, err := f.stores[i%3].ClaimJob(f.ctx, id)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won = append(won, i)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("claimers that won: %v, want exactly one", won)
		}
	})

	t.Run("FencedWriteAfterLeaseLossWritesNothing", func(t *testing.T) {
		f := setupClaims(t, c, 1)
		s := f.stores[0]
		id := f.pendingJob(s, "revoked")
		cl := f.claim(s, id)
		if err := touch(f.ctx, s, cl, "mine"); err != nil {
			t.Fatalf("fenced write under a live claim: %v", err)
		}
		term := f.revoke(s)
		<-term.Done() // the lease-lost signal fires
		err := touch(f.ctx, s, cl, "too late")
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("fenced write after the lease ended: %v, want ErrFenced", err)
		}
		if got := f.jobError(s, id); got != "mine" {
			t.Fatalf("job error %q after a refused fenced write, want %q", got, "mine")
		}
	})

	t.Run("FencedCommitChecksTheClaimItself", func(t *testing.T) {
		// The lease ends on the server while this process still takes its
		// term for live: the commit's own comparison refuses the write.
		f := setupClaims(t, c, 1)
		s := f.stores[0]
		id := f.pendingJob(s, "server-side")
		cl := f.claim(s, id)
		stale := &Claim{job: cl.job, key: cl.key, rev: cl.rev, lease: &Lease{done: make(chan struct{})}}
		f.revoke(s)
		err := touch(f.ctx, s, stale, "too late")
		if !errors.Is(err, ErrFenced) || f.jobError(s, id) != "" {
			t.Fatalf("fenced write on a revoked claim: %v, job error %q", err, f.jobError(s, id))
		}
	})

	t.Run("FencedWriteAfterReclaimFails", func(t *testing.T) {
		// Store 0 stalls past its lease, store 1 claims the job: store 0's
		// write is refused, store 1's goes through, and so do unfenced
		// writes that share store 0's group commit.
		f := setupClaims(t, c, 2)
		a, b := f.stores[0], f.stores[1]
		id := f.pendingJob(a, "reclaimed")
		old := f.claim(a, id)
		stale := &Claim{job: old.job, key: old.key, rev: old.rev, lease: &Lease{done: make(chan struct{})}}
		f.revoke(a)
		waitClaim := func() *Claim {
			for {
				if c, ok, err := b.ClaimJob(f.ctx, id); err != nil {
					t.Fatal(err)
				} else if ok {
					return c
				}
			}
		}
		cl := waitClaim()
		var wg sync.WaitGroup
		var fenced, plain error
		wg.Go(func() { fenced = touch(f.ctx, a, stale, "old owner") })
		other := f.pendingJob(a, "bystander")
		wg.Go(func() {
			plain = a.Batch(f.ctx, func(tx *Tx) error {
				j, err := tx.Job(other)
				if err != nil {
					return err
				}
				j.Error = "bystander"
				return tx.PutJob(j)
			})
		})
		wg.Wait()
		if !errors.Is(fenced, ErrFenced) {
			t.Fatalf("old owner's fenced write: %v, want ErrFenced", fenced)
		}
		if plain != nil || f.jobError(a, other) != "bystander" {
			t.Fatalf("unfenced write beside it: %v", plain)
		}
		if err := touch(f.ctx, b, cl, "new owner"); err != nil {
			t.Fatal(err)
		}
		if got := f.jobError(a, id); got != "new owner" {
			t.Fatalf("job error %q, want the new owner's", got)
		}
	})

	t.Run("ReleaseAndUnclaimedPending", func(t *testing.T) {
		f := setupClaims(t, c, 2)
		a, b := f.stores[0], f.stores[1]
		x, y := f.pendingJob(a, "x"), f.pendingJob(a, "y")
		done := newJob("job-done", "app", "dev", "done", StatusCompleted)
		if err := a.Update(f.ctx, func(tx *Tx) error { return tx.InsertJob(done) }); err != nil {
			t.Fatal(err)
		}
		unclaimed := func() []string {
			ids, err := b.UnclaimedPending(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(ids)
			return ids
		}
		if got := unclaimed(); !slices.Equal(got, []string{x, y}) {
			t.Fatalf("unclaimed pending %v, want %v", got, []string{x, y})
		}
		cl := f.claim(a, x)
		if _, ok, _ := b.ClaimJob(f.ctx, x); ok {
			t.Fatal("a claimed job was claimed again")
		}
		if got := unclaimed(); !slices.Equal(got, []string{y}) {
			t.Fatalf("unclaimed pending %v with %s claimed, want [%s]", got, x, y)
		}
		if err := a.ReleaseJob(f.ctx, cl); err != nil {
			t.Fatal(err)
		}
		if got := unclaimed(); !slices.Equal(got, []string{x, y}) {
			t.Fatalf("unclaimed pending %v after release, want %v", got, []string{x, y})
		}
		f.claim(b, x)
		if _, ok, err := b.ClaimJob(f.ctx, done.ID); ok || err != nil {
			t.Fatalf("claim of a finished job: granted %v, %v", ok, err)
		}
	})

	t.Run("LeaseLostThenRenewed", func(t *testing.T) {
		// The lost signal fires on revocation, and the store takes a new
		// term: claims are granted again under it.
		f := setupClaims(t, c, 1)
		s := f.stores[0]
		id := f.pendingJob(s, "renewed")
		cl := f.claim(s, id)
		term := f.revoke(s)
		<-cl.Lost()
		<-term.Done()
		next, err := s.Lease(f.ctx)
		if err != nil || next == term {
			t.Fatalf("lease after a loss: %v, %v (same term: %v)", next, err, next == term)
		}
		cl = f.claim(s, id)
		if err := touch(f.ctx, s, cl, "new term"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("EnvLockExcludesAndKeepsShares", func(t *testing.T) {
		f := setupClaims(t, c, 2)
		a, b := f.stores[0], f.stores[1]
		l, err := a.LockEnv(f.ctx, "app", "dev")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetShare(f.ctx, "photos", Share{Job: "j1", Perms: Permissions{Authenticated: []string{"READ"}}}); err != nil {
			t.Fatal(err)
		}
		got := make(chan *EnvLock)
		go func() {
			l2, err := b.LockEnv(f.ctx, "app", "dev")
			if err != nil {
				t.Error(err)
			}
			got <- l2
		}()
		// b waits in a watch for a's lock to go; the first holder's shares
		// are what it finds.
		l.Unlock()
		l2 := <-got
		if l2 == nil {
			t.FailNow()
		}
		defer l2.Unlock()
		if sh := l2.Shares()["photos"]; sh.Job != "j1" || !slices.Equal(sh.Perms.Authenticated, []string{"READ"}) {
			t.Fatalf("shares under the next holder: %+v", l2.Shares())
		}
		// The old lock's holder can no longer record shares.
		if err := l.SetShare(f.ctx, "photos", Share{Job: "j0"}); !errors.Is(err, ErrFenced) {
			t.Fatalf("share recorded after unlock: %v, want ErrFenced", err)
		}
	})
}

// TestClaimsOnBolt: on bbolt every claim is granted, never lost, and a
// fenced write is a plain Batch.
func TestClaimsOnBolt(t *testing.T) {
	f := setup(t)
	if f.s.Shared() || f.s.LeaseTTL() != 0 {
		t.Fatal("a bbolt store says it is shared")
	}
	j := newJob("job-1", "app", "dev", "r", StatusRunning)
	f.mustUpdate(func(tx *Tx) error { return tx.InsertJob(j) })
	for range 2 {
		c, ok, err := f.s.ClaimJob(f.ctx, j.ID)
		if err != nil || !ok || c.Lost() != nil {
			t.Fatalf("claim on bbolt: %v, %v", ok, err)
		}
		if err := touch(f.ctx, f.s, c, "x"); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := f.s.UnclaimedPending(f.ctx)
	if err != nil || !slices.Equal(ids, []string{j.ID}) {
		t.Fatalf("unclaimed pending on bbolt: %v, %v", ids, err)
	}
}
