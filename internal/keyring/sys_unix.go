//go:build unix

package keyring

import (
	"errors"
	"os"
	"syscall"
)

// flock waits for a flock on f: shared for readers, exclusive for a
// writer. flock rather than fcntl locks, as for the data directory: it
// belongs to the open file, not the process, so a server reading the keys
// and a command changing them in one test process still exclude each
// other.
func flock(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// inode is the file's inode number: a file renamed over another has the
// same size and, within the clock's grain, the same time, but not the
// same inode.
func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Ino)
	}
	return 0
}
