package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
)

// TestEtcdUnansweredReadFailsTheWrite: a write whose read etcd did not
// answer fails with ErrUnavailable, not with what the function concluded
// from the empty answer. An update of a resource that exists, on a replica
// cut off from its cluster, must not be told the resource is missing.
func TestEtcdUnansweredReadFailsTheWrite(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1)
	s, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: "/unanswered", RequestTimeout: time.Second}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	r := newResource("app", "dev", "photos", "photos-bucket")
	if err := s.Batch(ctx, func(tx *Tx) error { return tx.CreateResource(r) }); err != nil {
		t.Fatal(err)
	}
	update := func(tx *Tx) error {
		res, err := tx.Resource(r.ResourceKey)
		if err != nil {
			return err
		}
		res.Desired = Permissions{Authenticated: []string{"READ"}}
		return tx.PutResource(res)
	}

	cluster.Members()[0].Stop()
	if err := s.Batch(ctx, update); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Errorf("an update whose read was not answered: %v, want ErrUnavailable", err)
	}
	cluster.Members()[0].Restart()
	if err := s.Batch(ctx, update); err != nil {
		t.Fatalf("the update once the member is back: %v", err)
	}
}
