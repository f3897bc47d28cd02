//go:build unix

package main

import (
	"os"
	"syscall"
)

// holdBackupTemp takes a shared flock on f, the file a backup is being
// received into, for as long as f (or the process) stays open: the kernel
// drops it however the process ends, SIGKILL included, which is how the
// next backup tells a file left behind from one being written. Shared, so
// the check of the copy (bbolt opens it read-only, taking a shared lock of
// its own) is not held up.
func holdBackupTemp(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
}

// abandoned reports whether no backup holds the file at path: an
// exclusive flock is granted only then.
func abandoned(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
