package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/store"
)

func TestCheckStoreFlag(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"auto", "full", "background", "quick"} {
		c, err := parseConfig([]string{"--check-store", mode})
		if err != nil || string(c.checkStore) != mode {
			t.Fatalf("--check-store %s: %v %v", mode, c.checkStore, err)
		}
	}
	_, err := parseConfig([]string{"--check-store", "thorough"})
	if err == nil || !strings.Contains(err.Error(), "--check-store") || !strings.Contains(err.Error(), "auto, full, background or quick") {
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
	// A folder that is not there is named before the server is asked
	// (nothing answers at this endpoint).
	creds := "[default]\naws_access_key_id = AKIAEXAMPLE000000001\naws_secret_access_key = secret\n"
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-such-folder")
	err := runBackup(ctx, []string{"--data-dir", dir, "--endpoint", "http://127.0.0.1:1", filepath.Join(missing, "b.db")})
	if err == nil || !strings.Contains(err.Error(), "cannot write the backup in "+missing+": no such file or directory") || strings.Contains(err.Error(), ".tmp-") {
		t.Fatalf("backup into a missing folder: %v", err)
	}
}

// TestEtcdStoreRefusals: a store in etcd whose records fail their checks
// is refused with etcd's ways out, not a file's, a prefix inside it as
// such; a cluster that does not answer is refused naming the endpoints
// and the time waited.
func TestEtcdStoreRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster := etcdtest.Start(t, 1)
	cfg := config{storeKind: storeEtcd, etcdOptions: store.EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: "/refusals",
		DialTimeout: time.Second, RequestTimeout: time.Second}}
	st, err := openStore(ctx, cfg, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := cluster.Client(t).Put(ctx, "/refusals/apps/broken", "not a record"); err != nil {
		t.Fatal(err)
	}
	_, err = openStore(ctx, cfg, t.TempDir(), store.Options{Check: store.CheckFull})
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "etcdutl snapshot restore") || strings.Contains(err.Error(), "--accept-store-loss") {
		t.Fatalf("a damaged record in etcd: %v", err)
	}

	// A store a newer release migrated (an older replica starting after
	// an upgrade) is refused saying so, not as a cluster that does not
	// answer.
	newer := cfg
	newer.etcdOptions.Prefix = "/newer"
	if st, err = openStore(ctx, newer, t.TempDir(), store.Options{}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	version := binary.BigEndian.AppendUint64(nil, store.SchemaVersion+1)
	if _, err := cluster.Client(t).Put(ctx, "/newer/meta/schema", string(version)); err != nil {
		t.Fatal(err)
	}
	_, err = openStore(ctx, newer, t.TempDir(), store.Options{})
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "newer than this binary understands") || strings.Contains(err.Error(), "endpoint health") {
		t.Fatalf("a store of a newer schema: %v", err)
	}

	// A prefix inside that store's is refused for what it is, not as a
	// cluster that does not answer.
	nested := cfg
	nested.etcdOptions.Prefix = "/refusals/apps"
	_, err = openStore(ctx, nested, t.TempDir(), store.Options{})
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "inside the store under /refusals") || strings.Contains(err.Error(), "endpoint health") {
		t.Fatalf("a prefix inside another store's: %v", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := l.Addr().String() // accepts connections, never answers
	t.Cleanup(func() { l.Close() })
	cfg.etcdOptions.Endpoints = []string{silent}
	_, err = openStore(ctx, cfg, t.TempDir(), store.Options{})
	if err == nil || !strings.Contains(err.Error(), "--etcd-endpoints "+silent) || !strings.Contains(err.Error(), "no answer within the dial timeout, 1s") {
		t.Fatalf("a cluster that does not answer: %v", err)
	}
}

// TestDescribeOlderSchema: restore's line for a backup of an older schema,
// whose records Verify does not count, says it is migrated at start
// instead of reporting zero resources and jobs.
func TestDescribeOlderSchema(t *testing.T) {
	t.Parallel()
	old := describe(store.Summary{StoreID: "ab", TxID: 9, Size: 4096, Schema: store.SchemaVersion - 1})
	if strings.Contains(old, "0 resources") || !strings.Contains(old, fmt.Sprintf("of schema %d, which the server migrates to %d", store.SchemaVersion-1, store.SchemaVersion)) {
		t.Errorf("older schema: %q", old)
	}
	cur := describe(store.Summary{StoreID: "ab", TxID: 9, Size: 4096, Schema: store.SchemaVersion, Resources: 3, Jobs: 5, Pending: 1})
	if !strings.Contains(cur, "3 resources, 5 jobs (1 pending)") {
		t.Errorf("current schema: %q", cur)
	}
}
