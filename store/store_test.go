package store

import (
	"context"
	"errors"
	"fmt"
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
	return &fixture{t: t, path: path, s: s, ctx: context.Background()}
}

func (f *fixture) update(fn func(*Tx) error) error { return f.s.Update(f.ctx, fn) }

func (f *fixture) mustUpdate(fn func(*Tx) error) {
	f.t.Helper()
	if err := f.update(fn); err != nil {
		f.t.Fatal(err)
	}
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

func TestResourceLifecycle(t *testing.T) {
	f := setup(t)
	r := newResource("app1", "dev", "photos", "bucket-a")
	r.Desired = Permissions{Authenticated: []string{"READ"}}
	f.mustUpdate(func(tx *Tx) error { return tx.CreateResource(r) })

	err := f.update(func(tx *Tx) error { return tx.CreateResource(r) })
	if !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second create: %v, want ErrAlreadyExists", err)
	}
	other := newResource("app1", "dev", "videos", "bucket-a")
	err = f.update(func(tx *Tx) error { return tx.CreateResource(other) })
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("bucket reuse: %v, want ErrConflict", err)
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
	if !errors.As(err, &nf) || nf.ResourceType != "storage" || !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
	// The bucket is free again for another resource.
	f.mustUpdate(func(tx *Tx) error { return tx.CreateResource(other) })
}

func viewOwner(f *fixture, bucket string) (k ResourceKey, ok bool) {
	_ = f.s.View(f.ctx, func(tx *Tx) error { k, ok = tx.BucketOwner(bucket); return nil })
	return
}

func TestNamesWithNULRefused(t *testing.T) {
	f := setup(t)
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
	f := setup(t)
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

func TestPendingIndexFollowsStatus(t *testing.T) {
	f := setup(t)
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

func TestCheckScope(t *testing.T) {
	f := setup(t)
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
	for _, c := range []struct{ app, env, kind string }{{"nope", "dev", "app"}, {"app", "prod", "backendEnvironment"}, {"ap", "", "app"}} {
		err := f.s.View(f.ctx, func(tx *Tx) error { return tx.CheckScope(c.app, c.env) })
		var nf *NotFoundError
		if !errors.As(err, &nf) || nf.ResourceType != c.kind {
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
