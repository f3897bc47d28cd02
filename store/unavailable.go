package store

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// etcdFailure classes a failed request to etcd: when the cluster could
// not answer (no quorum or leader in time, a member stopping, the
// connection refused or lost, the request timeout spent) it wraps err in
// ErrUnavailable, keeping err for the log; anything else (a refused
// request, a closed client) is returned as it is.
func etcdFailure(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !etcdUnanswered(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// etcdUnanswered reports whether err says the cluster did not answer,
// as opposed to answering no. The client turns a deadline into the
// context's error; the server's own refusals to serve now (no leader, a
// timeout waiting for the raft log) are typed errors carrying a gRPC
// code, and it asks for fewer requests with one of its own; a connection refused or lost is a bare gRPC
// Unavailable status.
func etcdUnanswered(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpctypes.ErrTooManyRequests) {
		return true
	}
	var etcdErr rpctypes.EtcdError
	code := status.Code(err)
	if errors.As(err, &etcdErr) {
		code = etcdErr.Code()
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// Ping reports whether the store answers now: a bbolt store, that it is
// open; a store on etcd, that the cluster answers a linearizable read
// within the request timeout (ErrUnavailable when it does not). A
// readiness probe asks it, so a load balancer stops sending requests to a
// replica cut off from the cluster; on etcd it costs a round trip. Damage
// the background check found (CheckBackground) fails it too: such a store
// takes no writes.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.checked:
		if s.checkErr != nil {
			return s.checkErr
		}
	default:
	}
	if err := s.fileInPlace(); err != nil {
		return err
	}
	// On etcd the View asks the cluster for its last commit, and reading
	// the meta bucket's marker waits for this replica's mirror to hold
	// it: a replica whose watch stopped delivering is not ready either.
	return s.View(ctx, func(tx *Tx) error { tx.kv.HasBucket(bucketMeta); return nil })
}
