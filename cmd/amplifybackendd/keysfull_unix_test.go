//go:build unix

package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// keysFullDiskEnv makes the test binary started by
// TestKeysOnAFullDiskPrintNothingDone run the scenario under a file size
// limit.
const keysFullDiskEnv = "AMPLIFYBACKENDD_TEST_KEYS_FULL_DISK"

// TestKeysOnAFullDiskPrintNothingDone: a key change whose files the disk
// refuses fails and prints nothing it did not do (no access key id of a key
// that does not exist, no "revoked" for a key that still works), and a
// hand-over already made says the key in it does not work. The fault is the
// kernel's: the test binary runs again with RLIMIT_FSIZE below the key
// files' size, so writing them fails with EFBIG as a full disk fails it
// with ENOSPC.
func TestKeysOnAFullDiskPrintNothingDone(t *testing.T) {
	if os.Getenv(keysFullDiskEnv) == "" {
		t.Parallel()
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKeysOnAFullDiskPrintNothingDone$", "-test.v")
		cmd.Env = append(os.Environ(), keysFullDiskEnv+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		return
	}
	dir := keysDir(t)
	mustKeys(t, dir, "create", "reader", "--app", "myapp", "--read-only")
	before := keyFiles(t, dir)
	holder := t.TempDir() + "/holder"

	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Fatal(err)
	}
	full := was
	full.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was)

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
	full.Cur = 200
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := keys(t, dir, "", "create", "writer", "--app", "myapp", "--credentials-file", holder)
	if err == nil || !strings.Contains(err.Error(), "the key written to "+holder+" was not recorded and does not work") {
		t.Errorf("keys create with a hand-over on a full disk: %v, want it to say the handed-over key does not work", err)
	}
	if out != "" || errOut != "" {
		t.Errorf("keys create with a hand-over on a full disk printed %q and %q", out, errOut)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Fatal(err)
	}
	if keyFiles(t, dir) != before {
		t.Fatal("a refused write changed the key files")
	}
}
