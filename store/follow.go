package store

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A store on etcd is written by every replica, so its Generation cannot
// count this process's commits alone: a reader would keep serving what
// another replica has since changed. follow watches the store's prefix
// and advances the generation for every revision that changed a key of
// it, so a replica's read cache drops what another replica's write made
// stale as soon as the watch delivers the write (milliseconds; across
// replicas the read cache is as current as the watch, not linearizable).
// This process's own commits advance it at once, as on bbolt.
//
// The same watch keeps the store's mirror (mirror.go): each change is
// applied to it before the generation moves. A watch that breaks resumes
// after the last revision applied; one that cannot (etcd compacted the
// revisions missed) has the mirror loaded anew first.
//
// While the watch is not known to deliver (not yet created, failed,
// compacted past, or it left a progress request unanswered for a whole
// interval, as over a dead connection the client keeps retrying), the
// store is unfollowed: Generation answers a new value on every
// call, so nothing derived from the store is reused until the watch
// delivers again.

// followInterval is how often follow asks the watch for progress when
// nothing changes: a stream that leaves one request unanswered until the
// next is taken as broken. It is the store's request timeout.
func (s *Store) followInterval() time.Duration { return s.kv.etcd.timeout }

// startFollowing follows the prefix after revision rev, the mirror's, in
// the background until Close. The store is unfollowed until the watch is
// in place.
func (s *Store) startFollowing(rev int64) {
	s.followed = make(chan struct{})
	s.unfollowed.Store(true)
	go s.follow(rev + 1)
}

// follow runs until Close, watching the prefix from revision from on.
func (s *Store) follow(from int64) {
	defer close(s.followed)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	cli, prefix := s.kv.etcd.client, s.kv.etcd.prefix+"/"
	const firstBackoff = 50 * time.Millisecond
	backoff := firstBackoff
	for ctx.Err() == nil {
		if !s.kv.etcd.mirror.isCurrent() {
			rev, err := s.kv.etcd.mirror.load(ctx, cli, prefix, s.followInterval())
			if err != nil {
				s.log.Warn("store: cannot load the etcd prefix; retrying", "error", err)
				s.pause(ctx, &backoff)
				continue
			}
			from = rev + 1
			s.generation.Add(1) // anything may have changed meanwhile
		}
		// Without a leader the member cannot know of new commits: the
		// watch is cancelled rather than left silent.
		wctx, stopWatch := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithCreatedNotify())
		next, delivered := s.followWatch(wctx, ch, from)
		stopWatch()
		s.unfollowed.Store(true)
		if delivered {
			backoff = firstBackoff
		}
		from = next
		s.pause(ctx, &backoff)
	}
}

// pause waits backoff before follow tries again, doubling it up to the
// follow interval.
func (s *Store) pause(ctx context.Context, backoff *time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(*backoff):
		*backoff = min(2**backoff, s.followInterval())
	}
}

// followWatch reads one watch until it ends, advancing the generation
// for each change, and returns the revision to resume from and whether
// the watch delivered anything.
func (s *Store) followWatch(ctx context.Context, ch clientv3.WatchChan, from int64) (next int64, delivered bool) {
	next = from
	tick := time.NewTicker(s.followInterval())
	defer tick.Stop()
	heard := true
	for {
		select {
		case resp, ok := <-ch:
			if !ok {
				return next, delivered
			}
			if resp.CompactRevision != 0 {
				// Changes were compacted away unseen: the mirror is loaded
				// anew before the watch resumes; the generation moves on
				// when the watch is followed again.
				s.kv.etcd.mirror.stale()
				return resp.CompactRevision, delivered
			}
			if resp.Err() != nil || resp.Canceled {
				return next, delivered
			}
			delivered, heard = true, true
			if s.unfollowed.Load() {
				s.generation.Add(1)
				s.unfollowed.Store(false)
			}
			if n := len(resp.Events); n > 0 {
				s.kv.etcd.mirror.apply(resp.Events)
				next = resp.Events[n-1].Kv.ModRevision + 1
				s.generation.Add(1)
			}
		case <-tick.C:
			if !heard {
				s.unfollowed.Store(true)
			}
			heard = false
			pctx, cancel := context.WithTimeout(ctx, s.followInterval())
			// Answered on ch as a progress notification (or not at all).
			_ = s.kv.etcd.client.RequestProgress(pctx)
			cancel()
		}
	}
}
