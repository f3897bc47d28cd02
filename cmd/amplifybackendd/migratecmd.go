package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/keyring"
	"github.com/amplifybackendd/amplifybackendd/store"
)

const migrateUsage = `usage: amplifybackendd migrate [--from-data-dir DIR] --to-etcd HOST:PORT,... [--etcd-prefix P] [etcd flags]

Copies the store of a data directory (DIR/amplifybackendd.db) into etcd under the prefix,
where servers started with --store etcd and the same --etcd-* flags serve it: resources,
jobs (their order and page tokens), environments, roles, sign-in records. Stop the server
on DIR first; the file is only read, and a file of an older release is migrated in a
temporary copy beside it. Interrupted, run it again: it completes the copy. Run again
after it finished, it checks the copy and writes nothing. A prefix holding another store,
or keys that are not a store, is refused; until a copy has finished, servers refuse the
prefix. API keys are not in the store: copy DIR/credentials and DIR/policies.json (both:
a key without its policy is an administrator) into the directory replicas share as --keys-dir.

Exit status: 0 copied, or nothing to copy; 1 refused or failed; 2 a wrong command line.

flags:
`

// migrateCommand is the migrate command's output, apart from os.Stdout
// so tests run it in process.
type migrateCommand struct {
	stdout, stderr io.Writer
}

func runMigrate(ctx context.Context, args []string) error {
	return migrateCommand{stdout: os.Stdout, stderr: os.Stderr}.run(ctx, args)
}

func (c migrateCommand) run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("amplifybackendd migrate", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), migrateUsage)
		fs.PrintDefaults()
	}
	var etcd etcdFlags
	etcd.register(fs)
	// --to-etcd names the cluster as --etcd-endpoints does, and reads
	// the same environment variable, so a deployment configured for its
	// servers migrates with no more settings.
	to := fs.String("to-etcd", etcd.endpoints, "etcd client addresses to copy into, comma-separated host:port or URLs: --etcd-endpoints under the name that says which way the copy goes (env "+envName("etcd-endpoints")+")")
	dataDir := fs.String("from-data-dir", envOr("data-dir", "./data"), "the data directory whose store is copied (env "+envName("data-dir")+", the server's)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("migrate takes only flags, not %q", fs.Arg(0))}
	}
	if err := checkEnv(fs); err != nil {
		return usageError{err}
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	if given["to-etcd"] {
		if given["etcd-endpoints"] && etcd.endpoints != *to {
			return usageError{errors.New("--to-etcd and --etcd-endpoints name the same thing; give one")}
		}
		etcd.endpoints = *to
	}
	if etcd.endpoints == "" {
		return usageError{errors.New("--to-etcd must name the etcd cluster to copy into, such as --to-etcd 127.0.0.1:2379")}
	}
	opts, err := etcd.options()
	if err != nil {
		return usageError{err}
	}
	if st, err := os.Stat(*dataDir); err != nil || !st.IsDir() {
		return fmt.Errorf("--from-data-dir %s: not a directory; name the data directory of the server whose store is copied", *dataDir)
	}
	lock, err := lockOffline(*dataDir, "migrate", "copying its store")
	if err != nil {
		return err
	}
	defer lock.Release()
	path := filepath.Join(*dataDir, storeFileName)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no store to copy in %s: %w", *dataDir, err)
	}

	// A long copy says it is moving, at most every few seconds.
	last := time.Now()
	progress := func(r store.CopyReport) {
		if time.Since(last) < 5*time.Second {
			return
		}
		last = time.Now()
		written := 0
		for _, b := range r.Buckets {
			written += b.Written + b.Removed
		}
		fmt.Fprintf(c.stderr, "amplifybackendd migrate: %d keys written in %d transactions so far\n", written, r.Txns)
	}
	r, err := store.CopyToEtcd(ctx, path, opts, store.CopyOptions{Progress: progress})
	if err != nil {
		return err
	}
	c.print(r, path, opts.Prefix)
	return nil
}

// print says what the copy did, bucket by bucket.
func (c migrateCommand) print(r store.CopyReport, path, prefix string) {
	elapsed := r.Elapsed.Round(time.Millisecond)
	keys := 0
	for _, b := range r.Buckets {
		keys += b.Keys
	}
	if r.Txns == 0 {
		fmt.Fprintf(c.stdout, "amplifybackendd migrate: nothing new to copy: etcd under %s already holds store %s as %s holds it (%d keys compared in %s)\n",
			prefix, r.StoreID, path, keys, elapsed)
		return
	}
	how := ""
	if r.Resumed {
		how = ", completing an interrupted copy"
	}
	if r.Schema != store.SchemaVersion {
		how += fmt.Sprintf(", migrated from schema %d to %d", r.Schema, store.SchemaVersion)
	}
	fmt.Fprintf(c.stdout, "amplifybackendd migrate: copied store %s from %s into etcd under %s in %s (%d transactions%s)\n",
		r.StoreID, path, prefix, elapsed, r.Txns, how)
	fmt.Fprintf(c.stdout, "  %-22s %8s %8s %8s\n", "bucket", "keys", "written", "removed")
	for _, b := range r.Buckets {
		fmt.Fprintf(c.stdout, "  %-22s %8d %8d %8d\n", b.Name, b.Keys, b.Written, b.Removed)
	}
	fmt.Fprintf(c.stdout, "Servers started with --store etcd --etcd-prefix %s serve it now; %s is unchanged.\n", prefix, path)
	fmt.Fprintln(c.stdout, keyFilesAdvice(filepath.Dir(path)))
}

// keyFilesAdvice says which of dir's key files the servers' --keys-dir
// needs, naming only those that are there: advice to copy a file that does
// not exist sends the operator looking for one that was never made.
func keyFilesAdvice(dir string) string {
	creds, policies := filepath.Join(dir, keyring.CredentialsFile), filepath.Join(dir, keyring.PoliciesFile)
	switch {
	case exists(creds) && exists(policies):
		// The keys' policies are in a file beside the credentials: replicas
		// given the credentials alone would take every key for an
		// administrator.
		return fmt.Sprintf("API keys are not in the store: copy %s and %s into the directory the servers share as --keys-dir.", creds, policies)
	case exists(creds):
		return fmt.Sprintf("API keys are not in the store: copy %s into the directory the servers share as --keys-dir. There is no %s beside it: every key in it is an administrator (amplifybackendd keys set-policy limits one).",
			creds, keyring.PoliciesFile)
	}
	return fmt.Sprintf("API keys are not in the store, and %s has no %s (a server started with --keys-dir keeps its key files there): give the directory the servers share as --keys-dir that one's %s and, if it has one, %s.",
		dir, keyring.CredentialsFile, keyring.CredentialsFile, keyring.PoliciesFile)
}

// exists reports whether path names a file that can be looked at.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
