package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestRecordEnvRoles(t *testing.T) { forEachEngine(t, testRecordEnvRoles) }

func testRecordEnvRoles(f *fixture) {
	t := f.t
	dev := EnvRoles{AppID: "app", Env: "dev", Auth: "amplify-app-dev-authRole", Unauth: "amplify-app-dev-unauthRole"}
	f.mustUpdate(func(tx *Tx) error { return tx.RecordEnvRoles(dev) })
	// Recording the same names again is a no-op.
	f.mustUpdate(func(tx *Tx) error { return tx.RecordEnvRoles(dev) })
	f.s.View(f.ctx, func(tx *Tx) error {
		got, ok, err := tx.EnvRoles("app", "dev")
		if err != nil || !ok || got != dev {
			t.Fatalf("EnvRoles = %+v, %v, %v; want %+v", got, ok, err, dev)
		}
		if _, ok, err := tx.EnvRoles("app", "prod"); ok || err != nil {
			t.Fatalf("EnvRoles of an unrecorded environment: %v %v", ok, err)
		}
		// IAM names are case-insensitive, and so is the claim.
		owner, ok, err := tx.RoleOwner("AMPLIFY-APP-DEV-AUTHROLE")
		if err != nil || !ok || owner != (RoleOwner{AppID: "app", Env: "dev", Kind: RoleAuth}) {
			t.Fatalf("RoleOwner = %+v, %v, %v", owner, ok, err)
		}
		return nil
	})

	for _, c := range []struct {
		roles EnvRoles
		class error
		says  []string
	}{
		// Another environment, a name that differs only in case.
		{EnvRoles{AppID: "App", Env: "dev", Auth: "amplify-App-dev-authRole", Unauth: "x-unauth"}, ErrConflict,
			[]string{`"amplify-App-dev-authRole"`, `authenticated role of environment "dev" of app "app"`, `authenticated role of environment "dev" of app "App"`}},
		// Another environment's auth role as this one's guest role.
		{EnvRoles{AppID: "app", Env: "prod", Auth: "p-auth", Unauth: "amplify-app-dev-authRole"}, ErrConflict,
			[]string{`unauthenticated role of environment "prod"`}},
		// One role for both kinds.
		{EnvRoles{AppID: "app", Env: "test", Auth: "same", Unauth: "SAME"}, ErrConflict, []string{"both"}},
		// An environment's roles never move.
		{EnvRoles{AppID: "app", Env: "dev", Auth: "other-auth", Unauth: "other-unauth"}, ErrAlreadyExists, []string{"already uses"}},
		{EnvRoles{AppID: "app", Env: "x"}, ErrInvalid, nil},
		{EnvRoles{AppID: "a\x00b", Env: "x", Auth: "a", Unauth: "b"}, ErrInvalid, nil},
	} {
		err := f.update(func(tx *Tx) error { return tx.RecordEnvRoles(c.roles) })
		if !errors.Is(err, c.class) {
			t.Errorf("%+v: %v, want %v", c.roles, err, c.class)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%+v: %q does not say %q", c.roles, err, s)
			}
		}
		// Nothing of a refused record is kept.
		f.s.View(f.ctx, func(tx *Tx) error {
			if _, ok, _ := tx.EnvRoles(c.roles.AppID, c.roles.Env); ok && c.class != ErrAlreadyExists {
				t.Errorf("%+v: recorded anyway", c.roles)
			}
			if _, ok, _ := tx.RoleOwner("p-auth"); ok {
				t.Errorf("%+v: claimed a name anyway", c.roles)
			}
			return nil
		})
	}
}

// TestMigrationMarksLegacyEnvs builds a schema-2 store by hand, as the
// release before role records left it, and opens it: migration 3 marks
// every environment with resources as legacy, with its oldest resource's
// creation time, and records no names; recording an environment's names
// clears its mark.
func TestMigrationMarksLegacyEnvs(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	resources := []Resource{
		{ResourceKey: ResourceKey{AppID: "a-b", Env: "c", Name: "photos"}, Bucket: "b1", CreateTime: t0.Add(2 * time.Hour)},
		{ResourceKey: ResourceKey{AppID: "a-b", Env: "c", Name: "docs"}, Bucket: "b2", CreateTime: t0.Add(time.Hour)},
		{ResourceKey: ResourceKey{AppID: "a", Env: "b-c", Name: "photos"}, Bucket: "b3", CreateTime: t0.Add(3 * time.Hour)},
		{ResourceKey: ResourceKey{AppID: "z", Env: "old", Name: "photos"}, Bucket: "b4", CreateTime: t0},
	}
	path := filepath.Join(t.TempDir(), "v2.db")
	s := openOldStore(t, path, 2, func(tx *bolt.Tx) { putOldResources(tx, resources) })
	ctx := context.Background()
	var legacy []LegacyEnv
	s.View(ctx, func(tx *Tx) error {
		var err error
		if legacy, err = tx.LegacyEnvs(); err != nil {
			t.Fatal(err)
		}
		if !tx.IsLegacyEnv("a", "b-c") || tx.IsLegacyEnv("a", "dev") {
			t.Fatal("IsLegacyEnv does not follow the migration")
		}
		if _, ok, _ := tx.EnvRoles("a-b", "c"); ok {
			t.Fatal("the migration recorded names")
		}
		return nil
	})
	want := []LegacyEnv{{"z", "old", t0}, {"a-b", "c", t0.Add(time.Hour)}, {"a", "b-c", t0.Add(3 * time.Hour)}}
	if len(legacy) != len(want) {
		t.Fatalf("LegacyEnvs = %+v, want %+v", legacy, want)
	}
	for i := range want {
		if legacy[i].AppID != want[i].AppID || legacy[i].Env != want[i].Env || !legacy[i].Since.Equal(want[i].Since) {
			t.Fatalf("LegacyEnvs = %+v, want %+v", legacy, want)
		}
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		return tx.RecordEnvRoles(EnvRoles{AppID: "z", Env: "old", Auth: "amplify-z-old-authRole", Unauth: "amplify-z-old-unauthRole"})
	}); err != nil {
		t.Fatal(err)
	}
	s.View(ctx, func(tx *Tx) error {
		if tx.IsLegacyEnv("z", "old") {
			t.Fatal("recording names left the legacy mark")
		}
		return nil
	})
	// Opening again runs no migration twice: the marks stay as they are.
	s.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.View(ctx, func(tx *Tx) error {
		if l, _ := tx.LegacyEnvs(); len(l) != 2 {
			t.Fatalf("after reopening: %+v", l)
		}
		return nil
	})
}
