package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultSweepBatch is how many jobs one sweep transaction removes at most:
// small enough that the group commit it joins stays about as short as an
// API write's, large enough that a long backlog drains in few commits.
const DefaultSweepBatch = 256

// sweepReadFactor bounds how many jobs one read pass of a sweep examines
// per job it may remove, so a long run of kept jobs (each resource's
// latest) does not hold one read transaction for the whole store.
const sweepReadFactor = 8

// SweepOptions tune SweepJobs. The zero value sweeps with the defaults.
type SweepOptions struct {
	// Batch is the most jobs one transaction removes (default
	// DefaultSweepBatch).
	Batch int
	// Pause, when set, runs between two batches; the sweep stops with its
	// error. It is how the caller gives the API the store and the CPU back
	// before the next batch.
	Pause func(context.Context) error
}

// SweepJobs removes the finished jobs last updated before cutoff, oldest
// first, in transactions of at most o.Batch jobs through Batch (fewer on
// etcd, whose Txn holds at most 128 operations: limits.go), and returns
// how many it removed. It never removes a job a worker still owes work
// (RUNNING, or undoing a change) nor a resource's latest job, so a
// resource's last outcome stays readable and every app and environment that
// ever had a job stays known (CheckScope, Scopes). Each job goes with its
// index entries in the same transaction. Running it again, or while jobs
// are accepted, is harmless: each batch re-reads what it removes.
//
// Paging through ListBackendJobs stays stable meanwhile: a page token is a
// key of the newest-first index, not an offset, and removing entries moves
// no other, so the next page starts right after the token's place whether
// or not its own job is still there, and never skips or repeats a job.
func (s *Store) SweepJobs(ctx context.Context, cutoff time.Time, o SweepOptions) (int, error) {
	if o.Batch <= 0 {
		o.Batch = DefaultSweepBatch
	}
	o.Batch = boundedOnEtcd(s.kv.etcd != nil, o.Batch, jobRemovalWrites)
	sw := sweep{cutoff: cutoff, batch: o.Batch, latest: map[ResourceKey]string{}, envs: map[string]bool{}}
	removed := 0
	for {
		var ids []string
		var done bool
		err := s.View(ctx, func(tx *Tx) (err error) {
			ids, done, err = sw.candidates(tx)
			return err
		})
		if err != nil {
			return removed, err
		}
		if len(ids) > 0 {
			var n int
			err := s.Batch(ctx, func(tx *Tx) error {
				n = 0
				for _, id := range ids {
					ok, err := tx.removeExpiredJob(id, cutoff)
					if err != nil {
						return err
					}
					if ok {
						n++
					}
				}
				return nil
			})
			if err != nil {
				return removed, err
			}
			removed += n
		}
		if done {
			return removed, nil
		}
		if o.Pause != nil {
			if err := o.Pause(ctx); err != nil {
				return removed, err
			}
		}
	}
}

// sweep is one pass of SweepJobs over the jobs bucket, oldest first.
type sweep struct {
	cutoff time.Time
	batch  int
	after  []byte // the last job id examined
	// latest holds, for the resources of the environments read so far
	// (envs), the id of their newest job. It can only go stale towards
	// keeping more: a job inserted later is newer than every job here, and
	// the sweep never removes a job it recorded as latest.
	latest map[ResourceKey]string
	envs   map[string]bool
}

// candidates returns the ids of up to batch jobs that may be removed, read
// after the last job examined, and whether the pass has reached its end.
func (sw *sweep) candidates(tx *Tx) (ids []string, done bool, err error) {
	c := tx.kv.Bucket(bucketJobs).Cursor()
	k, v := c.First()
	if sw.after != nil {
		if k, v = c.Seek(sw.after); bytes.Equal(k, sw.after) {
			k, v = c.Next()
		}
	}
	for examined := 0; k != nil; k, v = c.Next() {
		if len(ids) == sw.batch || examined == sw.batch*sweepReadFactor {
			return ids, false, nil
		}
		examined++
		j, err := decodeJob(v)
		if err != nil {
			return nil, false, err
		}
		// Job ids are time-ordered: once a job was created after the
		// cutoff, none that follows can have been finished before it.
		if !j.CreateTime.Before(sw.cutoff) {
			return ids, true, nil
		}
		sw.after = append(sw.after[:0], k...)
		if !expired(j, sw.cutoff) {
			continue
		}
		if err := sw.readEnv(tx, j.AppID, j.Env); err != nil {
			return nil, false, err
		}
		// A resource not met in its environment's index (it cannot happen
		// unless the index is damaged) keeps its jobs: when in doubt, keep.
		if latest, ok := sw.latest[j.Key()]; ok && latest != j.ID {
			ids = append(ids, j.ID)
		}
	}
	return ids, true, nil
}

// readEnv records the newest job of each resource of one environment, read
// once per pass from its newest-first index: the first job met of a
// resource is its latest.
func (sw *sweep) readEnv(tx *Tx, appID, env string) error {
	prefix := jobPrefix(appID, env)
	if sw.envs[string(prefix)] {
		return nil
	}
	sw.envs[string(prefix)] = true
	jobs := tx.kv.Bucket(bucketJobs)
	c := tx.kv.Bucket(bucketByEnv).Within(prefix)
	for k, v := c.First(); k != nil; k, v = c.Next() {
		j, err := decodeIndexed(jobs, v)
		if err != nil {
			return err
		}
		if _, ok := sw.latest[j.Key()]; !ok {
			sw.latest[j.Key()] = j.ID
		}
	}
	return nil
}

// decodeIndexed decodes the job an index entry points at.
func decodeIndexed(jobs kvBucket, id []byte) (Job, error) {
	raw := jobs.Get(id)
	if raw == nil {
		return Job{}, fmt.Errorf("job index points at missing job %q", id)
	}
	return decodeJob(raw)
}

// expired reports whether j is finished and was last updated before cutoff.
func expired(j Job, cutoff time.Time) bool {
	return !j.Pending() && j.UpdateTime.Before(cutoff)
}

// removeExpiredJob removes job id and its index entries if it is still
// expired; a job already gone, or updated since it was read, is left.
func (t *Tx) removeExpiredJob(id string, cutoff time.Time) (bool, error) {
	j, err := t.Job(id)
	if err != nil || !expired(j, cutoff) {
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
		return false, err
	}
	if err := t.kv.Bucket(bucketByEnv).Delete(jobIndexKey(j)); err != nil {
		return false, err
	}
	if err := t.kv.Bucket(bucketPending).Delete([]byte(id)); err != nil {
		return false, err
	}
	return true, t.kv.Bucket(bucketJobs).Delete([]byte(id))
}
