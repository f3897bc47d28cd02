package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestBranchKeyFlipInOrder: a branch key changed so the keys stay in order
// passes bbolt's own check, yet no longer names the first key of its page;
// the full check refuses it.
func TestBranchKeyFlipInOrder(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "b.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("x"))
		if err != nil {
			return err
		}
		for i := 0; i < 2000; i++ {
			if err := b.Put([]byte(fmt.Sprintf("k%05d", i)), make([]byte, 40)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket([]byte("x")).Root()); return nil })
	}
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int64(db.Info().PageSize)
	db.Close()

	open := func() error {
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error { return checkPages(path, tx) })
	}
	if err := open(); err != nil {
		t.Fatalf("an intact store: %v", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	page := make([]byte, pageSize)
	if _, err := f.ReadAt(page, int64(root)*pageSize); err != nil {
		t.Fatal(err)
	}
	if binary.NativeEndian.Uint16(page[8:]) != branchPageFlag || binary.NativeEndian.Uint16(page[10:]) < 3 {
		t.Fatalf("the bucket's root is not a branch of three or more elements: flags %#x", binary.NativeEndian.Uint16(page[8:]))
	}
	// Element 1's key made a little smaller (its last digit, or the one
	// before where that is 0): it still sorts after element 0's.
	e := pageHeaderSize + pageElementSize
	last := int64(root)*pageSize + int64(e) + int64(binary.NativeEndian.Uint32(page[e:])) + int64(binary.NativeEndian.Uint32(page[e+4:])) - 1
	b := []byte{0}
	if _, err := f.ReadAt(b, last); err != nil {
		t.Fatal(err)
	}
	if b[0] == '0' {
		last--
		if _, err := f.ReadAt(b, last); err != nil {
			t.Fatal(err)
		}
	}
	b[0]--
	if _, err := f.WriteAt(b, last); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = open()
	if err == nil || !strings.Contains(err.Error(), "is not the first key of page") {
		t.Fatalf("a branch key that no longer names its page: %v", err)
	}
}
