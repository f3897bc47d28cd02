//go:build !unix

package keyring

import "os"

// flock does nothing where flock(2) does not exist: each file is still
// replaced by one rename, so a reader sees either file whole, though it
// may see one file's change before the other's.
func flock(*os.File, bool) error { return nil }

// inode is unknown here; size and time tell changes apart.
func inode(os.FileInfo) uint64 { return 0 }
