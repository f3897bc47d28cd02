package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

type fixture struct {
	t    *testing.T
	path string
	s    *Store
	ctx  context.Context
	// reopen opens the same store again, as a restarted server would.
	reopen func(Options) (*Store, error)
}

func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &fixture{t: t, path: path, s: s, ctx: context.Background(),
		reopen: func(o Options) (*Store, error) { return OpenWith(path, o) }}
}

func (f *fixture) update(fn func(*Tx) error) error { return f.s.Update(f.ctx, fn) }

func (f *fixture) mustUpdate(fn func(*Tx) error) {
	f.t.Helper()
	if err := f.update(fn); err != nil {
		f.t.Fatal(err)
	}
}

// insertJobs stores n jobs of app "app", env "dev", named prefix and a
// number, in one transaction.
func (f *fixture) insertJobs(prefix string, n int, st Status) {
	f.t.Helper()
	f.mustUpdate(func(tx *Tx) error {
		for i := range n {
			if err := tx.InsertJob(newJob(fmt.Sprintf("%s-%06d", prefix, i), "app", "dev", "r", st)); err != nil {
				return err
			}
		}
		return nil
	})
}

func newResource(app, env, name, bucket string) Resource {
	now := time.Now().UTC()
	return Resource{ResourceKey: ResourceKey{AppID: app, Env: env, Name: name}, Bucket: bucket,
		Phase: PhaseCreating, CreateTime: now, UpdateTime: now}
}

func newJob(id, app, env, res string, st Status) Job {
	now := time.Now().UTC()
	return Job{ID: id, AppID: app, Env: env, Resource: res, Operation: OpCreate, Status: st, CreateTime: now, UpdateTime: now}
}

func TestResourceLifecycle(t *testing.T) { forEachEngine(t, testResourceLifecycle) }

func testResourceLifecycle(f *fixture) {
	t := f.t
	r := newResource("app1", "dev", "photos", "bucket-a")
	r.Desired = Permissions{Authenticated: []string{"READ"}}
	f.mustUpdate(func(tx *Tx) error { return tx.CreateResource(r) })

	err := f.update(func(tx *Tx) error { return tx.CreateResource(r) })
	var exists *ResourceExistsError
	if !errors.Is(err, ErrAlreadyExists) || !errors.As(err, &exists) || exists.Resource != r.ResourceKey {
		t.Fatalf("second create: %v, want ErrAlreadyExists naming the resource", err)
	}
	other := newResource("app1", "dev", "videos", "bucket-a")
	err = f.update(func(tx *Tx) error { return tx.CreateResource(other) })
	var taken *BucketTakenError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &taken) || *taken != (BucketTakenError{Bucket: "bucket-a", Owner: r.ResourceKey}) {
		t.Fatalf("bucket reuse: %v, want ErrConflict naming the bucket and its owner", err)
	}

	r.Phase = PhaseActive
	r.Applied = &r.Desired
	f.mustUpdate(func(tx *Tx) error { return tx.PutResource(r) })
	var got Resource
	f.mustUpdate(func(tx *Tx) (err error) { got, err = tx.Resource(r.ResourceKey); return })
	if got.Phase != PhaseActive || got.Applied == nil || !got.Applied.Equal(r.Desired) {
		t.Fatalf("read back %+v", got)
	}
	if owner, ok := viewOwner(f, "bucket-a"); !ok || owner != r.ResourceKey {
		t.Fatalf("bucket owner = %v %v", owner, ok)
	}

	f.mustUpdate(func(tx *Tx) error { return tx.DeleteResource(r.ResourceKey) })
	if _, ok := viewOwner(f, "bucket-a"); ok {
		t.Fatal("bucket still claimed after delete")
	}
	err = f.update(func(tx *Tx) error { _, err := tx.Resource(r.ResourceKey); return err })
	var nf *NotFoundError
	if !errors.As(err, &nf) || *nf != (NotFoundError{Kind: KindResource, AppID: r.AppID, Env: r.Env, Name: r.Name}) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
	// The bucket is free again for another resource.
	f.mustUpdate(func(tx *Tx) error { return tx.CreateResource(other) })
}

func viewOwner(f *fixture, bucket string) (k ResourceKey, ok bool) {
	_ = f.s.View(f.ctx, func(tx *Tx) error { k, ok = tx.BucketOwner(bucket); return nil })
	return
}

func TestNamesWithNULRefused(t *testing.T) { forEachEngine(t, testNamesWithNULRefused) }

func testNamesWithNULRefused(f *fixture) {
	t := f.t
	err := f.update(func(tx *Tx) error { return tx.CreateResource(newResource("a\x00b", "dev", "x", "b1")) })
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v", err)
	}
	err = f.update(func(tx *Tx) error { return tx.InsertJob(newJob("j", "a", "d\x00", "x", StatusRunning)) })
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

func TestJobsPageNewestFirstWithFilter(t *testing.T) {
	forEachEngine(t, testJobsPageNewestFirstWithFilter)
}

func testJobsPageNewestFirstWithFilter(f *fixture) {
	t := f.t
	var ids []string
	f.mustUpdate(func(tx *Tx) error {
		for i := 0; i < 23; i++ {
			st := StatusCompleted
			if i%3 == 0 {
				st = StatusFailed
			}
			id := fmt.Sprintf("job-%02d", i)
			ids = append(ids, id)
			if err := tx.InsertJob(newJob(id, "app", "dev", "r", st)); err != nil {
				return err
			}
		}
		// Jobs of a neighbouring environment whose name shares a prefix must not leak in.
		return tx.InsertJob(newJob("other", "app", "dev2", "r", StatusCompleted))
	})

	var all []string
	var after []byte
	pages := 0
	for {
		var page []Job
		var next []byte
		if err := f.s.View(f.ctx, func(tx *Tx) (err error) {
			page, next, err = tx.Jobs("app", "dev", after, 5, nil)
			return
		}); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, j := range page {
			all = append(all, j.ID)
		}
		if next == nil {
			break
		}
		after = next
	}
	if pages != 5 || len(all) != 23 {
		t.Fatalf("pages=%d jobs=%d", pages, len(all))
	}
	for i, id := range all {
		if want := ids[len(ids)-1-i]; id != want {
			t.Fatalf("position %d: %s, want %s (newest first)", i, id, want)
		}
	}

	var failed []Job
	var next []byte
	f.mustUpdate(func(tx *Tx) (err error) {
		failed, next, err = tx.Jobs("app", "dev", nil, 8, func(j Job) bool { return j.Status == StatusFailed })
		return
	})
	if len(failed) != 8 || next != nil {
		t.Fatalf("failed filter: %d jobs, next=%v; want exactly 8 and no next page", len(failed), next)
	}

	err := f.s.View(f.ctx, func(tx *Tx) error {
		_, _, err := tx.Jobs("app", "prod", after, 5, nil)
		return err
	})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("cursor from another env: %v", err)
	}
}

func TestPendingIndexFollowsStatus(t *testing.T) { forEachEngine(t, testPendingIndexFollowsStatus) }

func testPendingIndexFollowsStatus(f *fixture) {
	t := f.t
	j := newJob("j1", "app", "dev", "r", StatusRunning)
	f.mustUpdate(func(tx *Tx) error {
		if err := tx.InsertJob(j); err != nil {
			return err
		}
		return tx.InsertJob(newJob("j2", "app", "dev", "r", StatusCompleted))
	})
	pending := func() (ids []string) {
		_ = f.s.View(f.ctx, func(tx *Tx) error { ids = tx.PendingJobs(); return nil })
		return
	}
	if got := pending(); len(got) != 1 || got[0] != "j1" {
		t.Fatalf("pending = %v", got)
	}
	j.Status, j.Undo = StatusCancelled, true
	f.mustUpdate(func(tx *Tx) error { return tx.PutJob(j) })
	if got := pending(); len(got) != 1 {
		t.Fatalf("cancelled job still undoing should stay pending: %v", got)
	}
	j.Undo = false
	f.mustUpdate(func(tx *Tx) error { return tx.PutJob(j) })
	if got := pending(); len(got) != 0 {
		t.Fatalf("pending = %v", got)
	}
}

func TestCheckScope(t *testing.T) { forEachEngine(t, testCheckScope) }

func testCheckScope(f *fixture) {
	t := f.t
	f.mustUpdate(func(tx *Tx) error { return tx.InsertJob(newJob("j", "app", "dev", "r", StatusRunning)) })
	err := f.s.View(f.ctx, func(tx *Tx) error {
		if err := tx.CheckScope("app", "dev"); err != nil {
			return err
		}
		return tx.CheckScope("app", "")
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		app, env string
		want     NotFoundError
	}{
		{"nope", "dev", NotFoundError{Kind: KindApp, AppID: "nope"}},
		{"app", "prod", NotFoundError{Kind: KindEnv, AppID: "app", Env: "prod"}},
		{"ap", "", NotFoundError{Kind: KindApp, AppID: "ap"}},
	} {
		err := f.s.View(f.ctx, func(tx *Tx) error { return tx.CheckScope(c.app, c.env) })
		var nf *NotFoundError
		if !errors.As(err, &nf) || *nf != c.want {
			t.Fatalf("%+v: %v", c, err)
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	f := setup(t)
	f.mustUpdate(func(tx *Tx) error {
		if err := tx.CreateResource(newResource("app", "dev", "r", "b")); err != nil {
			return err
		}
		return tx.InsertJob(newJob("j", "app", "dev", "r", StatusRunning))
	})
	key := append([]byte(nil), f.s.TokenKey()...)
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if string(s2.TokenKey()) != string(key) || len(key) != 32 {
		t.Fatal("token key changed across reopen")
	}
	err = s2.View(f.ctx, func(tx *Tx) error {
		if _, err := tx.Resource(ResourceKey{"app", "dev", "r"}); err != nil {
			return err
		}
		if ids := tx.PendingJobs(); len(ids) != 1 {
			return fmt.Errorf("pending %v", ids)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrationsRecordVersionAndRefuseNewer(t *testing.T) {
	f := setup(t)
	f.s.Close()
	db, err := bolt.Open(f.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var v []byte
	_ = db.View(func(tx *bolt.Tx) error { v = append(v, tx.Bucket(bucketMeta).Get(keySchema)...); return nil })
	if len(v) != 8 || v[7] != byte(SchemaVersion) {
		t.Fatalf("schema version = %v, want %d", v, SchemaVersion)
	}
	_ = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte{0, 0, 0, 0, 0, 0, 0, 99}) })
	db.Close()
	if _, err := Open(f.path); err == nil {
		t.Fatal("opened a store from the future")
	}
}

// openOldStore writes a store of schema version at path (writeOldStore)
// and opens it with Open, which migrates it the rest of the way.
func openOldStore(t *testing.T, path string, version int, fill func(tx *bolt.Tx)) *Store {
	t.Helper()
	writeOldStore(t, path, version, fill)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// writeOldStore writes a store of schema version at path the way that
// version left it: its migrations, then fill's records written by hand.
func writeOldStore(t *testing.T, path string, version int, fill func(tx *bolt.Tx)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	writeOldKV(t, kvDB{bolt: db}, version, func(tx kvTx) error { fill(tx.bolt); return nil })
}

// TestMigrationFromJSONRecords builds a schema-1 store (JSON records) by
// hand and opens it: migration 2 rewrites every record, and everything reads
// back the same, indexes included.
func TestMigrationFromJSONRecords(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 1, 2, 3, 4000000, time.UTC)
	applied := &Permissions{Authenticated: []string{"READ"}}
	res := Resource{ResourceKey: ResourceKey{AppID: "app", Env: "dev", Name: "photos"}, Bucket: "b1", Imported: true,
		Desired: Permissions{Authenticated: []string{"DELETE", "READ"}, Unauthenticated: []string{"READ"}}, Applied: applied,
		Phase: PhaseActive, ActiveJob: "j2", CreatedBucket: true, Warnings: []string{"w1"}, CreateTime: now, UpdateTime: now.Add(time.Second)}
	jobsIn := []Job{
		{ID: "j1", AppID: "app", Env: "dev", Resource: "photos", Operation: OpCreate, Status: StatusCompleted, Error: "Completed with warnings: w1",
			Warnings: []string{"w1"}, BucketRequested: true, CreateTime: now, UpdateTime: now, seq: 1},
		{ID: "j2", AppID: "app", Env: "dev", Resource: "photos", Operation: OpUpdate, Status: StatusRunning, CreateTime: now, UpdateTime: now, seq: 2},
	}
	s := openOldStore(t, filepath.Join(t.TempDir(), "v1.db"), 1, func(tx *bolt.Tx) {
		v, _ := encodeResourceV1(res)
		tx.Bucket(bucketResources).Put(resourceKey(res.ResourceKey), v)
		tx.Bucket(bucketBuckets).Put([]byte("b1"), resourceKey(res.ResourceKey))
		for _, j := range jobsIn {
			v, _ := encodeJobV1(j)
			tx.Bucket(bucketJobs).Put([]byte(j.ID), v)
			tx.Bucket(bucketJobsByEnv).Put(v7JobIndexKey(j), []byte(j.ID))
			if j.Pending() {
				tx.Bucket(bucketPending).Put([]byte(j.ID), nil)
			}
		}
		tx.Bucket(bucketJobs).SetSequence(2)
	})
	err := s.View(context.Background(), func(tx *Tx) error {
		got, err := tx.Resource(res.ResourceKey)
		if err != nil {
			return err
		}
		if got.Applied == nil || !got.Applied.Equal(*applied) || fmt.Sprintf("%v", withoutApplied(got)) != fmt.Sprintf("%v", withoutApplied(res)) {
			return fmt.Errorf("resource after migration:\n got %+v\nwant %+v", got, res)
		}
		page, _, err := tx.Jobs("app", "dev", nil, 10, nil)
		if err != nil {
			return err
		}
		if len(page) != 2 || page[0].ID != "j2" || page[1].Error != jobsIn[0].Error || !page[1].BucketRequested || !page[1].CreateTime.Equal(now) {
			return fmt.Errorf("jobs after migration: %+v", page)
		}
		if p := tx.PendingJobs(); len(p) != 1 || p[0] != "j2" {
			return fmt.Errorf("pending after migration: %v", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// New jobs continue the sequence: newest first still holds.
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.InsertJob(newJob("j3", "app", "dev", "photos", StatusRunning)) }); err != nil {
		t.Fatal(err)
	}
	s.View(context.Background(), func(tx *Tx) error {
		page, _, _ := tx.Jobs("app", "dev", nil, 1, nil)
		if page[0].ID != "j3" {
			t.Fatalf("newest after migration: %+v", page)
		}
		return nil
	})
}

func TestCorruptRecordsAreErrors(t *testing.T) {
	t.Parallel()
	good, _ := encodeJob(newJob("j", "a", "e", "r", StatusRunning))
	for i := 0; i < len(good); i++ {
		if _, err := decodeJob(good[:i]); err == nil {
			t.Fatalf("truncated job record (%d of %d bytes) decoded", i, len(good))
		}
	}
	for i := range good {
		for _, mask := range []byte{0x01, 0x80} {
			bad := append([]byte(nil), good...)
			bad[i] ^= mask
			if _, err := decodeJob(bad); !errors.Is(err, ErrDamaged) {
				t.Fatalf("job record with byte %d flipped (%#x): %v", i, mask, err)
			}
		}
	}
	if _, err := decodeResource([]byte("{\"app\":\"x\"}")); err == nil {
		t.Fatal("a JSON record decoded as binary")
	}
}

func withoutApplied(r Resource) Resource { r.Applied = nil; return r }

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestMigrationAddsChecksums builds a schema-2 store (binary records
// without checksums) by hand and opens it: migration 3 seals every record
// and the token key, and gives the store an id.
func TestMigrationAddsChecksums(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v2.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	v2 := func(sealed []byte, err error) []byte {
		b := append([]byte(nil), sealed[:len(sealed)-4]...)
		b[0] = recordFormatV2
		return b
	}
	res := newResource("app", "dev", "photos", "b1")
	job := newJob("j1", "app", "dev", "photos", StatusRunning)
	job.seq = 1
	var tokenKey []byte
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucketIfNotExists(bucketMeta)
		if err := migrations[0].run(kvTx{bolt: tx}); err != nil {
			return err
		}
		tokenKey = append(tokenKey, meta.Get(keyTokenKey)...)
		meta.Put(keySchema, []byte{0, 0, 0, 0, 0, 0, 0, 2})
		tx.Bucket(bucketResources).Put(resourceKey(res.ResourceKey), v2(encodeResource(res)))
		tx.Bucket(bucketBuckets).Put([]byte("b1"), resourceKey(res.ResourceKey))
		tx.Bucket(bucketJobs).Put([]byte("j1"), v2(encodeJob(job)))
		tx.Bucket(bucketJobsByEnv).Put(v7JobIndexKey(job), []byte("j1"))
		tx.Bucket(bucketPending).Put([]byte("j1"), nil)
		return tx.Bucket(bucketJobs).SetSequence(1)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenWith(path, Options{Check: CheckFull})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !bytes.Equal(s.TokenKey(), tokenKey) {
		t.Fatal("the token key changed in the migration")
	}
	err = s.View(context.Background(), func(tx *Tx) error {
		if _, err := tx.Resource(res.ResourceKey); err != nil {
			return err
		}
		if j, err := tx.Job("j1"); err != nil || j.Status != StatusRunning {
			return fmt.Errorf("job after migration: %+v %v", j, err)
		}
		if _, err := unseal(tx.kv.Bucket(bucketMeta).Get(keyStoreID)); err != nil {
			return fmt.Errorf("store id: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSchemaFlippedBackIsHarmless: a schema version of 3 that reads 2 (a
// flipped bit) runs migration 3 over sealed records, then the migrations
// after it; it changes nothing, the token key and the store id included.
func TestSchemaFlippedBackIsHarmless(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	var key, id []byte
	writeOldStore(t, path, 3, func(tx *bolt.Tx) {
		for i := range 3 {
			j := newJob(fmt.Sprintf("j-%d", i), "app", "dev", "r", StatusRunning)
			j.seq = uint64(i + 1)
			v, _ := encodeJob(j)
			tx.Bucket(bucketJobs).Put([]byte(j.ID), v)
			tx.Bucket(bucketJobsByEnv).Put(v7JobIndexKey(j), []byte(j.ID))
			tx.Bucket(bucketPending).Put([]byte(j.ID), nil)
		}
		tx.Bucket(bucketJobs).SetSequence(3)
		meta := tx.Bucket(bucketMeta)
		key, _ = unseal(bytes.Clone(meta.Get(keyTokenKey)))
		id, _ = unseal(bytes.Clone(meta.Get(keyStoreID)))
		meta.Put(keySchema, []byte{0, 0, 0, 0, 0, 0, 0, 2})
	})
	s, err := OpenWith(path, Options{Check: CheckFull})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !bytes.Equal(s.TokenKey(), key) || s.id.StoreID != hexID(id) {
		t.Fatalf("token key or store id changed: %x / %s, were %x / %s", s.TokenKey(), s.id.StoreID, key, hexID(id))
	}
	s.View(context.Background(), func(tx *Tx) error {
		if page, _, err := tx.Jobs("app", "dev", nil, 10, nil); err != nil || len(page) != 3 {
			t.Fatalf("jobs after the migrations: %d %v", len(page), err)
		}
		return nil
	})
}

// TestWritesStopWhenTheFileIsGone: a store file deleted or moved while the
// server ran went on taking writes into the file bbolt had open, each
// answered, and /readyz stayed ready; a deleted file took every one of
// them with it when the process ended. Once the path no longer names the
// open file, writes fail with ErrDataLost and change nothing, Ping fails,
// reads and backups still serve what was answered, and putting the file
// back lets writes go on.
func TestWritesStopWhenTheFileIsGone(t *testing.T) {
	f := setup(t)
	f.insertJobs("before", 3, StatusRunning)
	aside := f.path + ".moved"
	if err := os.Rename(f.path, aside); err != nil {
		t.Fatal(err)
	}
	insert := func(id string) error {
		return f.s.Batch(f.ctx, func(tx *Tx) error { return tx.InsertJob(newJob(id, "app", "dev", "r", StatusRunning)) })
	}
	if err := insert("moved"); !errors.Is(err, ErrDataLost) {
		t.Fatalf("a write with the file moved away: %v", err)
	}
	if err := f.update(func(tx *Tx) error { return tx.InsertJob(newJob("moved2", "app", "dev", "r", StatusRunning)) }); !errors.Is(err, ErrDataLost) {
		t.Fatalf("an update with the file moved away: %v", err)
	}
	if err := f.s.Ping(f.ctx); !errors.Is(err, ErrDataLost) {
		t.Fatalf("ping with the file moved away: %v", err)
	}
	if err := f.s.View(f.ctx, func(tx *Tx) error { _, err := tx.Job("before-000001"); return err }); err != nil {
		t.Fatalf("a read with the file moved away: %v", err)
	}
	var buf bytes.Buffer
	if _, err := f.s.Backup(f.ctx, &buf); err != nil {
		t.Fatalf("a backup with the file moved away: %v", err)
	}

	if err := os.Rename(aside, f.path); err != nil {
		t.Fatal(err)
	}
	if err := insert("back"); err != nil {
		t.Fatalf("a write with the file back: %v", err)
	}
	if err := f.s.Ping(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.s.View(f.ctx, func(tx *Tx) error { _, err := tx.Job("moved"); return err }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused write was kept: %v", err)
	}

	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	if err := insert("deleted"); !errors.Is(err, ErrDataLost) {
		t.Fatalf("a write with the file deleted: %v", err)
	}
}

// TestJobsFilterScanIsBounded: a filter that matches only an old job does
// not read the environment's whole index in one call: the page ends after
// MaxJobsScanned jobs with a cursor, and following the cursors still finds
// the job, once.
func TestJobsFilterScanIsBounded(t *testing.T) {
	f := setup(t)
	f.mustUpdate(func(tx *Tx) error { return tx.InsertJob(newJob("wanted", "app", "dev", "r", StatusFailed)) })
	f.insertJobs("other-", MaxJobsScanned+500, StatusCompleted)
	failed := func(j Job) bool { return j.Status == StatusFailed }
	var found []string
	var after []byte
	for pages := 0; ; pages++ {
		var page []Job
		var next []byte
		if err := f.s.View(f.ctx, func(tx *Tx) (err error) {
			page, next, err = tx.Jobs("app", "dev", after, 25, failed)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if pages == 0 && (len(page) != 0 || next == nil) {
			t.Fatalf("first page: %d jobs, next %x; want none and a cursor past %d jobs", len(page), next, MaxJobsScanned)
		}
		for _, j := range page {
			found = append(found, j.ID)
		}
		if next == nil {
			break
		}
		after = next
	}
	if len(found) != 1 || found[0] != "wanted" {
		t.Fatalf("found %v, want [wanted]", found)
	}
}
