package datadir

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestSecondAcquireNamesTheHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := Acquire(dir, "amplifybackendd, API on 127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to open file descriptions, so a second Acquire in
	// this process is refused exactly as another process's would be.
	_, err = Acquire(dir, "second")
	var inUse *InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("second Acquire: %v", err)
	}
	if inUse.Holder.PID != os.Getpid() || inUse.Holder.Started.IsZero() {
		t.Fatalf("holder: %+v", inUse.Holder)
	}
	want := "data directory " + dir + " is in use by process " + strconv.Itoa(os.Getpid()) + " (amplifybackendd, API on 127.0.0.1:8080, since "
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("message %q\nwant prefix %q", err, want)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := Acquire(dir, "third")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	again.Release()
}

func TestStaleFileIsTakenOver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// What a killed holder leaves: its details, but no lock (the kernel
	// dropped it with the process).
	stale := `{"pid":999999999,"started":"2020-01-01T00:00:00Z","command":"killed"}` + "\n" + strings.Repeat(" ", 200)
	if err := os.WriteFile(filepath.Join(dir, Name), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(dir, "new")
	if err != nil {
		t.Fatalf("stale lock file refused: %v", err)
	}
	defer l.Release()
	raw, err := os.ReadFile(filepath.Join(dir, Name))
	if err != nil {
		t.Fatal(err)
	}
	var h Holder
	if err := json.Unmarshal(raw, &h); err != nil || h.PID != os.Getpid() || h.Command != "new" {
		t.Fatalf("lock file after takeover: %q (%v)", raw, err)
	}
}

func TestHolderNotYetWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := os.OpenFile(filepath.Join(dir, Name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if held, err := tryLock(f); !held || err != nil {
		t.Skipf("no flock here: %v %v", held, err)
	}
	_, err = Acquire(dir, "second")
	var inUse *InUseError
	if !errors.As(err, &inUse) || err.Error() != "data directory "+dir+" is in use by another process" {
		t.Fatalf("Acquire beside a silent holder: %v", err)
	}
}

func TestMissingDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "absent")
	if _, err := Acquire(dir, "x"); err == nil {
		t.Fatal("Acquire created a missing directory's lock")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory appeared: %v", err)
	}
}
