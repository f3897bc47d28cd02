package store

import (
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseMapped drops this process's mapping of the pages of the file tx
// reads, after a full check has touched every one of them: the pages stay
// in the kernel's page cache, and the few a later read needs are mapped
// again, so resident memory holds what serving uses rather than the whole
// file. The caller's read transaction keeps bbolt from remapping the file
// meanwhile. Nothing fails if the kernel refuses; memory stays as it was.
func releaseMapped(tx *bolt.Tx) {
	// A raw call on the address bbolt reports: the mapping is bbolt's,
	// never a Go value, so no pointer conversion is involved.
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, tx.DB().Info().Data, uintptr(tx.Size()), unix.MADV_DONTNEED)
}
