package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/datadir"
	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/internal/testcert"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// migrateRun runs the migrate command in process and returns what it
// printed.
func migrateRun(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = migrateCommand{stdout: &out, stderr: &errOut}.run(context.Background(), args)
	return out.String(), errOut.String(), err
}

// dataDirWithStore returns a data directory whose store holds one job.
func dataDirWithStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, storeFileName))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	err = s.Update(context.Background(), func(tx *store.Tx) error {
		return tx.InsertJob(store.Job{ID: "job-1", AppID: "app", Env: "dev", Resource: "photos", Operation: store.OpCreate,
			Status: store.StatusRunning, CreateTime: now, UpdateTime: now})
	})
	if err = errors.Join(err, s.Close()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestMigrateCommand: migrate copies a data directory's store into etcd,
// says what it wrote bucket by bucket, and run again says there was
// nothing new; a server's OpenEtcd then serves the job.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1)
	dir := dataDirWithStore(t)
	args := []string{"--from-data-dir", dir, "--to-etcd", strings.Join(cluster.Endpoints(), ","), "--etcd-prefix", "/migrated"}
	out, _, err := migrateRun(args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "copied store ") || !strings.Contains(out, "under /migrated") ||
		!regexp.MustCompile(`(?m)^\s+jobs\s+1\s+1\s+0\s*$`).MatchString(out) || !strings.Contains(out, "--store etcd --etcd-prefix /migrated") {
		t.Fatalf("migrate said:\n%s", out)
	}
	// The key files are not in the store; the policies go with the
	// credentials, or every key would be an administrator on the replicas.
	for _, want := range []string{"credentials", "policies.json", "--keys-dir"} {
		if !strings.Contains(strings.ReplaceAll(migrateUsage, "\n", " "), want) {
			t.Errorf("migrate's usage does not name %s:\n%s", want, migrateUsage)
		}
	}
	out, _, err = migrateRun(args...)
	if err != nil || !strings.Contains(out, "nothing new to copy") {
		t.Fatalf("migrate again: %v\n%s", err, out)
	}
	s, err := store.OpenEtcd(context.Background(), store.EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: "/migrated"}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.View(context.Background(), func(tx *store.Tx) error {
		_, err := tx.Job("job-1")
		return err
	}); err != nil {
		t.Fatalf("the migrated job: %v", err)
	}

	// Another store's directory into the same prefix is refused.
	_, _, err = migrateRun("--from-data-dir", dataDirWithStore(t), "--to-etcd", cluster.Endpoints()[0], "--etcd-prefix", "/migrated")
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "holds store") || errors.As(err, new(usageError)) {
		t.Fatalf("another store into the prefix: %v", err)
	}
}

// TestMigrateNamesTheKeyFilesThere: after a copy, migrate says to copy
// the key files the data directory holds, and only those: policies.json
// with the credentials when there is one; without it, that every key is
// an administrator; without either, where the server kept them instead.
func TestMigrateNamesTheKeyFilesThere(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1)
	for i, tc := range []struct {
		keys, policies bool
		want, not      []string
	}{
		{true, true, []string{"copy DIR/credentials and DIR/policies.json into"}, nil},
		{true, false, []string{"copy DIR/credentials into", "There is no policies.json beside it: every key in it is an administrator"}, []string{"DIR/policies.json"}},
		{false, false, []string{"DIR has no credentials (a server started with --keys-dir"}, []string{"DIR/credentials", "DIR/policies.json"}},
	} {
		dir := dataDirWithStore(t)
		if tc.keys {
			if _, err := loadOrCreateCredentials(dir, profileAPI, profileEmbedded); err != nil {
				t.Fatal(err)
			}
		}
		if tc.policies {
			mustKeys(t, dir, "create", "team-a", "--app", "myapp")
		}
		out, _, err := migrateRun("--from-data-dir", dir, "--to-etcd", cluster.Endpoints()[0], "--etcd-prefix", "/keys-"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		out = strings.ReplaceAll(out, dir, "DIR")
		for _, want := range tc.want {
			if !strings.Contains(out, want) {
				t.Errorf("key files %v, policies %v: migrate said\n%s\nwant %q", tc.keys, tc.policies, out, want)
			}
		}
		for _, not := range tc.not {
			if strings.Contains(out, not) {
				t.Errorf("key files %v, policies %v: migrate said\n%s\nnaming %s, which is not there", tc.keys, tc.policies, out, not)
			}
		}
	}
}

// TestMigrateRefusesBadCommandLines: a wrong command line is a usage
// error (exit 2) naming the flag; a data directory that cannot be copied
// is refused (exit 1) saying why.
func TestMigrateRefusesBadCommandLines(t *testing.T) {
	t.Parallel()
	dir := dataDirWithStore(t)
	ca := testcert.NewCA(t, t.TempDir())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from-data-dir", dir}, "--to-etcd must name the etcd cluster"},
		{[]string{"--from-data-dir", dir, "--to-etcd", "127.0.0.1:1", "extra"}, `migrate takes only flags, not "extra"`},
		{[]string{"--to-etcd", "127.0.0.1:1", "--etcd-endpoints", "127.0.0.1:2"}, "--to-etcd and --etcd-endpoints name the same thing"},
		{[]string{"--to-etcd", "127.0.0.1:1", "--etcd-prefix", "store/"}, "--etcd-prefix must start with /"},
		// TLS asked for, and an endpoint the client would speak plaintext to.
		{[]string{"--to-etcd", "127.0.0.1:1,http://127.0.0.1:2", "--etcd-ca-file", ca.File}, `etcd endpoint "http://127.0.0.1:2" is plain http, but --etcd-ca-file or --etcd-cert-file ask for TLS`},
		{[]string{"--to-etcd", "127.0.0.1:1", "--from-dir", dir}, "flag provided but not defined: -from-dir"},
		// migrate runs no jobs, so it holds no lease to give a life.
		{[]string{"--to-etcd", "127.0.0.1:1", "--etcd-lease-ttl", "5s"}, "flag provided but not defined: -etcd-lease-ttl"},
	} {
		_, _, err := migrateRun(c.args...)
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("migrate %q: %v, want a usage error saying %q", c.args, err, c.want)
		}
	}
	// The same address under both names is one cluster.
	if _, _, err := migrateRun("--to-etcd", "127.0.0.1:1", "--etcd-endpoints", "127.0.0.1:1", "--from-data-dir", filepath.Join(dir, "none")); err == nil || errors.As(err, new(usageError)) {
		t.Errorf("--to-etcd and --etcd-endpoints alike: %v, want the missing directory refused", err)
	}

	_, help, err := migrateRun("-h")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(help, "--to-etcd") || !strings.Contains(help, "Exit status") || !strings.Contains(help, "-etcd-ca-file") {
		t.Errorf("migrate -h: %v\n%s", err, help)
	}

	empty := t.TempDir()
	locked := dataDirWithStore(t)
	lock, err := datadir.Acquire(locked, "amplifybackendd, API on 127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	for _, c := range []struct {
		dir, want string
	}{
		{filepath.Join(dir, "none"), "not a directory"},
		{empty, "no store to copy in " + empty},
		{locked, "in use by process " + strconv.Itoa(os.Getpid()) + " (amplifybackendd, API on 127.0.0.1:8080"},
	} {
		_, _, err := migrateRun("--from-data-dir", c.dir, "--to-etcd", "127.0.0.1:1")
		if err == nil || errors.As(err, new(usageError)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("migrate --from-data-dir %s: %v, want a refusal saying %q", c.dir, err, c.want)
		}
	}
}
