package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestMigrationRecordsEnvironments opens a schema-4 store whose
// environments exist only through their resources and recorded roles:
// migration 6 records each, dated by its oldest resource, and the full
// check at Open (which requires a record for every resource's
// environment) passes.
func TestMigrationRecordsEnvironments(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	resources := []Resource{
		{ResourceKey: ResourceKey{AppID: "app", Env: "dev", Name: "photos"}, Bucket: "b1", CreateTime: t0.Add(time.Hour)},
		{ResourceKey: ResourceKey{AppID: "app", Env: "dev", Name: "docs"}, Bucket: "b2", CreateTime: t0},
		{ResourceKey: ResourceKey{AppID: "app", Env: "prod", Name: "photos"}, Bucket: "b3", CreateTime: t0.Add(2 * time.Hour)},
		{ResourceKey: ResourceKey{AppID: "app", Env: "prod", Name: "shared"}, Bucket: "shared", Imported: true, CreateTime: t0.Add(3 * time.Hour)},
	}
	path := filepath.Join(t.TempDir(), "v4.db")
	s := openOldStore(t, path, 4, func(tx *bolt.Tx) {
		putOldResources(tx, resources)
		e := encoder{b: []byte{recordFormat}}
		e.str("amplify-app-gone-authRole")
		e.str("amplify-app-gone-unauthRole")
		tx.Bucket(bucketEnvRoles).Put(envKey("app", "gone"), seal(e.b))
	})
	s.View(context.Background(), func(tx *Tx) error {
		envs, err := tx.Environments("app")
		if err != nil {
			t.Fatal(err)
		}
		want := []Environment{{AppID: "app", Env: "dev", CreateTime: t0}, {AppID: "app", Env: "gone"}, {AppID: "app", Env: "prod", CreateTime: t0.Add(2 * time.Hour)}}
		if len(envs) != len(want) {
			t.Fatalf("environments = %+v, want %+v", envs, want)
		}
		for i := range want {
			if envs[i].Env != want[i].Env || !envs[i].CreateTime.Equal(want[i].CreateTime) || envs[i].ActiveJob != "" || envs[i].Creating {
				t.Fatalf("environments = %+v, want %+v", envs, want)
			}
		}
		if _, ok, _ := tx.App("app"); ok {
			t.Fatal("the migration invented an app record")
		}
		if owner, ok := tx.BucketOwner("shared"); !ok || owner.Name != "shared" {
			t.Fatalf("imported bucket's owner after the migration: %v %v", owner, ok)
		}
		return nil
	})
	// The re-keyed import lets another environment import the bucket.
	if err := s.Update(context.Background(), func(tx *Tx) error {
		return tx.CreateResource(Resource{ResourceKey: ResourceKey{AppID: "app", Env: "dev", Name: "shared"}, Bucket: "shared", Imported: true})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	reopened, err := OpenWith(path, Options{Check: CheckFull})
	if err != nil {
		t.Fatal(err)
	}
	reopened.Close()
}

// TestEnvironmentRecords: the first resource of an environment records it
// in the same transaction; app and environment records round-trip, list
// by app and are removed; a store whose resource lost its environment
// record fails the full check.
func TestEnvironmentRecords(t *testing.T) { forEachEngine(t, testEnvironmentRecords) }

func testEnvironmentRecords(f *fixture) {
	t := f.t
	s, ctx := f.s, f.ctx
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.CreateResource(Resource{ResourceKey: ResourceKey{AppID: "a", Env: "dev", Name: "r"}, Bucket: "b", CreateTime: now}); err != nil {
			return err
		}
		if err := tx.PutApp(App{AppID: "a", Name: "My app", ActiveJob: "j1", CreateTime: now}); err != nil {
			return err
		}
		return tx.PutEnvironment(Environment{AppID: "a", Env: "prod", ActiveJob: "j2", Creating: true, CreateTime: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(ctx, func(tx *Tx) error {
		if a, ok, err := tx.App("a"); err != nil || !ok || a.Name != "My app" || a.ActiveJob != "j1" || !a.CreateTime.Equal(now) {
			t.Fatalf("App = %+v %v %v", a, ok, err)
		}
		envs, err := tx.Environments("a")
		if err != nil || len(envs) != 2 || envs[0].Env != "dev" || envs[1] != (Environment{AppID: "a", Env: "prod", ActiveJob: "j2", Creating: true, CreateTime: now}) {
			t.Fatalf("Environments = %+v %v", envs, err)
		}
		if other, _ := tx.Environments("a\x00"); len(other) != 0 {
			t.Fatalf("another app's environments: %+v", other)
		}
		return nil
	})
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.DeleteApp("a"); err != nil {
			return err
		}
		return tx.DeleteEnvironment("a", "dev")
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = f.reopen(Options{Check: CheckFull})
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("a resource without its environment record opened: %v", err)
	}
}

// TestImportedBucketShared: one bucket may be imported into several
// environments, never by a resource that creates it, nor imported where a
// resource created it; the index follows each import's removal.
func TestImportedBucketShared(t *testing.T) { forEachEngine(t, testImportedBucketShared) }

func testImportedBucketShared(f *fixture) {
	t := f.t
	s, ctx := f.s, f.ctx
	imp := func(env, bucket string) Resource {
		return Resource{ResourceKey: ResourceKey{AppID: "a", Env: env, Name: bucket}, Bucket: bucket, Imported: true}
	}
	made := Resource{ResourceKey: ResourceKey{AppID: "a", Env: "dev", Name: "made"}, Bucket: "made"}
	for _, step := range []struct {
		r     Resource
		taken bool
	}{{imp("dev", "x"), false}, {imp("prod", "x"), false}, {Resource{ResourceKey: ResourceKey{AppID: "a", Env: "dev", Name: "c"}, Bucket: "x"}, true},
		{made, false}, {imp("prod", "made"), true}} {
		err := s.Update(ctx, func(tx *Tx) error { return tx.CreateResource(step.r) })
		if taken := errors.As(err, new(*BucketTakenError)); taken != step.taken || (err != nil && !taken) {
			t.Fatalf("create %+v: %v, want taken=%v", step.r, err, step.taken)
		}
	}
	for _, env := range []string{"dev", "prod"} {
		if err := s.Update(ctx, func(tx *Tx) error { return tx.DeleteResource(imp(env, "x").ResourceKey) }); err != nil {
			t.Fatal(err)
		}
	}
	s.View(ctx, func(tx *Tx) error {
		if owner, ok := tx.BucketOwner("x"); ok {
			t.Fatalf("bucket x still owned by %v", owner)
		}
		return nil
	})
}

// TestAppWideJob: a job of the whole app (empty environment) is indexed
// after the app's environments, found under any environment name of its
// app and no other app's, and Scopes, which lists environments, skips it.
func TestAppWideJob(t *testing.T) { forEachEngine(t, testAppWideJob) }

func testAppWideJob(f *fixture) {
	t := f.t
	s, ctx := f.s, f.ctx
	now := time.Now().UTC()
	err := s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.EnsureEnvironment("a", "dev", now); err != nil {
			return err
		}
		if err := tx.InsertJob(Job{ID: "env", AppID: "a", Env: "dev", Operation: OpDeleteBackend, Status: StatusCompleted, CreateTime: now, UpdateTime: now}); err != nil {
			return err
		}
		return tx.InsertJob(Job{ID: "all", AppID: "a", Operation: OpRemoveAllBackends, Status: StatusRunning, CreateTime: now, UpdateTime: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(ctx, func(tx *Tx) error {
		scopes, err := tx.Scopes()
		if err != nil || len(scopes) != 1 || scopes[0].AppID != "a" || scopes[0].Env != "dev" {
			t.Fatalf("Scopes = %+v %v", scopes, err)
		}
		if j, err := tx.JobIn("a", "whatever", "all"); err != nil || j.Operation != OpRemoveAllBackends {
			t.Fatalf("app-wide job under an environment: %+v %v", j, err)
		}
		if _, err := tx.JobIn("b", "dev", "all"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("app-wide job under another app: %v", err)
		}
		if page, _, err := tx.Jobs("a", "dev", nil, 10, nil); err != nil || len(page) != 1 || page[0].ID != "env" {
			t.Fatalf("the environment's jobs: %+v %v", page, err)
		}
		return nil
	})
	s.Close()
	again, err := f.reopen(Options{Check: CheckFull})
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
}

// putOldResources writes active resources as the releases before
// migration 6 did, each bucket indexed by its name alone.
func putOldResources(tx *bolt.Tx, resources []Resource) {
	for _, r := range resources {
		r.Phase = PhaseActive
		v, _ := encodeResource(r)
		tx.Bucket(bucketResources).Put(resourceKey(r.ResourceKey), v)
		tx.Bucket(bucketBuckets).Put([]byte(r.Bucket), resourceKey(r.ResourceKey))
	}
}

// TestDamagedEnvironmentRecords: a garbled app or environment record is
// damage the full check refuses, like any other record.
func TestDamagedEnvironmentRecords(t *testing.T) {
	for _, b := range [][]byte{bucketApps, bucketByEnv} {
		t.Run(string(b), func(t *testing.T) {
			f := setup(t)
			f.mustUpdate(func(tx *Tx) error {
				if err := tx.PutApp(App{AppID: "a", Name: "n"}); err != nil {
					return err
				}
				if err := tx.PutEnvironment(Environment{AppID: "a", Env: "dev"}); err != nil {
					return err
				}
				c := tx.kv.Bucket(b).Cursor()
				k, v := c.First()
				garbled := append([]byte(nil), v...)
				garbled[1] ^= 0xff
				return tx.kv.Bucket(b).Put(append([]byte(nil), k...), garbled)
			})
			f.s.Close()
			if _, err := OpenWith(f.path, Options{Check: CheckFull}); !errors.Is(err, ErrDamaged) {
				t.Fatalf("a garbled %s record opened: %v", b, err)
			}
		})
	}
}
