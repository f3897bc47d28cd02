package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// HasFile reports whether the store is a bbolt file (Open), which Backup
// copies and Restore replaces, rather than kept in etcd (OpenEtcd), whose
// own snapshots (etcdctl snapshot save) back it up.
func (s *Store) HasFile() bool { return s.db != nil }

// Backup writes a consistent copy of the store, as of one moment, to w
// while the store keeps serving: bbolt copies the file in a read
// transaction, which writers do not wait for. The copy is a store file
// that Restore puts in place; it carries the pagination token key, so
// keep it as private as the data directory.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if s.db == nil {
		return 0, errNoFile
	}
	var n int64
	err := s.guard(ctx, func() error {
		return s.db.View(func(tx *bolt.Tx) (err error) {
			n, err = tx.WriteTo(w)
			return err
		})
	})
	return n, err
}

// restoreStaging is the suffix of the copy Restore makes beside the store
// before renaming it into place, followed by a random part.
const restoreStaging = ".restore-"

// backupStaging is the suffix of the files StageBackup makes beside the
// store, each followed by a random part.
const backupStaging = ".backup-"

// StageBackup creates the file a backup is staged in before it is sent: a
// new file beside the store, so the copy is on the store's own file
// system. The caller removes it once sent; one a process killed (or
// stopped before its client finished downloading) left behind, as large as
// the store, is removed when a server next opens the store
// (removeLeftovers).
func (s *Store) StageBackup() (*os.File, error) {
	if s.db == nil {
		return nil, errNoFile
	}
	return os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+backupStaging+"*")
}

// Summary describes a store file that Verify read through.
type Summary struct {
	// StoreID is the id the store keeps in its meta bucket.
	StoreID string
	// TxID is the transaction the file is at, Size its length in bytes.
	TxID uint64
	Size int64
	// Schema is the file's schema version; older versions are migrated
	// at the next Open.
	Schema uint64
	// Resources, Jobs and Pending count the records: Pending jobs resume
	// when a server starts on the file.
	Resources, Jobs, Pending int
}

// Verify reads the store file at path through without changing it, as
// Open's full check does, and summarises it. It is how a backup is
// checked before it is kept or restored.
func Verify(path string) (Summary, error) {
	db, sum, err := openVerified(path)
	if db != nil {
		db.Close()
	}
	return sum, err
}

// openVerified is Verify, leaving the file open read-only when it checks
// out, for a caller that goes on to read it. A record check needs the
// current schema: a file at an older one is returned after its pages
// are checked, with its StoreID and no counts.
func openVerified(path string) (*bolt.DB, Summary, error) {
	var sum Summary
	info, err := os.Stat(path)
	if err != nil {
		return nil, sum, err
	}
	sum.Size = info.Size()
	if sum.Size == 0 {
		return nil, sum, damaged(path, "the file is empty")
	}
	if _, _, err := preflight(path, sum.Size); err != nil {
		return nil, sum, err
	}
	var db *bolt.DB
	err = guarded(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		return err
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		// A server holds the file's exclusive lock for as long as it runs.
		return nil, sum, fmt.Errorf("%s is in use by a running server; stop it first", path)
	}
	if err != nil {
		return nil, sum, fmt.Errorf("open %s: %w", path, err)
	}
	err = guarded(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			if err := checkPages(path, tx); err != nil {
				return err
			}
			sum.TxID = uint64(tx.ID())
			meta := tx.Bucket(bucketMeta)
			if meta == nil || len(meta.Get(keySchema)) != 8 {
				return damaged(path, "it holds no amplifybackendd store")
			}
			sum.Schema = binary.BigEndian.Uint64(meta.Get(keySchema))
			if sum.Schema > SchemaVersion {
				return fmt.Errorf("%s has schema version %d, newer than this binary understands (%d)", path, sum.Schema, SchemaVersion)
			}
			// A backup taken before an upgrade has the id too: Restore
			// takes it, and Open migrates the records.
			sum.StoreID = storeIDIn(meta.Get(keyStoreID))
			if sum.Schema < SchemaVersion {
				return nil // records of an older format: Open migrates, then checks them
			}
			counts, err := countRecords(path, kvTx{bolt: tx}, nil)
			if err != nil {
				return err
			}
			sum.Resources, sum.Jobs, sum.Pending = counts.resources, counts.jobs, counts.pending
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, sum, err
	}
	return db, sum, nil
}

// Restore makes the backup at backup the store at path, for a server that
// is not running: it verifies the backup, copies it beside path, renames
// a file already at path aside (path + ".replaced-" + a time; nothing is
// deleted), renames the copy into place and writes the identity record
// for it, so the next Open accepts it. It refuses while a process has the
// store at path open.
func Restore(backup, path string) (Summary, error) {
	sum, err := Verify(backup)
	if err != nil {
		return sum, fmt.Errorf("the backup cannot be restored: %w", err)
	}
	if sum.StoreID == "" {
		return sum, fmt.Errorf("the backup cannot be restored: %s predates store ids; open it with the server that wrote it and back it up again", backup)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return sum, err
	}
	unlock, err := lockUnused(path)
	if err != nil {
		return sum, err
	}
	defer unlock()
	// A restore killed while it copied left its copy beside the store;
	// none is in use: the restore command holds the data directory's
	// lock, as a server does.
	if err := removeLeftovers(path, restoreStaging); err != nil {
		return sum, err
	}

	tmp, err := copyBeside(backup, path)
	if err != nil {
		return sum, err
	}
	defer os.Remove(tmp) // gone after the rename below
	switch _, err := os.Stat(path); {
	case err == nil:
		aside := path + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(path, aside); err != nil {
			return sum, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return sum, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return sum, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return sum, err
	}
	now := time.Now().UTC()
	return sum, writeIdentity(path, identity{StoreID: sum.StoreID, Created: now, TxID: sum.TxID, Size: sum.Size, Updated: now})
}

// copyBeside copies src to a new file in dst's directory, synced, and
// returns its name.
func copyBeside(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+restoreStaging+"*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	err = errors.Join(err, out.Chmod(0o600), out.Sync(), out.Close())
	if err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}
