package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
)

// TestEtcdUnavailable: with the cluster's only member stopped, reads and
// writes fail with ErrUnavailable (keeping etcd's cause) within the
// request timeout, and work again once it is back; a commit that kept
// losing is ErrUnavailable too.
func TestEtcdUnavailable(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1)
	s, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: "/unavailable", RequestTimeout: time.Second}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	write := func(id string) error {
		return s.Batch(ctx, func(tx *Tx) error { return tx.InsertJob(newJob(id, "app", "dev", "r", StatusCompleted)) })
	}
	read := func() error { return s.View(ctx, func(tx *Tx) error { _, err := tx.Job("job-1"); return err }) }

	cluster.Members()[0].Stop()
	if err := write("job-1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a write with no member up: %v, want ErrUnavailable", err)
	}
	if err := read(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a read with no member up: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a ping with no member up: %v, want ErrUnavailable", err)
	}
	cluster.Members()[0].Restart()
	if err := read(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the job of the failed write, once the member is back: %v, want not found", err)
	}
	if err := write("job-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("a ping once the member is back: %v", err)
	}
	if !errors.Is(errContended, ErrUnavailable) {
		t.Error("errContended is not ErrUnavailable")
	}
}
