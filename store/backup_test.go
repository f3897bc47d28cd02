package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestBackupWhileWritingRestores takes a backup while writers commit,
// restores it into a new place and opens it: the copy is consistent (the
// full check passes), holds every job answered before the backup began,
// and its RUNNING jobs are pending there.
func TestBackupWhileWritingRestores(t *testing.T) {
	f := setup(t)
	f.insertJobs("before", 300, StatusRunning)
	stop, started := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var once sync.Once
	var written atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("during-%d-%05d", w, i)
				if err := f.s.Batch(f.ctx, func(tx *Tx) error { return tx.InsertJob(newJob(id, "app", "dev", "r", StatusRunning)) }); err != nil {
					t.Error(err)
					return
				}
				if written.Add(1) == 50 {
					once.Do(func() { close(started) })
				}
			}
		})
	}
	<-started // back up while writes are under way
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.db")
	out, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.s.Backup(f.ctx, out)
	out.Close()
	close(stop)
	wg.Wait()
	if err != nil || n == 0 {
		t.Fatalf("backup: %d bytes, %v", n, err)
	}

	sum, err := Verify(backup)
	if err != nil {
		t.Fatalf("verify the backup: %v", err)
	}
	if sum.Jobs < 300+50 || sum.Pending != sum.Jobs || sum.StoreID == "" {
		t.Fatalf("backup summary %+v", sum)
	}
	t.Logf("backup of %d bytes at transaction %d: %d jobs (%d written while serving)", n, sum.TxID, sum.Jobs, written.Load())

	target := filepath.Join(dir, "data", "amplifybackendd.db")
	if _, err := Restore(backup, target); err != nil {
		t.Fatal(err)
	}
	s, err := Open(target)
	if err != nil {
		t.Fatalf("open the restored store: %v", err)
	}
	defer s.Close()
	err = s.View(f.ctx, func(tx *Tx) error {
		pending := tx.PendingJobs()
		if len(pending) != sum.Jobs {
			return fmt.Errorf("%d pending jobs after restore, want %d", len(pending), sum.Jobs)
		}
		for i := range 300 {
			if _, err := tx.Job(fmt.Sprintf("before-%06d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRestoreRefusals: a damaged backup is not restored, nor one over a
// store a server has open; what was at the target is renamed aside.
func TestRestoreRefusals(t *testing.T) {
	f := setup(t)
	f.mustUpdate(func(tx *Tx) error { return tx.InsertJob(newJob("j1", "app", "dev", "r", StatusRunning)) })
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.db")
	var buf bytes.Buffer
	if _, err := f.s.Backup(f.ctx, &buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(backup, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	// The store f.s has open is in use.
	if _, err := Restore(backup, f.path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("restore over an open store: %v", err)
	}

	cut := filepath.Join(dir, "cut.db")
	os.WriteFile(cut, buf.Bytes()[:len(buf.Bytes())/2], 0o600)
	target := filepath.Join(dir, "data", "amplifybackendd.db")
	if _, err := Restore(cut, target); !errors.Is(err, ErrDamaged) {
		t.Fatalf("restore of a cut backup: %v", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused restore left a store behind")
	}

	// Over an existing, closed store: the old file is kept aside.
	other := filepath.Join(dir, "other", "amplifybackendd.db")
	os.MkdirAll(filepath.Dir(other), 0o700)
	s, err := Open(other)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The copy a restore killed while copying left, as large as the
	// backup, goes with the next restore.
	killed := other + ".restore-1234567"
	if err := os.WriteFile(killed, buf.Bytes()[:4096], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(backup, other); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(killed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the copy of a killed restore is left: %v", err)
	}
	if aside, _ := filepath.Glob(other + ".replaced-*"); len(aside) != 1 {
		t.Fatalf("replaced store not kept: %v", aside)
	}
	s, err = Open(other)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.View(context.Background(), func(tx *Tx) error { _, err := tx.Job("j1"); return err }); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreBackupOfEarlierSchema: a backup taken by the release before
// (schema 7, which has a store id) restores, and the server's Open
// migrates it: every record reads back. It was refused as predating store
// ids, so no backup taken before an upgrade could be restored after it.
func TestRestoreBackupOfEarlierSchema(t *testing.T) {
	t.Parallel()
	st := newV7Store()
	dir := t.TempDir()
	backup := filepath.Join(dir, "v7.db")
	db, err := bolt.Open(backup, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeOldKV(t, kvDB{bolt: db}, 7, st.fill)
	var want string
	err = db.View(func(tx *bolt.Tx) error {
		id, err := unseal(tx.Bucket(bucketMeta).Get(keyStoreID))
		want = hexID(id)
		return err
	})
	db.Close()
	if err != nil || want == "" {
		t.Fatalf("the schema 7 store has no id: %v", err)
	}
	target := filepath.Join(dir, "data", "amplifybackendd.db")
	sum, err := Restore(backup, target)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Schema != 7 || sum.StoreID != want {
		t.Fatalf("restored %+v, want schema 7 and store %s", sum, want)
	}
	s, err := OpenWith(target, Options{Check: CheckFull})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st.check(t, s)
}

// TestOpenRemovesStagedBackups: a backup is staged in a file beside the
// store, as large as the store, and removed once sent; a server killed
// (or stopped before its client finished downloading) while one was
// staged left it there for good, a full copy of the store at each
// interrupted backup. The next Open removes them, and only them.
func TestOpenRemovesStagedBackups(t *testing.T) {
	f := setup(t)
	f.insertJobs("j", 50, StatusRunning)
	staged, err := f.s.StageBackup()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Backup(f.ctx, staged); err != nil {
		t.Fatal(err)
	}
	staged.Close()
	// The name the server staged backups under before StageBackup.
	older := f.path + ".backup-2704346173"
	if err := os.WriteFile(older, []byte("a copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	kept := []string{f.path + ".replaced-20261128T040000Z", f.path + ".damaged-20261128T040000Z", f.path + ".backupnotes"}
	for _, k := range kept {
		if err := os.WriteFile(k, []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, gone := range []string{staged.Name(), older} {
		if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("staged backup %s left after a restart: %v", gone, err)
		}
	}
	for _, k := range kept {
		if _, err := os.Stat(k); err != nil {
			t.Errorf("%s removed: %v", k, err)
		}
	}
}
