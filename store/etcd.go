package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
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
// may be large, and every replica would read all of it); CheckBackground
// reads them behind the opening, writes waiting, as in a file.
//
// A prefix that CopyToEtcd has begun to fill and not finished is refused
// with ErrCopyIncomplete: taken for a new store, part of a store would be
// served and then written over by the copy's next run.
func OpenEtcd(ctx context.Context, e EtcdOptions, o Options) (*Store, error) {
	kv, e, rev, err := connectEtcd(ctx, e)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	kv.metrics = o.Metrics
	s := newStore(kvDB{etcd: kv}, "etcd:"+e.Prefix, o)
	// Followed from the revision the mirror was loaded at, before the
	// migrations, which read the mirror and wait for it to hold their
	// commit.
	s.startFollowing(rev)
	check := o.Check
	if check == CheckAuto || check == "" {
		check = CheckQuick
	}
	// migrate writes nothing to a store at the current schema, so it is
	// run whatever the schema: reading the version first would be a
	// second round trip to the same answer. The copy's mark is read in
	// each migration's transaction, so a copy that starts meanwhile makes
	// it run again and see it.
	err = kv.refuseForeign()
	if err == nil {
		err = kv.migrate()
	}
	if err == nil {
		err = s.load(check)
	}
	if err != nil {
		close(s.stop)
		<-s.followed
		kv.client.Close()
		return nil, fmt.Errorf("open store on etcd under %s: %w", e.Prefix, err)
	}
	close(s.recorded) // no identity record to keep: see OpenEtcd
	s.leases = newEtcdLeases(s.kv.etcd, e.LeaseTTL, o.Logger)
	if check == CheckBackground {
		s.checked = make(chan struct{})
		go s.checkBehind()
	}
	go s.committer()
	return s, nil
}

// connectEtcd checks e, fills in its defaults, connects to the cluster
// and returns the engine over e.Prefix, with e as completed, and the
// cluster's revision when it first answered.
func connectEtcd(ctx context.Context, e EtcdOptions) (*etcdKV, EtcdOptions, int64, error) {
	if len(e.Endpoints) == 0 {
		return nil, e, 0, fmt.Errorf("%w: etcd endpoints: at least one is required", ErrInvalid)
	}
	if e.Prefix == "" {
		e.Prefix = DefaultEtcdPrefix
	}
	if strings.HasSuffix(e.Prefix, "/") {
		return nil, e, 0, fmt.Errorf("%w: etcd prefix %q: must not end in /", ErrInvalid, e.Prefix)
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
	var kv *etcdKV
	var rev int64
	if err == nil {
		// The client connects lazily: an unreachable cluster or refused
		// credentials are told here, not at the first request served,
		// and within DialTimeout (the client would retry for as long as
		// ctx lasts). Then the prefix is loaded into the mirror
		// (mirror.go), each of its pages bounded by the request timeout.
		probe, cancel := context.WithTimeout(ctx, e.DialTimeout)
		_, err = cli.Get(probe, e.Prefix+"/", clientv3.WithCountOnly())
		cancel()
		if err == nil {
			kv = newEtcdKV(cli, e.Prefix, e.RequestTimeout)
			rev, err = kv.mirror.load(ctx, cli, e.Prefix+"/", e.RequestTimeout)
		}
		if err == nil {
			err = kv.refuseNested(ctx)
		}
		if err != nil {
			cli.Close()
		}
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, e, 0, fmt.Errorf("open store on etcd %s: no answer within the dial timeout, %s: %w", strings.Join(e.Endpoints, ","), e.DialTimeout, etcdFailure(err))
	}
	if err != nil {
		return nil, e, 0, fmt.Errorf("open store on etcd %s: %w", strings.Join(e.Endpoints, ","), etcdFailure(err))
	}
	return kv, e, rev, nil
}

// refuseNested refuses a prefix inside another store's, or holding one.
// Their keys would share ranges: the keys of a store under P/jobs are
// records of the jobs bucket of the store under P, so each store would
// damage the other's records (the outer one then refuses to open, its
// jobs not verifying). A store is known by its id, or by the mark of a
// copy into it, in its meta bucket. The stores inside are seen in the
// mirror just loaded; the ones around cost a read per level of the
// prefix (none for the default, which has one), skipped where the etcd
// user may not read.
func (e *etcdKV) refuseNested(ctx context.Context) error {
	nested := func(inner, outer string) error {
		return fmt.Errorf("%w: etcd under %s is inside the store under %s: the keys of either would be records of the other; give each deployment an --etcd-prefix that is not under another's",
			ErrConflict, inner, outer)
	}
	for i := len(e.prefix) - 1; i > 0; i-- {
		if e.prefix[i] != '/' {
			continue
		}
		outer := e.prefix[:i]
		rctx, cancel := context.WithTimeout(ctx, e.timeout)
		resp, err := e.client.Get(rctx, metaKey(outer, nil), clientv3.WithPrefix())
		cancel()
		if errors.Is(err, rpctypes.ErrPermissionDenied) {
			// A user granted this prefix alone (etcd's roles grant key
			// ranges) cannot look around it, nor reach what is there.
			continue
		}
		if err != nil {
			return fmt.Errorf("store: read the etcd prefix %s: %w", outer, etcdFailure(err))
		}
		for _, kv := range resp.Kvs {
			if isStoreMark(outer, string(kv.Key), kv.Value) {
				return nested(e.prefix, outer)
			}
		}
	}
	var inner string
	e.mirror.mu.Lock()
	e.mirror.tree.AscendRange(mirrorEntry{key: e.prefix + "/"}, mirrorEntry{key: e.prefix + "0"}, func(m mirrorEntry) bool {
		for _, mark := range [][]byte{keyStoreID, keyCopying} {
			if q, ok := strings.CutSuffix(m.key, string(metaKey("", mark))); ok && q != e.prefix && isStoreMark(q, m.key, m.val) {
				inner = q
				return false
			}
		}
		return true
	})
	e.mirror.mu.Unlock()
	if inner != "" {
		return nested(inner, e.prefix)
	}
	return nil
}

// metaKey is the key of the meta bucket's key under prefix (the bucket's
// range when key is nil).
func metaKey(prefix string, key []byte) string {
	return prefix + "/" + string(bucketMeta) + "/" + string(key)
}

// isStoreMark reports whether key and val are the id, or a copy's mark,
// of a store under prefix: a sealed store id, which keys of other
// programs, or of a store's records, are not.
func isStoreMark(prefix, key string, val []byte) bool {
	if key != metaKey(prefix, keyStoreID) && key != metaKey(prefix, keyCopying) {
		return false
	}
	id, err := unseal(val)
	return err == nil && len(id) == storeIDSize
}

// refuseForeign refuses a prefix holding keys but no store, nor a copy
// into one: another program's keys, which the migrations would otherwise
// read as records (failing half-way, having written beside them) or
// write among. A store always holds its schema version from its first
// commit on, and a copy its mark.
func (e *etcdKV) refuseForeign() error {
	e.mirror.mu.Lock()
	defer e.mirror.mu.Unlock()
	t := e.mirror.tree
	if t.Has(mirrorEntry{key: metaKey(e.prefix, keySchema)}) || t.Has(mirrorEntry{key: metaKey(e.prefix, keyCopying)}) {
		return nil
	}
	var found string
	t.AscendRange(mirrorEntry{key: e.prefix + "/"}, mirrorEntry{key: e.prefix + "0"}, func(m mirrorEntry) bool {
		found = m.key
		return false
	})
	if found != "" {
		return fmt.Errorf("%w: etcd under %s holds keys that are not an amplifybackendd store (%s); choose another --etcd-prefix",
			ErrConflict, e.prefix, found)
	}
	return nil
}
