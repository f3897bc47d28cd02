//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBackupRemovesWhatKilledBackupsLeft: a backup killed past its signal
// handling (SIGKILL, SIGHUP) leaves <out>.tmp-N, which no process holds;
// the next backup to out removes it, and keeps the file of a backup still
// receiving (it holds a shared flock on it) and every other name.
func TestBackupRemovesWhatKilledBackupsLeft(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds := "[default]\naws_access_key_id = AKIAEXAMPLE000000001\naws_secret_access_key = secret\n"
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "b.db")
	write := func(name string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("part of a store"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	left := write("b.db.tmp-1976984363")
	receiving := write("b.db.tmp-3343621208")
	f, err := os.Open(receiving)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	others := []string{write("b.db.tmp-notours"), write("c.db.tmp-1"), write("b.db")}

	// Nothing answers at this endpoint: the leftovers go before it is asked.
	err = runBackup(context.Background(), []string{"--data-dir", dir, "--endpoint", "http://127.0.0.1:1", out})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("backup from no server: %v", err)
	}
	if _, err := os.Stat(left); err == nil {
		t.Errorf("%s, left by a killed backup, is still there", left)
	}
	for _, kept := range append(others, receiving) {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("%s was removed: %v", kept, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 5 {
		t.Errorf("after a failed backup the folder holds %d files, want the 5 kept: %v", len(entries), entries)
	}
}
