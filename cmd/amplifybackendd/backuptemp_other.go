//go:build !unix

package main

import "os"

// holdBackupTemp holds nothing where flock(2) does not exist.
func holdBackupTemp(*os.File) error { return nil }

// abandoned cannot tell a file left behind from one a backup is writing
// here, so none is taken for left behind.
func abandoned(string) bool { return false }
