package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	bolt "go.etcd.io/bbolt"

	"github.com/amplifybackendd/amplifybackendd/internal/boltdamage"
)

// TestAutoChecksBigStoresBehind: past FullCheckLimit, the default check
// still reads the whole file, behind the opening, instead of only its meta
// pages; up to it, before the store serves.
func TestAutoChecksBigStoresBehind(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mode CheckMode
		size int64
		want CheckMode
	}{
		{CheckAuto, 0, CheckFull},
		{CheckAuto, FullCheckLimit, CheckFull},
		{CheckAuto, FullCheckLimit + 1, CheckBackground},
		{CheckAuto, 1 << 40, CheckBackground},
		{CheckQuick, 1 << 40, CheckQuick},
		{CheckFull, 1 << 40, CheckFull},
		{CheckBackground, 0, CheckBackground},
	} {
		if got := c.mode.forSize(c.size); got != c.want {
			t.Errorf("%s at %d bytes: %s, want %s", c.mode, c.size, got, c.want)
		}
	}
	if m, err := ParseCheckMode("background"); err != nil || m != CheckBackground {
		t.Errorf("ParseCheckMode(background) = %q, %v", m, err)
	}
}

// TestWritesWaitForTheBackgroundCheck: while the check behind the opening
// runs, reads are answered and a write waits; it commits once the check
// has passed. synctest.Wait returns once every goroutine of the test is
// blocked, so "the write has not returned" is observed, not timed.
func TestWritesWaitForTheBackgroundCheck(t *testing.T) {
	// Not parallel: the hook is the package's.
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "amplifybackendd.db")
		buildStore(t, path)
		hold := make(chan struct{})
		beforeCheckBehind = func() { <-hold }
		defer func() { beforeCheckBehind = func() {} }()
		s, err := OpenWith(path, Options{Check: CheckBackground, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		release := sync.OnceFunc(func() { close(hold) })
		defer release() // before Close, which waits for the check
		ctx := context.Background()
		if _, err := contents(s); err != nil {
			t.Fatalf("a read while the store is checked: %v", err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping while the store is checked: %v", err)
		}
		wrote := make(chan error, 2)
		go func() {
			wrote <- s.Batch(ctx, func(tx *Tx) error { return tx.InsertJob(newJob("job-batch", "app", "env0", "res00", StatusCompleted)) })
		}()
		go func() {
			wrote <- s.Update(ctx, func(tx *Tx) error { return tx.InsertJob(newJob("job-update", "app", "env1", "res01", StatusCompleted)) })
		}()
		synctest.Wait()
		select {
		case err := <-wrote:
			t.Fatalf("a write returned (%v) before the store's check had ended", err)
		case <-s.Checked():
			t.Fatal("Checked is closed before the check has run")
		default:
		}
		release()
		<-s.Checked()
		for range 2 {
			if err := <-wrote; err != nil {
				t.Fatalf("a write after the check passed: %v", err)
			}
		}
	})
}

// TestBackgroundCheckMatrix opens every case of the corruption matrix with
// the check behind the opening. It must find what the check before serving
// finds: each case the full check refuses is refused at open or found by
// the background check, after which every write fails with ErrDamaged,
// Ping fails and the store file is left as it was; every other case serves
// every record as it was and takes writes.
func TestBackgroundCheckMatrix(t *testing.T) {
	t.Parallel()
	f := newMatrixFixture(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	found := 0 // cases the background check found (the subtests run in turn)
	defer func() {
		if found == 0 {
			t.Error("no case of the matrix got past the opening to the background check's finding")
		}
	}()
	for _, c := range boltdamage.Cases(f.other, f.older) {
		t.Run(c.Name, func(t *testing.T) {
			full, fullErr := OpenWith(f.damaged(t, c), Options{Check: CheckFull, Logger: quiet})
			if fullErr == nil {
				full.Close()
			}
			path := f.damaged(t, c)
			before, _ := os.ReadFile(path)
			s, err := OpenWith(path, Options{Check: CheckBackground, Logger: quiet})
			if err != nil {
				if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrDataLost) {
					t.Errorf("refused with an unclassified error: %v", err)
				}
				return
			}
			defer s.Close()
			<-s.Checked()
			ctx := context.Background()
			write := func() error {
				return s.Batch(ctx, func(tx *Tx) error { return tx.InsertJob(newJob("job-new", "app", "env0", "res00", StatusCompleted)) })
			}
			if fullErr == nil {
				if have, err := contents(s); err != nil || have != f.want {
					t.Fatalf("started with altered contents (err %v)", err)
				}
				if err := write(); err != nil {
					t.Fatalf("a write after the check passed: %v", err)
				}
				return
			}
			found++
			if err := write(); !errors.Is(err, ErrDamaged) {
				t.Errorf("a write after the check found damage (the full check: %v): %v, want ErrDamaged", fullErr, err)
			}
			if err := s.Ping(ctx); !errors.Is(err, ErrDamaged) {
				t.Errorf("Ping after the check found damage: %v, want ErrDamaged", err)
			}
			s.Close()
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("the damaged store file was written")
			}
		})
	}
}

// TestRecordCheckNamesAJobOffItsIndexes: the record check compares the job
// indexes with the jobs as sums; index entries changed so that every count
// still holds are found all the same, and the job they belong to is named.
func TestRecordCheckNamesAJobOffItsIndexes(t *testing.T) {
	t.Parallel()
	for name, damage := range map[string]func(tx *Tx) error{
		"two index entries swap their jobs": func(tx *Tx) error {
			b := tx.kv.Bucket(bucketByEnv)
			c := b.Cursor()
			k1, v1 := c.First()
			k2, v2 := c.Next()
			k1, v1, k2, v2 = bytes.Clone(k1), bytes.Clone(v1), bytes.Clone(k2), bytes.Clone(v2)
			return errors.Join(b.Put(k1, v2), b.Put(k2, v1))
		},
		"an index entry moves to another key": func(tx *Tx) error {
			b := tx.kv.Bucket(bucketByEnv)
			k, v := b.Cursor().First()
			k, v = bytes.Clone(k), bytes.Clone(v)
			moved := append(bytes.Clone(k[:len(k)-1]), k[len(k)-1]^0x40)
			return errors.Join(b.Delete(k), b.Put(moved, v))
		},
		"a pending entry moves to a finished job": func(tx *Tx) error {
			b := tx.kv.Bucket(bucketPending)
			k, _ := b.Cursor().First()
			k = bytes.Clone(k)
			return errors.Join(b.Delete(k), b.Put([]byte("done-000003"), nil))
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := setup(t)
			f.insertJobs("done", 5, StatusCompleted)
			f.insertJobs("running", 3, StatusRunning)
			check := func() error {
				return f.s.view(func(tx *bolt.Tx) error { return checkRecords(f.path, kvTx{bolt: tx}) })
			}
			if err := check(); err != nil {
				t.Fatalf("an intact store: %v", err)
			}
			f.mustUpdate(damage)
			if err := check(); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), `job "`) {
				t.Fatalf("got %v, want ErrDamaged naming a job", err)
			}
		})
	}
}

// TestRecordCheckStopsWhenAsked: the record check behind the opening ends
// at a stop instead of reading on, so Close does not wait for a million
// jobs to be read.
func TestRecordCheckStopsWhenAsked(t *testing.T) {
	f := setup(t)
	f.insertJobs("done", 10, StatusCompleted)
	stop := make(chan struct{})
	close(stop)
	err := f.s.view(func(tx *bolt.Tx) error { _, err := countRecords(f.path, kvTx{bolt: tx}, stop); return err })
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("a record check after a stop: %v, want ErrClosed", err)
	}
}
