//go:build unix

package keyring

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestUpdateHoldsTheLock: while a change is being made, nobody else can
// take the keys' lock, shared or not, so a reader waits for the whole
// change.
func TestUpdateHoldsTheLock(t *testing.T) {
	t.Parallel()
	dir := setup(t)
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = Update(dir, func(r *Ring) error {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
			t.Errorf("a reader could lock the keys during a change: %v", err)
		}
		r.Remove("reader")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// And a change waits for a reader.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Update(dir, func(*Ring) error { return nil }) }()
	select {
	case err := <-done:
		t.Fatalf("a change went ahead while a reader held the lock: %v", err)
	default:
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
