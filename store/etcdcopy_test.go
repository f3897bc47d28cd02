package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
)

// copyPrefixes names a new prefix for each copy test.
var copyPrefixes atomic.Int64

func newCopyPrefix() string { return fmt.Sprintf("/copytest%d", copyPrefixes.Add(1)) }

// copyApps and copyEnvs are where fillForCopy writes, and what
// storeListing reads back.
var (
	copyApps = []string{"app1", "app2"}
	copyEnvs = []string{"dev", "prod"}
)

// fillForCopy writes, through today's Tx methods, what a store holds:
// apps, environments and their roles, resources, jobs of every status
// (some pending) in two environments, a used sign-in challenge and its
// session. jobs more jobs go to app1/dev, each with an error of errSize
// bytes.
func fillForCopy(t *testing.T, s *Store, jobs, errSize int) {
	t.Helper()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutApp(App{AppID: "app1", Name: "photos app", CreateTime: t0}); err != nil {
			return err
		}
		for i, app := range copyApps {
			for j, env := range copyEnvs {
				if err := tx.PutEnvironment(Environment{AppID: app, Env: env, CreateTime: t0.Add(time.Duration(i*2+j) * time.Minute)}); err != nil {
					return err
				}
				if err := tx.RecordEnvRoles(EnvRoles{AppID: app, Env: env, Auth: app + "-" + env + "-auth", Unauth: app + "-" + env + "-unauth"}); err != nil {
					return err
				}
				r := newResource(app, env, "photos", fmt.Sprintf("%s-%s-photos", app, env))
				r.Desired = Permissions{Authenticated: []string{"READ", "DELETE"}, Unauthenticated: []string{"READ"}}
				if err := tx.CreateResource(r); err != nil {
					return err
				}
				for n, st := range []Status{StatusCompleted, StatusFailed, StatusRunning, StatusCompleted} {
					j := newJob(fmt.Sprintf("job-%s-%s-%d", app, env, n), app, env, "photos", st)
					if st == StatusFailed {
						j.Error = "The specified bucket does not exist."
					}
					if err := tx.InsertJob(j); err != nil {
						return err
					}
				}
			}
		}
		for n := range jobs {
			j := newJob(fmt.Sprintf("bulk-%05d", n), "app1", "dev", fmt.Sprintf("r%d", n%7), []Status{StatusRunning, StatusCompleted}[n%2])
			j.Error = strings.Repeat("e", errSize)
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		if err := tx.PutChallenge(Challenge{SessionID: "session-1", AppID: "app1", Code: "code", Creator: "AKIACREATOR", CreateTime: t0, Expires: t0.Add(time.Hour), Used: true}); err != nil {
			return err
		}
		return tx.InsertSession(SignInSession{AccessKeyID: "ASIASESSION", Secret: "secret", AppID: "app1", SessionID: "session-1", Creator: "AKIACREATOR", CreateTime: t0, Expires: t0.Add(8 * time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storeListing reads back, through the store's API, everything
// fillForCopy wrote: each environment's jobs page by page (two a page)
// with the token of each page, and the token key that seals them.
func storeListing(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "token key %x\n", s.TokenKey())
	err := s.View(context.Background(), func(tx *Tx) error {
		for _, app := range copyApps {
			a, ok, err := tx.App(app)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "app %s: %v %+v\n", app, ok, a)
			envs, err := tx.Environments(app)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "envs %+v\n", envs)
			for _, env := range copyEnvs {
				roles, ok, err := tx.EnvRoles(app, env)
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "roles %v %+v\n", ok, roles)
				rs, err := tx.Resources(app, env)
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "resources %+v\n", rs)
				var after []byte
				for {
					jobs, next, err := tx.Jobs(app, env, after, 2, nil)
					if err != nil {
						return err
					}
					for _, j := range jobs {
						fmt.Fprintf(&b, "job %s %s %s %d\n", j.ID, j.Status, j.CreateTime.Format(time.RFC3339Nano), len(j.Error))
					}
					fmt.Fprintf(&b, "token %x\n", next)
					if next == nil {
						break
					}
					after = next
				}
			}
		}
		c, err := tx.Challenge("session-1")
		if err != nil {
			return err
		}
		sess, err := tx.SignInSession("ASIASESSION")
		if err != nil {
			return err
		}
		pending := tx.PendingJobs()
		slices.Sort(pending)
		fmt.Fprintf(&b, "challenge %+v\nsession %+v\npending %v\n", c, sess, pending)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// copyFixture is a bbolt store filled for a copy and closed, and an etcd
// cluster to copy it into.
type copyFixture struct {
	t       *testing.T
	path    string
	cluster *etcdtest.Cluster
	want    string // storeListing of the file
}

func setupCopy(t *testing.T, cluster *etcdtest.Cluster, jobs, errSize int) *copyFixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "amplifybackendd.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fillForCopy(t, s, jobs, errSize)
	want := storeListing(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return &copyFixture{t: t, path: path, cluster: cluster, want: want}
}

func (f *copyFixture) copyTo(prefix string, o CopyOptions) (CopyReport, error) {
	return CopyToEtcd(context.Background(), f.path, EtcdOptions{Endpoints: f.cluster.Endpoints(), Prefix: prefix}, o)
}

// mustCopy copies the file into prefix, and reports what the copy says.
func (f *copyFixture) mustCopy(prefix string) CopyReport {
	f.t.Helper()
	r, err := f.copyTo(prefix, CopyOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// checkServes opens the store under prefix with the full record check
// and compares what it serves with the file's listing; then a new job
// lists first, as it would in the file.
func (f *copyFixture) checkServes(prefix string) {
	f.t.Helper()
	s, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: f.cluster.Endpoints(), Prefix: prefix}, Options{Check: CheckFull})
	if err != nil {
		f.t.Fatal(err)
	}
	defer s.Close()
	if got := storeListing(f.t, s); got != f.want {
		f.t.Fatalf("the copy serves\n%s\nthe file served\n%s", got, f.want)
	}
	var jobs []Job
	err = s.Update(context.Background(), func(tx *Tx) (err error) {
		if err := tx.InsertJob(newJob("after-the-copy", "app1", "dev", "new", StatusRunning)); err != nil {
			return err
		}
		jobs, _, err = tx.Jobs("app1", "dev", nil, 1, nil)
		return err
	})
	if err != nil || len(jobs) != 1 || jobs[0].ID != "after-the-copy" {
		f.t.Fatalf("a job inserted after the copy lists as %+v (%v), want it first", jobs, err)
	}
}

func (r CopyReport) counts() (keys, written, removed int) {
	for _, b := range r.Buckets {
		keys, written, removed = keys+b.Keys, written+b.Written, removed+b.Removed
	}
	return
}

// TestCopyToEtcd: a store made by today's code, copied, is served from
// etcd as from the file: records, listing order and page tokens (the
// token key is copied), environments, roles, sign-in records; a second
// copy writes nothing and says so.
func TestCopyToEtcd(t *testing.T) {
	t.Parallel()
	f := setupCopy(t, etcdtest.Start(t, 1), 0, 0)
	prefix := newCopyPrefix()
	first := f.mustCopy(prefix)
	keys, written, removed := first.counts()
	if keys == 0 || written != keys || removed != 0 || first.Txns < 3 || first.Resumed || first.StoreID == "" || first.Schema != SchemaVersion {
		t.Fatalf("first copy: %+v", first)
	}
	f.checkServes(prefix)

	// checkServes wrote a job: a new file is copied into another prefix to
	// see a second run find everything there.
	prefix = newCopyPrefix()
	f.mustCopy(prefix)
	again := f.mustCopy(prefix)
	if k, w, r := again.counts(); k != keys || w != 0 || r != 0 || again.Txns != 0 || again.Resumed {
		t.Fatalf("second copy: %+v, want nothing written and %d keys compared", again, keys)
	}
}

// TestCopyToEtcdResumes: a copy stopped after two transactions leaves a
// prefix OpenEtcd refuses; run again, it writes only the rest, and the
// store is served whole. Every transaction of the copies, read back from
// etcd's history, stays under 128 operations and 1 MiB, though the store
// holds several MiB.
func TestCopyToEtcdResumes(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1)
	f := setupCopy(t, cluster, 300, 16<<10)
	prefix := newCopyPrefix()
	cli := cluster.Client(t)
	startRev := currentRev(t, cli)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := func(r CopyReport) {
		if r.Txns == 3 { // the mark, then two of records
			cancel()
		}
	}
	partial, err := CopyToEtcd(ctx, f.path, EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: prefix}, CopyOptions{Progress: stop})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "run it again") {
		t.Fatalf("an interrupted copy: %v", err)
	}
	_, err = OpenEtcd(context.Background(), EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: prefix}, Options{})
	if !errors.Is(err, ErrCopyIncomplete) || !strings.Contains(err.Error(), "run it again") {
		t.Fatalf("OpenEtcd on a partial copy: %v, want ErrCopyIncomplete", err)
	}

	rest := f.mustCopy(prefix)
	keys, written, _ := rest.counts()
	_, before, _ := partial.counts()
	if !rest.Resumed || before == 0 || written != keys-before {
		t.Fatalf("the resumed copy wrote %d of %d keys after %d: %+v", written, keys, before, rest)
	}
	f.checkServes(prefix)

	// Every revision from the first write to the last is one Txn.
	end := currentRev(t, cli)
	txns := map[int64]*struct{ ops, bytes int }{}
	w := cli.Watch(context.Background(), prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(startRev+1))
	for resp := range w {
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		last := int64(0)
		for _, ev := range resp.Events {
			rev := ev.Kv.ModRevision
			if txns[rev] == nil {
				txns[rev] = &struct{ ops, bytes int }{}
			}
			txns[rev].ops++
			txns[rev].bytes += len(ev.Kv.Key) + len(ev.Kv.Value)
			last = rev
		}
		if last >= end {
			break
		}
	}
	big := 0
	for rev, tx := range txns {
		if tx.ops >= 128 || tx.bytes >= 1<<20 {
			t.Errorf("revision %d: %d operations, %d bytes", rev, tx.ops, tx.bytes)
		}
		if tx.bytes > 512<<10 {
			big++
		}
	}
	t.Logf("%d + %d transactions, %d of them over 512 KiB; %d keys", partial.Txns, rest.Txns, big, keys)
	if len(txns) < partial.Txns+rest.Txns || big == 0 {
		t.Fatalf("%d transactions seen (%d of them over 512 KiB) for %d + %d reported", len(txns), big, partial.Txns, rest.Txns)
	}
}

func currentRev(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), "/", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// TestCopyToEtcdRefuses: what the copy must not write over is refused,
// naming what is there, and nothing is written.
func TestCopyToEtcdRefuses(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1)
	f := setupCopy(t, cluster, 0, 0)
	cli := cluster.Client(t)
	ctx := context.Background()

	t.Run("another store", func(t *testing.T) {
		prefix := newCopyPrefix()
		other, err := OpenEtcd(ctx, EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: prefix}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		other.Close()
		f.refused(cli, prefix, "holds store ")
	})
	t.Run("not a store", func(t *testing.T) {
		prefix := newCopyPrefix()
		if _, err := cli.Put(ctx, prefix+"/config/x", "y"); err != nil {
			t.Fatal(err)
		}
		f.refused(cli, prefix, "not an amplifybackendd store")
	})
	t.Run("an unfinished copy of another store", func(t *testing.T) {
		prefix := newCopyPrefix()
		g := setupCopy(t, cluster, 200, 0) // more than one transaction's worth
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		_, err := CopyToEtcd(ctx, g.path, EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: prefix}, CopyOptions{Progress: func(CopyReport) { cancel() }})
		if !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		f.refused(cli, prefix, "unfinished copy of store")
	})
	t.Run("a copy a server has written to since", func(t *testing.T) {
		prefix := newCopyPrefix()
		f.mustCopy(prefix)
		f.checkServes(prefix) // inserts a job
		f.refused(cli, prefix, "differ from")
	})
	t.Run("a file a server has open", func(t *testing.T) {
		s, err := Open(f.path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = f.copyTo(newCopyPrefix(), CopyOptions{})
		if err == nil || !strings.Contains(err.Error(), "in use by a running server") {
			t.Fatalf("a copy of an open file: %v", err)
		}
	})
}

// refused copies into prefix, which must be refused saying want, leaving
// the prefix as it was.
func (f *copyFixture) refused(cli *clientv3.Client, prefix, want string) {
	f.t.Helper()
	before, err := cli.Get(context.Background(), prefix+"/", clientv3.WithPrefix())
	if err != nil {
		f.t.Fatal(err)
	}
	_, err = f.copyTo(prefix, CopyOptions{})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), want) {
		f.t.Fatalf("copy into %s: %v, want ErrConflict saying %q", prefix, err, want)
	}
	after, err := cli.Get(context.Background(), prefix+"/", clientv3.WithPrefix())
	if err != nil {
		f.t.Fatal(err)
	}
	if after.Header.Revision != before.Header.Revision {
		f.t.Fatalf("a refused copy wrote to etcd (revision %d -> %d)", before.Header.Revision, after.Header.Revision)
	}
}

// TestCopyToEtcdOlderSchema: a file at schema 4 (before sign-in records
// and environment records) is migrated as Open would, in a copy: the
// store in etcd has its environments recorded, and the file is left at
// schema 4 with no temporary file beside it, not even one a killed run
// left (each would hold a migrated store, kept forever). The migration gives the
// same result every run, so a second copy writes nothing. A file from
// before store ids is refused with the way out.
func TestCopyToEtcdOlderSchema(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "amplifybackendd.db")
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	writeOldStore(t, path, 4, func(tx *bolt.Tx) {
		putOldResources(tx, []Resource{
			{ResourceKey: ResourceKey{AppID: "app", Env: "dev", Name: "photos"}, Bucket: "b1", CreateTime: t0},
			{ResourceKey: ResourceKey{AppID: "app", Env: "prod", Name: "docs"}, Bucket: "b2", CreateTime: t0.Add(time.Hour)},
		})
	})
	// The copy a run killed while it migrated left behind.
	if err := os.WriteFile(path+".migrate-1234", []byte("half a store"), 0o600); err != nil {
		t.Fatal(err)
	}
	prefix := newCopyPrefix()
	opts := EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: prefix}
	r, err := CopyToEtcd(context.Background(), path, opts, CopyOptions{})
	if err != nil || r.Schema != 4 {
		t.Fatalf("copy of a schema-4 file: %+v %v", r, err)
	}
	again, err := CopyToEtcd(context.Background(), path, opts, CopyOptions{})
	if err != nil || again.Txns != 0 {
		t.Fatalf("second copy of a schema-4 file: %+v %v", again, err)
	}
	s, err := OpenEtcd(context.Background(), opts, Options{Check: CheckFull})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(context.Background(), func(tx *Tx) error {
		envs, err := tx.Environments("app")
		if err != nil || len(envs) != 2 || envs[0].Env != "dev" || !envs[1].CreateTime.Equal(t0.Add(time.Hour)) {
			t.Fatalf("environments in etcd: %+v %v", envs, err)
		}
		return nil
	})
	if sum, err := Verify(path); err != nil || sum.Schema != 4 {
		t.Fatalf("the file after the copy: %+v %v", sum, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".migrate-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}

	old := filepath.Join(t.TempDir(), "v2.db")
	writeOldStore(t, old, 2, func(*bolt.Tx) {})
	if _, err := CopyToEtcd(context.Background(), old, EtcdOptions{Endpoints: cluster.Endpoints(), Prefix: newCopyPrefix()}, CopyOptions{}); err == nil || !strings.Contains(err.Error(), "predates store ids") {
		t.Fatalf("copy of a schema-2 file: %v", err)
	}
}

// TestEtcdUnreachable: a cluster that does not answer is told within the
// dial timeout, naming it, though the caller's context has no deadline.
func TestEtcdUnreachable(t *testing.T) {
	t.Parallel()
	opts := EtcdOptions{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: 100 * time.Millisecond}
	path := filepath.Join(t.TempDir(), "amplifybackendd.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = CopyToEtcd(context.Background(), path, opts, CopyOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within the dial timeout, 100ms") {
		t.Errorf("copy to an unreachable cluster: %v", err)
	}
	_, err = OpenEtcd(context.Background(), opts, Options{})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("OpenEtcd on an unreachable cluster: %v", err)
	}
}

// TestCopyToEtcdFollowsTheFile: a server started on the file again after
// an interrupted copy changes it; the next copy makes etcd hold the file
// as it is now, removing what the file no longer holds.
func TestCopyToEtcdFollowsTheFile(t *testing.T) {
	t.Parallel()
	f := setupCopy(t, etcdtest.Start(t, 1), 200, 0)
	prefix := newCopyPrefix()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := CopyToEtcd(ctx, f.path, EtcdOptions{Endpoints: f.cluster.Endpoints(), Prefix: prefix}, CopyOptions{Progress: func(CopyReport) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}

	s, err := Open(f.path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.DeleteResource(ResourceKey{AppID: "app1", Env: "dev", Name: "photos"}); err != nil {
			return err
		}
		return tx.InsertJob(newJob("while-the-copy-waited", "app2", "prod", "photos", StatusRunning))
	})
	if err != nil {
		t.Fatal(err)
	}
	f.want = storeListing(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	r := f.mustCopy(prefix)
	if _, _, removed := r.counts(); !r.Resumed || removed == 0 {
		t.Fatalf("the copy after the file changed: %+v, want keys removed", r)
	}
	f.checkServes(prefix)
}
