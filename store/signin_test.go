package store

import (
	"errors"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func newChallenge(id string, expires time.Time) Challenge {
	return Challenge{SessionID: id, AppID: "app", Code: "c0de", Creator: "AKID", CreateTime: expires.Add(-time.Minute), Expires: expires}
}

func newSession(key, challenge string, expires time.Time) SignInSession {
	return SignInSession{AccessKeyID: key, Secret: "s", AppID: "app", SessionID: challenge, Creator: "AKID", CreateTime: expires.Add(-time.Hour), Expires: expires}
}

// TestSignInRecords: challenges and sessions round-trip, survive a reopen,
// pass the full check, and deleting a challenge ends its sessions only.
func TestSignInRecords(t *testing.T) { forEachEngine(t, testSignInRecords) }

func testSignInRecords(f *fixture) {
	t := f.t
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newChallenge("s1", at)
	c.Failures, c.Used = 2, true
	f.mustUpdate(func(tx *Tx) error {
		for _, c := range []Challenge{c, newChallenge("s2", at)} {
			if err := tx.PutChallenge(c); err != nil {
				return err
			}
		}
		for _, s := range []SignInSession{newSession("K1", "s1", at), newSession("K2", "s1", at), newSession("K3", "s2", at)} {
			if err := tx.InsertSession(s); err != nil {
				return err
			}
		}
		if err := tx.InsertSession(newSession("K1", "s1", at)); !errors.Is(err, ErrAlreadyExists) {
			t.Errorf("a second session K1: %v, want ErrAlreadyExists", err)
		}
		if err := tx.InsertSession(newSession("K9", "nope", at)); !errors.Is(err, ErrNotFound) {
			t.Errorf("a session of no challenge: %v, want ErrNotFound", err)
		}
		return nil
	})
	f.checkAll()
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := f.reopen(Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	t.Cleanup(func() { s.Close() })
	if info, err := os.Stat(f.path); s.db != nil && (err != nil || info.Mode().Perm() != 0o600) {
		t.Fatalf("store file mode: %v %v, want 0600", info.Mode(), err)
	}
	f.mustUpdate(func(tx *Tx) error {
		got, err := tx.Challenge("s1")
		if err != nil || got != c {
			t.Errorf("challenge s1 = %+v, %v; want %+v", got, err, c)
		}
		if got, err := tx.SignInSession("K2"); err != nil || got != newSession("K2", "s1", at) {
			t.Errorf("session K2 = %+v, %v", got, err)
		}
		if n, err := tx.DeleteChallenge("s1"); err != nil || n != 2 {
			t.Errorf("delete s1 ended %d sessions, %v; want 2", n, err)
		}
		for _, k := range []string{"K1", "K2"} {
			if _, err := tx.SignInSession(k); !errors.Is(err, ErrNotFound) {
				t.Errorf("session %s after its challenge's delete: %v", k, err)
			}
		}
		if _, err := tx.SignInSession("K3"); err != nil {
			t.Errorf("session K3 of another challenge: %v", err)
		}
		if _, err := tx.DeleteChallenge("s1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("delete s1 again: %v, want ErrNotFound", err)
		}
		return nil
	})
	f.checkAll()
}

// TestSweepSignIns removes expired sessions, and expired challenges only
// once no session of theirs is left; a second sweep removes nothing.
func TestSweepSignIns(t *testing.T) { forEachEngine(t, testSweepSignIns) }

func testSweepSignIns(f *fixture) {
	t := f.t
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	f.mustUpdate(func(tx *Tx) error {
		for _, c := range []Challenge{newChallenge("old-used", past), newChallenge("old-live-session", past), newChallenge("old", past), newChallenge("new", future)} {
			if err := tx.PutChallenge(c); err != nil {
				return err
			}
		}
		for _, s := range []SignInSession{newSession("EXPIRED", "old-used", past), newSession("LIVE", "old-live-session", future)} {
			if err := tx.InsertSession(s); err != nil {
				return err
			}
		}
		return nil
	})
	sweep := func(limit int) int {
		var n int
		f.mustUpdate(func(tx *Tx) (err error) { n, err = tx.SweepSignIns(now, limit); return err })
		return n
	}
	if n := sweep(1); n != 1 {
		t.Fatalf("swept %d with a limit of 1", n)
	}
	if n := sweep(100); n != 2 {
		t.Fatalf("swept %d more, want 2 (of a session and two challenges, one at a time)", n)
	}
	f.checkAll()
	f.mustUpdate(func(tx *Tx) error {
		for _, id := range []string{"old-live-session", "new"} {
			if _, err := tx.Challenge(id); err != nil {
				t.Errorf("challenge %s: %v, want kept", id, err)
			}
		}
		for _, id := range []string{"old-used", "old"} {
			if _, err := tx.Challenge(id); !errors.Is(err, ErrNotFound) {
				t.Errorf("challenge %s: %v, want swept", id, err)
			}
		}
		if _, err := tx.SignInSession("LIVE"); err != nil {
			t.Errorf("live session: %v", err)
		}
		return nil
	})
	if n := sweep(100); n != 0 {
		t.Fatalf("a second sweep removed %d", n)
	}
}

// TestMigrationCreatesSignInBuckets: a store of schema 4 opens with the
// sign-in buckets and passes the full check.
func TestMigrationCreatesSignInBuckets(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/old.db"
	s := openOldStore(t, path, 4, func(*bolt.Tx) {})
	defer s.Close()
	err := s.view(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketChallenges, bucketSessions, bucketSessionsByChallenge} {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing after the migration", b)
			}
		}
		return checkRecords(path, kvTx{bolt: tx})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCheckFindsDamagedSignIns: the full check reads the sign-in records:
// a flipped byte in a session, or a session without its index entry, is
// damage.
func TestCheckFindsDamagedSignIns(t *testing.T) {
	for name, damage := range map[string]func(tx *bolt.Tx) error{
		"flipped session byte": func(tx *bolt.Tx) error {
			v := append([]byte(nil), tx.Bucket(bucketSessions).Get([]byte("K1"))...)
			v[3] ^= 0x20
			return tx.Bucket(bucketSessions).Put([]byte("K1"), v)
		},
		"flipped challenge byte": func(tx *bolt.Tx) error {
			v := append([]byte(nil), tx.Bucket(bucketChallenges).Get([]byte("s1"))...)
			v[5] ^= 0x01
			return tx.Bucket(bucketChallenges).Put([]byte("s1"), v)
		},
		"missing index entry": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketSessionsByChallenge).Delete([]byte("s1\x00K1"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := setup(t)
			at := time.Now().Add(time.Hour)
			f.mustUpdate(func(tx *Tx) error {
				if err := tx.PutChallenge(newChallenge("s1", at)); err != nil {
					return err
				}
				return tx.InsertSession(newSession("K1", "s1", at))
			})
			err := f.s.db.Update(damage)
			if err == nil {
				err = f.s.view(func(tx *bolt.Tx) error { return checkRecords(f.path, kvTx{bolt: tx}) })
			}
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("check: %v, want ErrDamaged", err)
			}
		})
	}
}
