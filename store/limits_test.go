package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Calls whose writes grow with the data stay under etcd's limit of 128
// operations per Txn: each test below makes one that, in one go, would
// write far more than that, and runs on both engines.

// manyRecords is how many records the tests below make: each sweep or
// migration over them writes several times etcd's 128 operations.
const manyRecords = 150

// inParts runs put for 0..n-1 in transactions of a few each, which etcd
// takes whole.
func (f *fixture) inParts(n int, put func(tx *Tx, i int) error) {
	f.t.Helper()
	const per = 10
	for from := 0; from < n; from += per {
		f.mustUpdate(func(tx *Tx) error {
			for i := from; i < min(from+per, n); i++ {
				if err := put(tx, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// TestSweepJobsPastOneTxn: a sweep with many more expired jobs than one
// Txn can remove removes them all, the latest kept.
func TestSweepJobsPastOneTxn(t *testing.T) { forEachEngine(t, testSweepJobsPastOneTxn) }

func testSweepJobsPastOneTxn(f *fixture) {
	t := f.t
	long := time.Now().UTC().Add(-48 * time.Hour)
	f.inParts(manyRecords, func(tx *Tx, i int) error {
		return tx.InsertJob(agedJob(i, "dev", "r", StatusCompleted, long, long))
	})
	removed, err := f.s.SweepJobs(f.ctx, time.Now().Add(-time.Hour), SweepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ids := f.jobIDs(); removed != manyRecords-1 || len(ids) != 1 || ids[0] != fmt.Sprintf("job-%06d", manyRecords-1) {
		t.Fatalf("removed %d, kept %v; want all but the latest", removed, ids)
	}
	f.checkAll()
}

// TestSweepSignInsPastOneTxn: expired sign-in sessions far past what one
// Txn can remove are swept by calls that each fit one, beside the write
// of the call that sweeps (as CreateToken's does), until none is left.
func TestSweepSignInsPastOneTxn(t *testing.T) { forEachEngine(t, testSweepSignInsPastOneTxn) }

func testSweepSignInsPastOneTxn(f *fixture) {
	t := f.t
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	past := now.Add(-time.Minute)
	f.mustUpdate(func(tx *Tx) error { return tx.PutChallenge(newChallenge("old", past)) })
	f.inParts(manyRecords, func(tx *Tx, i int) error {
		return tx.InsertSession(newSession(fmt.Sprintf("K%04d", i), "old", past))
	})
	swept := 0
	for round := 0; ; round++ {
		var n int
		err := f.s.Batch(f.ctx, func(tx *Tx) (err error) {
			if n, err = tx.SweepSignIns(now, 64); err != nil {
				return err
			}
			return tx.PutChallenge(newChallenge(fmt.Sprintf("new-%d", round), now.Add(time.Hour)))
		})
		if err != nil {
			t.Fatalf("sweep %d: %v", round, err)
		}
		if n == 0 {
			break
		}
		swept += n
	}
	if swept != manyRecords+1 {
		t.Fatalf("swept %d records, want the %d sessions and their challenge", swept, manyRecords)
	}
	f.checkAll()
}

// TestMigrationPastOneTxn: a store of schema 3 holding many more records
// than one Txn can rewrite, its schema version set back to 2, migrates
// again at open (migration 3 rewrites every record, 8 moves most of them)
// and passes the full check.
func TestMigrationPastOneTxn(t *testing.T) {
	t.Parallel()
	// The token key each engine's store was written with: the engines run
	// in parallel, each with a key of its own.
	var mu sync.Mutex
	keys := map[string]bool{}
	fill := func(tx kvTx) error {
		var errs []error
		for i := range manyRecords {
			name := fmt.Sprintf("r%04d", i)
			r := newResource("app", "dev", name, "bucket-"+name)
			v, err := encodeResource(r)
			errs = append(errs, err, tx.Bucket(bucketResources).Put(resourceKey(r.ResourceKey), v),
				tx.Bucket(bucketBuckets).Put(bucketIndexKey(r), resourceKey(r.ResourceKey)))
			j := newJob("job-"+name, "app", "dev", name, StatusCompleted)
			j.seq = uint64(i + 1)
			v, err = encodeJob(j)
			errs = append(errs, err, tx.Bucket(bucketJobs).Put([]byte(j.ID), v), tx.Bucket(bucketJobsByEnv).Put(v7JobIndexKey(j), []byte(j.ID)))
		}
		meta := tx.Bucket(bucketMeta)
		key, _ := unseal(bytes.Clone(meta.Get(keyTokenKey)))
		mu.Lock()
		keys[string(key)] = true
		mu.Unlock()
		errs = append(errs, tx.Bucket(bucketJobs).SetSequence(manyRecords), meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, 2)))
		return errors.Join(errs...)
	}
	forEachOldEngine(t, 3, fill, func(t *testing.T, open func(Options) (*Store, error)) {
		s, err := open(Options{Check: CheckFull})
		if err != nil {
			t.Fatalf("open, migrating %d resources and jobs: %v", manyRecords, err)
		}
		defer s.Close()
		var schema uint64
		var resources []Resource
		var jobs []Job
		err = s.View(context.Background(), func(tx *Tx) (err error) {
			schema = binary.BigEndian.Uint64(tx.kv.Bucket(bucketMeta).Get(keySchema))
			if resources, err = tx.Resources("app", "dev"); err != nil {
				return err
			}
			jobs, _, err = tx.Jobs("app", "dev", nil, 2*manyRecords, nil)
			return err
		})
		mu.Lock()
		kept := keys[string(s.TokenKey())]
		mu.Unlock()
		if err != nil || schema != SchemaVersion || len(resources) != manyRecords || len(jobs) != manyRecords || !kept {
			t.Fatalf("after the migration: schema %d, %d resources, %d jobs, token key kept %v (%v)", schema, len(resources), len(jobs), kept, err)
		}
	})
}
