package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
)

// TestEtcdUnavailable: a store whose connection to the cluster carries
// nothing (a partition: a proxy paused in front of the shared member)
// fails reads, writes and pings with ErrUnavailable, keeping etcd's
// cause, within its request timeout; it stops reusing what it derived
// from the store (Generation changes on every call), since it cannot
// tell what other replicas write; and it works again once the
// connection carries traffic (a commit that timed out may or may not have
// applied, as for any etcd client). A commit that kept losing is
// ErrUnavailable too.
func TestEtcdUnavailable(t *testing.T) {
	t.Parallel()
	s, proxy := proxiedStore(t)
	ctx := context.Background()
	write := func(id string) error {
		return s.Batch(ctx, func(tx *Tx) error { return tx.InsertJob(newJob(id, "app", "dev", "r", StatusCompleted)) })
	}
	read := func() error { return s.View(ctx, func(tx *Tx) error { _, err := tx.Job("job-1"); return err }) }

	proxy.Pause()
	if err := write("job-1"); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a write cut off from the cluster: %v, want ErrUnavailable with its cause", err)
	}
	if err := read(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a read cut off from the cluster: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a ping cut off from the cluster: %v, want ErrUnavailable", err)
	}
	etcdtest.WaitFor(t, "the store to stop trusting its watch", func() bool { return !followed(s) })

	proxy.Resume()
	etcdtest.WaitFor(t, "the watch to deliver again", func() bool { return followed(s) })
	// The write's commit went out (reads come from the mirror) and timed
	// out unanswered: it may have applied when the connection carried it
	// after all, as any etcd client's may. Either way the store answers.
	if err := read(); err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatalf("the job of the failed write, once connected again: %v, want found or not found", err)
	}
	if err := write("job-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("a ping once connected again: %v", err)
	}
	if !errors.Is(errContended, ErrUnavailable) {
		t.Error("errContended is not ErrUnavailable")
	}
}

// proxiedStore opens a store on a new prefix of the shared member, reached
// through a proxy the test can pause, with a request timeout of a second
// so what the pause fails fails soon; both are closed at cleanup.
func proxiedStore(t *testing.T) (*Store, *faultproxy.Proxy) {
	t.Helper()
	proxy, err := faultproxy.New(sharedEtcd(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	s, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: []string{proxy.Addr()}, Prefix: newEtcdPrefix(), RequestTimeout: time.Second}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, proxy
}

// followed reports whether s's generation holds still between two calls:
// a store that cannot tell whether other replicas wrote answers a new
// one on every call.
func followed(s *Store) bool {
	g := s.Generation()
	return s.Generation() == g
}
