package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/store"
)

func TestCheckStoreFlag(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"auto", "full", "quick"} {
		c, err := parseConfig([]string{"--check-store", mode})
		if err != nil || string(c.checkStore) != mode {
			t.Fatalf("--check-store %s: %v %v", mode, c.checkStore, err)
		}
	}
	_, err := parseConfig([]string{"--check-store", "thorough"})
	if err == nil || !strings.Contains(err.Error(), "--check-store") || !strings.Contains(err.Error(), "auto, full or quick") {
		t.Fatalf("a bad --check-store: %v", err)
	}
}

// TestStoreRefusalNamesTheWaysOut: only refusals of the store get the
// ways out, and those name the data directory to restore into.
func TestStoreRefusalNamesTheWaysOut(t *testing.T) {
	t.Parallel()
	plain := errors.New("open store: permission denied")
	if got := storeRefusal(plain, "/d"); got != plain {
		t.Fatalf("a plain error got ways out: %v", got)
	}
	for _, class := range []error{store.ErrDamaged, store.ErrDataLost} {
		err := storeRefusal(class, "/srv/data")
		if !errors.Is(err, class) || !strings.Contains(err.Error(), "amplifybackendd restore --data-dir /srv/data BACKUP_FILE") || !strings.Contains(err.Error(), "--accept-store-loss") {
			t.Fatalf("refusal: %v", err)
		}
	}
}

// TestCommandsRefuseBadArguments: a command without its file, or a
// backup from a server that is not there, says what is wrong.
func TestCommandsRefuseBadArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	if err := runRestore(ctx, []string{"--data-dir", dir}); err == nil || !strings.Contains(err.Error(), "backup file") {
		t.Fatalf("restore without a file: %v", err)
	}
	if err := runRestore(ctx, []string{"--data-dir", dir, filepath.Join(dir, "none.db")}); err == nil || !strings.Contains(err.Error(), "none.db") {
		t.Fatalf("restore of a missing file: %v", err)
	}
	if err := runRestore(ctx, []string{"--data-dir", dir, "--store", "etcd", filepath.Join(dir, "b.db")}); err == nil || !strings.Contains(err.Error(), "etcdctl snapshot save") {
		t.Fatalf("restore with --store etcd: %v", err)
	}
	if err := runBackup(ctx, []string{"--data-dir", dir}); err == nil || !strings.Contains(err.Error(), "file to write") {
		t.Fatalf("backup without a file: %v", err)
	}
	if err := runBackup(ctx, []string{"--data-dir", dir, filepath.Join(dir, "b.db")}); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("backup without a credentials file: %v", err)
	}
}
