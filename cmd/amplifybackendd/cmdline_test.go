package main

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLineMistakes: the commands that call a server or work beside
// one refuse a wrong command line as a usageError (exit status 2, as keys
// and migrate do) saying what to write instead, never by checking
// another address than the one meant.
func TestCommandLineMistakes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	out := filepath.Join(dir, "b.db")
	cases := []struct {
		name string
		run  func(context.Context, []string) error
		args []string
		want string
	}{
		{"ready with the address as an argument", runReady, []string{"http://127.0.0.1:1"}, `unexpected argument "http://127.0.0.1:1"`},
		{"ready with host:port", runReady, []string{"--endpoint", "127.0.0.1:8081"}, `give the server's, such as http://127.0.0.1:8081`},
		{"ready with a flag it lacks", runReady, []string{"--data-dir", dir}, "amplifybackendd ready -h lists the flags"},
		{"backup with host:port", runBackup, []string{"--data-dir", dir, "--endpoint", "localhost:8080", out}, `--endpoint "localhost:8080" is not a URL`},
		{"backup with a flag it lacks", runBackup, []string{"--keys-dir", dir, out}, "amplifybackendd backup -h lists the flags"},
		{"backup without a file", runBackup, []string{"--data-dir", dir}, "name one file to write the backup to"},
		{"restore with a flag it lacks", runRestore, []string{"--from", out}, "amplifybackendd restore -h lists the flags"},
		{"restore without a file", runRestore, []string{"--data-dir", dir}, "name the backup file to restore"},
		{"gateway with a flag it lacks", runGateway, []string{"--listen", "127.0.0.1:0"}, "amplifybackendd gateway -h lists the flags"},
	}
	for _, c := range cases {
		err := c.run(ctx, c.args)
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a usage error containing %q", c.name, err, c.want)
		}
	}
}

// TestBackupPointsAtTheKeysDir: a data directory without a credentials
// file (the server keeps its keys in --keys-dir) is refused saying which
// flag names the file.
func TestBackupPointsAtTheKeysDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := runBackup(context.Background(), []string{"--data-dir", dir, "--endpoint", "http://127.0.0.1:1", filepath.Join(dir, "b.db")})
	if err == nil || !strings.Contains(err.Error(), "give --credentials KEYS-DIR/credentials") {
		t.Fatalf("backup from a data directory without credentials: %v", err)
	}
}

// TestReadyNamesAnAddressNobodyListensOn: a refused connection says that
// no server listens there and what to do, not only the dial error.
func TestReadyNamesAnAddressNobodyListensOn(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = runReady(context.Background(), []string{"--endpoint", "http://" + addr})
	if err == nil || errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "no server listens at "+addr+": start it, or give --endpoint") {
		t.Fatalf("ready against a closed port: %v", err)
	}
}

// TestWrongFlagIsSaidOnce: a flag migrate does not take is its one-line
// error (printed by main), without the flag package's own copy of it and
// the whole usage before it.
func TestWrongFlagIsSaidOnce(t *testing.T) {
	t.Parallel()
	_, stderr, err := migrateRun("--to-etcd", "127.0.0.1:1", "--from-dir", t.TempDir())
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "amplifybackendd migrate -h lists the flags") || stderr != "" {
		t.Fatalf("migrate with a wrong flag: %v; stderr:\n%s", err, stderr)
	}
}
