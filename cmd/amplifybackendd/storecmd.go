package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/datadir"
	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// storeFileName is the control plane's store in the data directory.
const storeFileName = "amplifybackendd.db"

// commands run instead of the server when named first on the command line.
var commands = map[string]func(ctx context.Context, args []string) error{
	"backup":  runBackup,
	"restore": runRestore,
	"ready":   runReady,
	"keys":    runKeys,
	"gateway": runGateway,
	"migrate": runMigrate,
}

// storeRefusal adds the ways out to a refusal to open the store: the
// operator reads it once, at the moment the server will not start.
func storeRefusal(err error, dataDir string) error {
	var accept string
	switch {
	case errors.Is(err, store.ErrDamaged):
		accept = "the damaged file is renamed aside (kept, not deleted) and a new, empty store starts"
	case errors.Is(err, store.ErrDataLost):
		accept = "the store file is used as it is now (a missing or empty one starts a new, empty store)"
	default:
		return err
	}
	return fmt.Errorf(`%w

The server does not start on this store: it would answer as if accepted work had never happened.
Ways out:
  - restore a backup, with the server stopped:
      amplifybackendd restore --data-dir %s BACKUP_FILE
  - or accept the loss: start once with --accept-store-loss; %s.
    Buckets and policies already provisioned stay on the target; ImportBackendStorage takes a bucket back`,
		err, dataDir, accept)
}

// runBackup asks a running server for a consistent copy of its store
// (GET /admin-api/backup, signed with a key of the credentials file),
// checks the copy through and keeps it at the path given. The store file
// itself is locked by the server, so the copy comes from it.
func runBackup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("amplifybackendd backup", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: amplifybackendd backup [flags] FILE\n\nWrites a consistent copy of a running server's store to FILE, checked before it is kept.")
		fs.PrintDefaults()
	}
	endpoint := fs.String("endpoint", envOr("endpoint", localEndpoint()), "the server's API address (env "+envName("endpoint")+")")
	dataDir := fs.String("data-dir", envOr("data-dir", "./data"), "the server's data directory, where the credentials file is (env "+envName("data-dir")+")")
	credentials := fs.String("credentials", envOr("credentials", ""), "credentials file with the key to sign with (default DATA-DIR/credentials) (env "+envName("credentials")+")")
	profile := fs.String("profile", envOr("profile", profileAPI), "profile of the credentials file to sign with (env "+envName("profile")+")")
	bundle := caBundleFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Errorf("name one file to write the backup to (%s -h lists the flags)", fs.Name())}
	}
	if err := checkServerURL(*endpoint); err != nil {
		return err
	}
	out := fs.Arg(0)
	credsPath := *credentials
	if credsPath == "" {
		credsPath = filepath.Join(*dataDir, "credentials")
	}
	creds, err := credfile.Profile(credsPath, *profile)
	if errors.Is(err, os.ErrNotExist) && *credentials == "" {
		// A server given --keys-dir keeps its keys there, not in its
		// data directory.
		return fmt.Errorf("%w (for a server started with --keys-dir, give --credentials KEYS-DIR/credentials)", err)
	}
	if err != nil {
		return err
	}
	// The file is made before the server is asked, so a folder that is
	// not there fails at once, naming it, rather than after the copy,
	// naming a temporary file.
	tmp, err := backupTemp(out)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: cannot write the backup in %s: %w", out, filepath.Dir(out), err)
	}
	defer os.Remove(tmp.Name()) // gone once renamed
	// Closed only once the copy is renamed in place: closing drops the
	// hold that keeps another backup from taking it for left behind.
	defer tmp.Close()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(*endpoint, "/")+"/admin-api/backup", nil)
	if err != nil {
		return err
	}
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), caller.SigningName, "us-east-1", time.Now()); err != nil {
		return err
	}
	resp, err := doLocal(req, *bundle)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	_, err = io.Copy(tmp, resp.Body)
	if err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync()); err != nil {
		return fmt.Errorf("receive the backup: %w", err)
	}
	sum, err := store.Verify(tmp.Name())
	if err != nil {
		return fmt.Errorf("the copy received does not check out, nothing kept: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fmt.Printf("amplifybackendd backup: %s: %s\n", out, describe(sum))
	return nil
}

// backupTemp removes what backups to out left behind (SIGINT and SIGTERM
// remove their file on the way out, but a SIGKILL, a SIGHUP from a closed
// terminal or a crash leaves <out>.tmp-N, as large as the store), then
// makes the file this backup is received into and holds it (holdBackupTemp).
func backupTemp(out string) (*os.File, error) {
	dir, prefix := filepath.Dir(out), filepath.Base(out)+".tmp-"
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			// Only names os.CreateTemp gave a backup to out: the prefix,
			// then its decimal random part.
			n, ok := strings.CutPrefix(e.Name(), prefix)
			if !ok || n == "" || strings.Trim(n, "0123456789") != "" || !e.Type().IsRegular() {
				continue
			}
			if left := filepath.Join(dir, e.Name()); abandoned(left) && os.Remove(left) == nil {
				fmt.Fprintf(os.Stderr, "amplifybackendd backup: removed %s, left by a backup that was stopped before it finished\n", left)
			}
		}
	}
	for {
		tmp, err := os.CreateTemp(dir, prefix+"*")
		if err != nil {
			return nil, err
		}
		if err := holdBackupTemp(tmp); err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return nil, err
		}
		// Another backup that looked between the file's making and the
		// hold took it for left behind and removed it: make another.
		mine, err := tmp.Stat()
		if err != nil {
			tmp.Close()
			return nil, err
		}
		at, err := os.Stat(tmp.Name())
		if err == nil && os.SameFile(mine, at) {
			return tmp, nil
		}
		tmp.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
}

// runRestore puts a backup in place as the store of a data directory that
// no server is using; its RUNNING jobs resume when the server starts.
func runRestore(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("amplifybackendd restore", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: amplifybackendd restore [flags] BACKUP_FILE\n\nMakes a backup the store of a data directory no server is using. A store already there is renamed aside, not deleted.")
		fs.PrintDefaults()
	}
	dataDir := fs.String("data-dir", envOr("data-dir", "./data"), "the data directory to restore into (env "+envName("data-dir")+")")
	kind := fs.String("store", envOr("store", storeBbolt), "the server's --store: a backup restores a bbolt store only (env "+envName("store")+")")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *kind != storeBbolt {
		// The server of this machine keeps its store elsewhere: putting a
		// file in place would change nothing it serves.
		return fmt.Errorf("restore puts a backup file in place as a data directory's bbolt store; with --store %s the store is not a file: restore an etcd snapshot instead (etcdutl snapshot restore, from etcdctl snapshot save)", *kind)
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Errorf("name the backup file to restore (%s -h lists the flags)", fs.Name())}
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	lock, err := lockOffline(*dataDir, "restore", "restoring")
	if err != nil {
		return err
	}
	defer lock.Release()
	path := filepath.Join(*dataDir, storeFileName)
	sum, err := store.Restore(fs.Arg(0), path)
	if err != nil {
		return err
	}
	resume := fmt.Sprintf("%d pending jobs resume", sum.Pending)
	if sum.Schema < store.SchemaVersion {
		resume = "its pending jobs resume"
	}
	fmt.Printf("amplifybackendd restore: %s is now %s; %s when the server starts\n", path, describe(sum), resume)
	return nil
}

// lockOffline takes the data directory's lock for a command that must
// not run beside a server (amplifybackendd COMMAND), saying whom to stop
// before doing what when one holds it.
func lockOffline(dir, command, doing string) (*datadir.Lock, error) {
	lock, err := datadir.Acquire(dir, "amplifybackendd "+command)
	var inUse *datadir.InUseError
	if errors.As(err, &inUse) {
		return nil, fmt.Errorf("%w; stop it before %s", err, doing)
	}
	return lock, err
}

// describe names the store a summary is of. A file of an older schema
// is not counted (Verify counts only records of the current one): it
// says so rather than print counts of nothing.
func describe(s store.Summary) string {
	if s.Schema < store.SchemaVersion {
		return fmt.Sprintf("store %s at transaction %d, %d bytes, of schema %d, which the server migrates to %d when it starts",
			s.StoreID, s.TxID, s.Size, s.Schema, store.SchemaVersion)
	}
	return fmt.Sprintf("store %s at transaction %d, %d bytes, %d resources, %d jobs (%d pending)",
		s.StoreID, s.TxID, s.Size, s.Resources, s.Jobs, s.Pending)
}

// openStore opens the server's store: the bbolt file in dataDir, or the
// store kept in etcd. A refusal says what the operator can do about it.
func openStore(ctx context.Context, cfg config, dataDir string, o store.Options) (*store.Store, error) {
	if cfg.storeKind != storeEtcd {
		st, err := store.OpenWith(filepath.Join(dataDir, storeFileName), o)
		if err != nil {
			return nil, storeRefusal(err, dataDir)
		}
		return st, nil
	}
	e := cfg.etcdOptions
	// OpenEtcd bounds its first request by the dial timeout, so an
	// unreachable cluster stops the start with an error instead of
	// hanging it, and each page of the store's first read by the request
	// timeout, so a large store loads whole.
	st, err := store.OpenEtcd(ctx, e, o)
	eps := strings.Join(e.Endpoints, ",")
	switch {
	case err == nil:
		return st, nil
	case errors.Is(err, store.ErrDamaged) || errors.Is(err, store.ErrDataLost):
		// etcd answered, with records that fail their checks: the ways
		// out of a damaged file (restore, --accept-store-loss) are not
		// this store's.
		return nil, fmt.Errorf(`%w

The server does not start on this store: it would answer as if accepted work had never happened.
Restore an etcd snapshot taken before the damage (etcdutl snapshot restore), or give the replicas
a new --etcd-prefix to start an empty store there`, err)
	case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrCopyIncomplete):
		// etcd answered, and the prefix is not this server's to take: the
		// refusal says why and what to do, and the cluster is fine.
		return nil, err
	}
	return nil, fmt.Errorf(`%w

The server does not start without its store. Check that the etcd cluster runs and answers at
--etcd-endpoints %s (etcdctl --endpoints %s endpoint health), and the TLS and user flags
(--etcd-ca-file, --etcd-cert-file, --etcd-username) if the cluster asks for them`, err, eps, eps)
}
