//go:build unix

package main

import (
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/fsizetest"
)

// TestKeysOnAFullDiskPrintNothingDone: a key change whose files the disk
// refuses fails and prints nothing it did not do (no access key id of a key
// that does not exist, no "revoked" for a key that still works), and a
// hand-over already made says the key in it does not work. The fault is the
// kernel's: the test binary runs again with RLIMIT_FSIZE below the key
// files' size, so writing them fails with EFBIG as a full disk fails it
// with ENOSPC.
func TestKeysOnAFullDiskPrintNothingDone(t *testing.T) {
	if !fsizetest.Isolate(t) {
		return
	}
	dir := keysDir(t)
	mustKeys(t, dir, "create", "reader", "--app", "myapp", "--read-only")
	before := keyFiles(t, dir)
	holder := t.TempDir() + "/holder"

	lift := fsizetest.Limit(t, 64)

	for _, args := range [][]string{
		{"create", "writer", "--app", "myapp"},
		{"rotate", "reader"},
		{"revoke", "reader"},
		{"set-policy", "reader", "--app", "other"},
	} {
		out, errOut, err := keys(t, dir, "", args...)
		if err == nil || !strings.Contains(err.Error(), "file too large") {
			t.Errorf("keys %v on a full disk: %v, want the write's failure", args, err)
		}
		if out != "" || errOut != "" {
			t.Errorf("keys %v on a full disk printed %q and %q, though nothing was changed", args, out, errOut)
		}
	}
	// The holder's file is small enough to be written; the data
	// directory's are not.
	lift()
	lift = fsizetest.Limit(t, 200)
	out, errOut, err := keys(t, dir, "", "create", "writer", "--app", "myapp", "--credentials-file", holder)
	if err == nil || !strings.Contains(err.Error(), "the key written to "+holder+" was not recorded and does not work") {
		t.Errorf("keys create with a hand-over on a full disk: %v, want it to say the handed-over key does not work", err)
	}
	if out != "" || errOut != "" {
		t.Errorf("keys create with a hand-over on a full disk printed %q and %q", out, errOut)
	}
	lift()
	if keyFiles(t, dir) != before {
		t.Fatal("a refused write changed the key files")
	}
}
