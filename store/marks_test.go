package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestMigrationMarksManagedPolicies opens a schema-6 store with one
// environment: migration 7 marks both its roles as possibly holding any
// managed policy, since earlier releases recorded nothing; an environment
// made afterwards has no mark, and the full check passes.
func TestMigrationMarksManagedPolicies(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v6.db")
	s := openOldStore(t, path, 6, func(tx *bolt.Tx) {
		tx.Bucket(bucketEnvs).Put(envKey("app", "dev"), encodeEnvironment(Environment{AppID: "app", Env: "dev"}))
	})
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error { _, err := tx.EnsureEnvironment("app", "new", time.Now()); return err }); err != nil {
		t.Fatal(err)
	}
	s.View(ctx, func(tx *Tx) error {
		for _, c := range []struct {
			env  string
			kind RoleKind
			want int
		}{{"dev", RoleAuth, unknownMark}, {"dev", RoleUnauth, unknownMark}, {"new", RoleAuth, 0}, {"new", RoleUnauth, 0}} {
			if n, err := tx.ManagedMark("app", c.env, c.kind); err != nil || n != c.want {
				t.Fatalf("mark of the %s role of %s = %d %v, want %d", c.kind, c.env, n, err, c.want)
			}
		}
		return nil
	})
	s.Close()
	reopened, err := OpenWith(path, Options{Check: CheckFull})
	if err != nil {
		t.Fatal(err)
	}
	reopened.Close()
}

// TestManagedMarks: a mark is per role, 0 removes it, and bad input is
// refused naming the rule, changing nothing.
func TestManagedMarks(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "marks.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	mark := func(kind RoleKind) int {
		var n int
		if err := s.View(ctx, func(tx *Tx) (err error) { n, err = tx.ManagedMark("app", "dev", kind); return err }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	set := func(kind RoleKind, n int) error {
		return s.Update(ctx, func(tx *Tx) error { return tx.SetManagedMark("app", "dev", kind, n) })
	}
	if err := set(RoleAuth, 3); err != nil {
		t.Fatal(err)
	}
	if mark(RoleAuth) != 3 || mark(RoleUnauth) != 0 {
		t.Fatalf("marks = %d, %d, want 3, 0", mark(RoleAuth), mark(RoleUnauth))
	}
	for _, c := range []struct {
		kind RoleKind
		n    int
	}{{"owner", 1}, {RoleAuth, -1}} {
		if err := set(c.kind, c.n); !errors.Is(err, ErrInvalid) {
			t.Fatalf("mark %d of kind %q: %v, want ErrInvalid", c.n, c.kind, err)
		}
	}
	if err := set(RoleAuth, 0); err != nil {
		t.Fatal(err)
	}
	if n := mark(RoleAuth); n != 0 {
		t.Fatalf("mark after lowering to 0 = %d", n)
	}
	s.View(ctx, func(tx *Tx) error {
		if n := tx.kv.Bucket(bucketManagedMarks).KeyN(); n != 0 {
			t.Fatalf("%d marks recorded after every mark went to 0", n)
		}
		return nil
	})
}
