package store

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// identity is the record kept beside the store file (path + ".id"): which
// store lives at path, and a transaction id and file size it provably
// reached. A store file cannot tell by itself that it lost data: bbolt
// starts an emptied or deleted file as a new store, and an older copy or
// another store reads as well as the right one. The record can.
//
// It is written at Open, every identityEvery while transactions commit,
// and at Close, atomically (temporary file, fsync, rename, fsync of the
// directory), with values read after they were durable: the transaction
// id of a committed transaction, the size of a file bbolt grows with an
// fsync. So a store found behind its record lost data, whatever crashed
// and whenever.
type identity struct {
	StoreID string    `json:"storeId"`
	Created time.Time `json:"created"`
	TxID    uint64    `json:"txid"`
	Size    int64     `json:"size"`
	Updated time.Time `json:"updated"`
}

// identityEvery is how often a serving store refreshes its record; the
// group committer makes thousands of commits a second, and none of them
// waits for this.
const identityEvery = 10 * time.Second

// storeIDSize is the length of the random id a store keeps in meta/.
const storeIDSize = 16

// IdentityPath is where the identity record of the store at path is kept.
func IdentityPath(path string) string { return path + ".id" }

// readIdentity returns the record beside path, or nil when there is none.
func readIdentity(path string) (*identity, error) {
	b, err := os.ReadFile(IdentityPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var id identity
	if err := json.Unmarshal(b, &id); err != nil || id.StoreID == "" {
		return nil, fmt.Errorf("%w: the identity record %s does not parse; if the store beside it is the right one, remove the record and the store is adopted at the next start", ErrDataLost, IdentityPath(path))
	}
	return &id, nil
}

// writeIdentity replaces the record beside path atomically.
func writeIdentity(path string, id identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(IdentityPath(path), append(b, '\n'))
}

// writeFileAtomic makes name hold data or what it held before, never a
// mix, across a crash.
func writeFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	return syncDir(filepath.Dir(name))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// held says what rec records of the store at path, for the refusals that
// quote it.
func (rec *identity) held(path string) string {
	return fmt.Sprintf("%s records store %s at transaction %d and %d bytes (%s)",
		filepath.Base(IdentityPath(path)), rec.StoreID, rec.TxID, rec.Size, rec.Updated.Format(time.RFC3339))
}

// compareIdentity refuses a store file that is behind what its record
// says it held. fileID is the id stored in the file ("" when it has none).
func compareIdentity(path string, rec *identity, fileID string, txid uint64, size int64) error {
	held := rec.held(path)
	switch {
	case fileID != rec.StoreID:
		what := "store " + fileID
		if fileID == "" {
			what = "no store id"
		}
		return fmt.Errorf("%w: %s holds %s, but %s: another file was put in its place", ErrDataLost, path, what, held)
	case txid < rec.TxID:
		return fmt.Errorf("%w: %s is at transaction %d, but %s: it is an older copy, or lost its last commits", ErrDataLost, path, txid, held)
	case size < rec.Size:
		return fmt.Errorf("%w: %s holds %d bytes, but %s: it was cut short", ErrDataLost, path, size, held)
	}
	return nil
}

func hexID(b []byte) string { return hex.EncodeToString(b) }

// storeIDIn is the store id a meta/ "store-id" value seals, in hex, or ""
// when v is none: the file predates store ids (schema 3), or the value is
// damaged, which the full check names. Every schema since 3 keeps it in
// the same form, so it is read before a file is migrated.
func storeIDIn(v []byte) string {
	if id, err := unseal(v); err == nil && len(id) == storeIDSize {
		return hexID(id)
	}
	return ""
}
