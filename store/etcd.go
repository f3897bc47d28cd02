package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// EtcdOptions say which etcd cluster holds a store, and where in it.
type EtcdOptions struct {
	// Endpoints are the cluster's client addresses (host:port, or URLs).
	Endpoints []string
	// Prefix starts every key of the store, so several stores (or other
	// programs) can share a cluster; DefaultEtcdPrefix when empty. It must
	// not end in "/".
	Prefix string
	// TLS, when set, is the client's TLS configuration.
	TLS *tls.Config
	// Username and Password authenticate to etcd when Username is set.
	Username, Password string
	// DialTimeout bounds connecting to the cluster; 5 s when zero.
	DialTimeout time.Duration
	// RequestTimeout bounds one request to the cluster (a read, a
	// commit); DefaultEtcdRequestTimeout when zero. A store that cannot
	// reach a quorum within it answers ErrUnavailable rather than hanging.
	RequestTimeout time.Duration
	// LeaseTTL is the life of this process's lease, which its claims on
	// jobs hang on: a process that stops renewing it (killed, cut off
	// from the cluster) loses its claims this long after its last renewal;
	// DefaultLeaseTTL when zero.
	LeaseTTL time.Duration
}

// DefaultEtcdRequestTimeout bounds a request to etcd when EtcdOptions
// name no RequestTimeout.
const DefaultEtcdRequestTimeout = 5 * time.Second

// DefaultLeaseTTL is the lease life when EtcdOptions name no LeaseTTL.
const DefaultLeaseTTL = 10 * time.Second

// DefaultEtcdPrefix is the prefix of a store whose EtcdOptions name none.
const DefaultEtcdPrefix = "/amplifybackendd"

// errNoFile is what the operations of a bbolt file answer on a store
// kept in etcd, which has its own snapshots (etcdctl snapshot save).
var errNoFile = errors.New("store: kept in etcd, not in a file: use etcd's snapshots")

// OpenEtcd opens (creating if needed) the store kept in etcd under
// e.Prefix and brings its schema up to date. Every replica opens the
// same store this way; the schema migrations of replicas starting
// together commit once, the others finding the schema current.
//
// The checks of a bbolt file (its pages, its identity record beside it)
// do not apply: etcd checks its own data. o.Check asks for the record
// checks as for a file (CheckAuto is CheckQuick here: a cluster's store
// may be large, and every replica would read all of it).
func OpenEtcd(ctx context.Context, e EtcdOptions, o Options) (*Store, error) {
	if len(e.Endpoints) == 0 {
		return nil, fmt.Errorf("%w: etcd endpoints: at least one is required", ErrInvalid)
	}
	if e.Prefix == "" {
		e.Prefix = DefaultEtcdPrefix
	}
	if strings.HasSuffix(e.Prefix, "/") {
		return nil, fmt.Errorf("%w: etcd prefix %q: must not end in /", ErrInvalid, e.Prefix)
	}
	if e.DialTimeout == 0 {
		e.DialTimeout = 5 * time.Second
	}
	if e.RequestTimeout == 0 {
		e.RequestTimeout = DefaultEtcdRequestTimeout
	}
	if e.LeaseTTL == 0 {
		e.LeaseTTL = DefaultLeaseTTL
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints, TLS: e.TLS, Username: e.Username, Password: e.Password,
		// The client would log its retries on its own; what fails reaches
		// the caller as an error, logged where the store logs.
		DialTimeout: e.DialTimeout, Logger: zap.NewNop(),
		// A connection that stopped answering (a partition, a host gone)
		// is given up after a ping unanswered for a request timeout, so
		// the watch that follows other replicas' writes does not trust a
		// dead stream for long (gRPC pings every 10 s at the most often).
		DialKeepAliveTime: max(10*time.Second, e.RequestTimeout), DialKeepAliveTimeout: e.RequestTimeout,
		// gRPC waits up to two minutes between attempts to reconnect; a
		// replica would then answer ErrUnavailable long after its cluster
		// is back. A second at most keeps the first request after it
		// likely to succeed.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: min(time.Second, e.RequestTimeout/2)},
			MinConnectTimeout: e.DialTimeout,
		})}})
	var rev int64
	if err == nil {
		// The client connects lazily: an unreachable cluster or refused
		// credentials are told here, not at the first request served.
		var resp *clientv3.GetResponse
		resp, err = cli.Get(ctx, e.Prefix+"/", clientv3.WithCountOnly())
		if err != nil {
			cli.Close()
		} else {
			rev = resp.Header.Revision
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open store on etcd %s: %w", strings.Join(e.Endpoints, ","), etcdFailure(err))
	}
	s := newStore(kvDB{etcd: newEtcdKV(cli, e.Prefix, e.RequestTimeout)}, "etcd:"+e.Prefix, o)
	check := o.Check
	if check == CheckAuto || check == "" {
		check = CheckQuick
	}
	// migrate writes nothing to a store at the current schema, so it is
	// run whatever the schema: reading the version first would be a
	// second round trip to the same answer.
	err = s.kv.etcd.migrate()
	if err == nil {
		err = s.load(check)
	}
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("open store on etcd under %s: %w", e.Prefix, err)
	}
	close(s.recorded) // no identity record to keep: see OpenEtcd
	s.leases = newEtcdLeases(s.kv.etcd, e.LeaseTTL, o.Logger)
	// Followed from before the migrations, so no other replica's write
	// made since the store was first read goes unseen; unfollowed until
	// the watch is in place.
	s.followed = make(chan struct{})
	s.unfollowed.Store(true)
	go s.follow(rev + 1)
	go s.committer()
	return s, nil
}
