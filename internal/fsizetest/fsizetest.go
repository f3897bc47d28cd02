//go:build unix

// Package fsizetest makes writes fail as they do on a full disk, for the
// tests of a package: the kernel refuses to grow a file past RLIMIT_FSIZE
// with EFBIG (the Go runtime ignores SIGXFSZ), as a full disk refuses with
// ENOSPC. The limit is the whole process's, so a test using it runs alone,
// in a copy of the test binary of its own (Isolate).
package fsizetest

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

const childEnv = "AMPLIFYBACKENDD_TEST_FSIZE_CHILD"

// Isolate reports whether t runs in the copy of the test binary that may
// set the limit. Called from any other, it runs that copy for t alone,
// fails t with its output if it failed, and reports false: the test then
// returns at once.
func Isolate(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	return false
}

// Limit lets no file grow past n bytes until the returned function is
// called (or the test ends).
func Limit(t testing.TB, n uint64) (lift func()) {
	t.Helper()
	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Fatal(err)
	}
	limited := was
	limited.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limited); err != nil {
		t.Fatal(err)
	}
	lifted := false
	lift = func() {
		if lifted {
			return
		}
		lifted = true
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(lift)
	return lift
}
