package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// openBolt opens the bbolt file at path, which holds what of the target
// says. bbolt takes an empty file for a new database and starts it empty,
// so a file emptied by an accident (a truncation, a disk that lost it)
// would silently serve a target that lost every record in it. A new file
// is therefore made under a temporary name and renamed into place once
// bbolt has written it, so a crash while it is made never leaves an empty
// file at path, and an empty file found there is refused with lost, which
// says what was lost and the ways out.
func openBolt(path, what, lost string) (*bolt.DB, error) {
	opts := &bolt.Options{Timeout: time.Second}
	st, err := os.Stat(path)
	switch {
	case err == nil && st.Size() == 0:
		return nil, fmt.Errorf("%s %s is empty, though it was made before: %s", what, path, lost)
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		tmp := path + ".new"
		os.Remove(tmp) // left by a crash while it was being made
		db, err := bolt.Open(tmp, 0o600, opts)
		if err != nil {
			return nil, fmt.Errorf("make %s %s: %w", what, path, err)
		}
		if err := db.Close(); err != nil {
			return nil, fmt.Errorf("make %s %s: %w", what, path, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("make %s %s: %w", what, path, err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("make %s %s: %w", what, path, err)
		}
	default:
		return nil, fmt.Errorf("open %s %s: %w", what, path, err)
	}
	db, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", what, path, err)
	}
	return db, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
