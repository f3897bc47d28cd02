package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// v7JobIndexKey is j's key in jobs-by-env/, the job index of schema 7 and
// before: app \x00 env \x00 ^seq, or app \x00 ^seq for a whole-app job.
func v7JobIndexKey(j Job) []byte {
	k := []byte(j.AppID + "\x00")
	if j.Env != "" {
		k = append(k, j.Env+"\x00"...)
	}
	return binary.BigEndian.AppendUint64(k, ^j.seq)
}

// writeOldKV writes a store of schema version into db as that version
// left it: its migrations, then fill's records written by hand, committed
// as the migrations of each engine commit (on etcd in parts, the schema
// version last).
func writeOldKV(t *testing.T, db kvDB, version int, fill func(tx kvTx) error) {
	t.Helper()
	run := func(tx kvTx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		for _, m := range migrations[:version] {
			if err := m.run(tx); err != nil {
				return err
			}
		}
		if err := meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, uint64(version))); err != nil {
			return err
		}
		return fill(tx)
	}
	var err error
	if db.etcd != nil {
		schema := (&etcdTx{kv: db.etcd}).bucket(bucketMeta).lo + string(keySchema)
		err = db.etcd.updateWith(run, func(t *etcdTx) (bool, error) { return t.commitInParts(schema) })
	} else {
		err = db.Update(run)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// v7Store is what a test writes into a store of schema 7: environments,
// resources and jobs, in the trees of that schema.
type v7Store struct {
	envs      []Environment
	resources []Resource
	jobs      []Job
}

// newV7Store returns environments with resources and jobs of every kind
// migration 8 meets: environments whose names extend one another's, one
// app's id extending another's, an imported bucket, a whole-app job, the
// jobs of a removed environment (no record), and more keys than one etcd
// Txn writes.
func newV7Store() v7Store {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var st v7Store
	for i, k := range []struct{ app, env string }{{"app", "bulk"}, {"app", "dev"}, {"app", "dev2"}, {"app", "prod"}, {"app2", "dev"}} {
		st.envs = append(st.envs, Environment{AppID: k.app, Env: k.env, CreateTime: t0.Add(time.Duration(i) * time.Minute)})
	}
	st.envs[3].ActiveJob, st.envs[3].Creating = "job-prod-0", true
	res := func(app, env, name, bucket string, imported bool) {
		r := newResource(app, env, name, bucket)
		r.CreateTime, r.UpdateTime, r.Imported, r.Phase = t0, t0.Add(time.Second), imported, PhaseActive
		r.Desired = Permissions{Authenticated: []string{"READ"}}
		st.resources = append(st.resources, r)
	}
	res("app", "dev", "photos", "b-photos", false)
	res("app", "dev", "docs", "b-docs", false)
	res("app", "dev", "shared", "shared", true)
	res("app", "dev2", "photos", "b-dev2", false)
	res("app", "prod", "shared", "shared", true)
	res("app2", "dev", "photos", "b-app2", false)
	for i := range manyRecords {
		res("app", "bulk", fmt.Sprintf("r%04d", i), fmt.Sprintf("b-bulk-%04d", i), false)
	}
	seq := uint64(0)
	job := func(id, app, env, name string, op Operation, st2 Status) {
		seq++
		j := newJob(id, app, env, name, st2)
		j.Operation, j.seq = op, seq
		j.CreateTime, j.UpdateTime = t0.Add(time.Duration(seq)*time.Second), t0.Add(time.Duration(seq)*time.Second)
		st.jobs = append(st.jobs, j)
	}
	for i := range 5 {
		job(fmt.Sprintf("job-dev-%d", i), "app", "dev", "photos", OpUpdate, StatusCompleted)
	}
	job("job-prod-0", "app", "prod", "", OpCloneBackend, StatusRunning)
	job("job-gone-0", "app", "gone", "photos", OpDelete, StatusCompleted)
	job("job-app-0", "app", "", "", OpRemoveAllBackends, StatusFailed)
	job("job-app2-0", "app2", "dev", "photos", OpCreate, StatusRunning)
	for i := range manyRecords {
		job(fmt.Sprintf("job-bulk-%04d", i), "app", "bulk", fmt.Sprintf("r%04d", i), OpCreate, StatusCompleted)
	}
	return st
}

// fill writes the records in schema 7's trees.
func (st v7Store) fill(tx kvTx) error {
	var errs []error
	put := func(b []byte, k, v []byte) { errs = append(errs, tx.Bucket(b).Put(k, v)) }
	for _, e := range st.envs {
		put(bucketEnvs, envKey(e.AppID, e.Env), encodeEnvironment(e))
	}
	for _, r := range st.resources {
		v, err := encodeResource(r)
		errs = append(errs, err)
		put(bucketResources, resourceKey(r.ResourceKey), v)
		put(bucketBuckets, bucketIndexKey(r), resourceKey(r.ResourceKey))
	}
	for _, j := range st.jobs {
		v, err := encodeJob(j)
		errs = append(errs, err)
		put(bucketJobs, []byte(j.ID), v)
		put(bucketJobsByEnv, v7JobIndexKey(j), []byte(j.ID))
		if j.Pending() {
			put(bucketPending, []byte(j.ID), nil)
		}
	}
	errs = append(errs, tx.Bucket(bucketJobs).SetSequence(uint64(len(st.jobs))))
	return errors.Join(errs...)
}

// check reads everything back through the Tx methods and holds it to
// what was written.
func (st v7Store) check(t *testing.T, s *Store) {
	t.Helper()
	same := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
		}
	}
	// Records compare as they decode: times in UTC, as stored.
	roundTrip := func(r Resource) Resource {
		v, _ := encodeResource(r)
		r, _ = decodeResource(v)
		return r
	}
	wantResources := map[string][]Resource{} // by "app/env", and by "app/" for the whole app
	for _, r := range st.resources {
		r = roundTrip(r)
		wantResources[r.AppID+"/"+r.Env] = append(wantResources[r.AppID+"/"+r.Env], r)
		wantResources[r.AppID+"/"] = append(wantResources[r.AppID+"/"], r)
	}
	for _, rs := range wantResources {
		slices.SortFunc(rs, func(a, b Resource) int { return bytes.Compare(resourceKey(a.ResourceKey), resourceKey(b.ResourceKey)) })
	}
	wantJobs := map[string][]string{} // newest first, by "app/env"
	for _, j := range slices.Backward(st.jobs) {
		wantJobs[j.AppID+"/"+j.Env] = append(wantJobs[j.AppID+"/"+j.Env], j.ID)
	}
	err := s.View(context.Background(), func(tx *Tx) error {
		for _, r := range st.resources {
			got, err := tx.Resource(r.ResourceKey)
			same("resource "+r.Name, got, roundTrip(r))
			if err != nil {
				return err
			}
		}
		for key, want := range wantResources {
			app, env, _ := strings.Cut(key, "/")
			got, err := tx.Resources(app, env)
			if err != nil {
				return err
			}
			same("resources of "+key, got, want)
		}
		for _, app := range []string{"app", "app2"} {
			var want []Environment
			for _, e := range st.envs {
				if e.AppID == app {
					want = append(want, e)
				}
				if got, ok, err := tx.Environment(e.AppID, e.Env); err != nil || !ok || got != e {
					t.Errorf("environment %s/%s: %+v %v %v", e.AppID, e.Env, got, ok, err)
				}
			}
			got, err := tx.Environments(app)
			if err != nil {
				return err
			}
			same("environments of "+app, got, want)
		}
		for key, want := range wantJobs {
			app, env, _ := strings.Cut(key, "/")
			var got []string
			// Pages of 7, from a token of the job index as it was (page
			// tokens handed out before the migration) after the first.
			var after []byte
			for first := true; first || after != nil; first = false {
				page, next, err := tx.Jobs(app, env, after, 7, nil)
				if err != nil {
					return err
				}
				for _, j := range page {
					got = append(got, j.ID)
				}
				if after = next; next != nil && first {
					after = v7JobIndexKey(page[len(page)-1])
				}
			}
			same("jobs of "+key, got, want)
		}
		scopes, err := tx.Scopes()
		if err != nil {
			return err
		}
		var want []Scope
		for _, e := range st.envs {
			newest := e.CreateTime
			if ids := wantJobs[e.AppID+"/"+e.Env]; len(ids) > 0 {
				j, _ := tx.Job(ids[0])
				newest = j.CreateTime
			}
			want = append(want, Scope{AppID: e.AppID, Env: e.Env, LastJob: newest})
		}
		same("scopes", scopes, want)
		for _, c := range []struct {
			app, env string
			want     error
		}{{"app", "gone", nil}, {"app", "dev2", nil}, {"app2", "", nil}, {"app", "never", ErrNotFound}, {"ap", "", ErrNotFound}} {
			if err := tx.CheckScope(c.app, c.env); !errors.Is(err, c.want) {
				t.Errorf("CheckScope(%q, %q) = %v, want %v", c.app, c.env, err, c.want)
			}
		}
		if j, err := tx.JobIn("app", "dev", "job-app-0"); err != nil || j.Operation != OpRemoveAllBackends {
			t.Errorf("the whole-app job under an environment: %+v %v", j, err)
		}
		if owner, ok := tx.BucketOwner("b-dev2"); !ok || owner != (ResourceKey{AppID: "app", Env: "dev2", Name: "photos"}) {
			t.Errorf("bucket b-dev2's owner: %+v %v", owner, ok)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.kv.View(func(tx kvTx) error {
		for _, b := range [][]byte{bucketResources, bucketEnvs, bucketJobsByEnv} {
			if tx.HasBucket(b) {
				t.Errorf("bucket %s/ is still there", b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrationGathersByEnvironment opens a store of schema 7 on each
// engine: migration 8 moves every environment record, resource and job
// index entry into by-env/ and drops the trees they were in; everything
// reads back as written, the full check passes, and page tokens of the
// old index go on where they were. On etcd its writes pass one Txn's
// limit, so it commits in parts. A run stopped part way (by-env/ holding
// some of the keys, a tree already dropped) is finished by the next.
func TestMigrationGathersByEnvironment(t *testing.T) {
	t.Parallel()
	st := newV7Store()
	// stopped is the state a run of migration 8 stopped between the
	// parts of its commit may leave: by-env/ holding its first keys,
	// envs/ dropped, a resource no longer in resources/.
	stopped := func(tx kvTx) error {
		if err := st.fill(tx); err != nil {
			return err
		}
		by, err := tx.CreateBucket(bucketByEnv)
		if err != nil {
			return err
		}
		var errs []error
		for _, e := range st.envs {
			errs = append(errs, by.Put(envRecordKey(e.AppID, e.Env), encodeEnvironment(e)))
		}
		r := st.resources[0]
		v, _ := encodeResource(r)
		errs = append(errs, by.Put(resourceTreeKey(r.ResourceKey), v), tx.Bucket(bucketResources).Delete(resourceKey(r.ResourceKey)))
		j := st.jobs[0]
		errs = append(errs, by.Put(jobIndexKey(j), []byte(j.ID)))
		return errors.Join(append(errs, tx.DeleteBucket(bucketEnvs))...)
	}
	for name, fill := range map[string]func(kvTx) error{"schema 7": st.fill, "stopped part way": stopped} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			forEachOldEngine(t, 7, fill, func(t *testing.T, open func(Options) (*Store, error)) {
				for range 2 { // the second open finds the schema current
					s, err := open(Options{Check: CheckFull})
					if err != nil {
						t.Fatal(err)
					}
					st.check(t, s)
					s.Close()
				}
			})
		})
	}
}

// forEachOldEngine writes a store of schema version on each engine
// (writeOldKV) and runs test on it, as parallel subtests named for the
// engine; open opens the store, which migrates it.
func forEachOldEngine(t *testing.T, version int, fill func(kvTx) error, test func(t *testing.T, open func(Options) (*Store, error))) {
	t.Run("bbolt", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "old.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		writeOldKV(t, kvDB{bolt: db}, version, fill)
		db.Close()
		test(t, func(o Options) (*Store, error) { return OpenWith(path, o) })
	})
	t.Run("etcd", func(t *testing.T) {
		t.Parallel()
		endpoints, prefix := sharedEtcd(t), newEtcdPrefix()
		writeOldKV(t, kvDB{etcd: followedKV(t, sharedClient(t), prefix)}, version, fill)
		test(t, func(o Options) (*Store, error) {
			return OpenEtcd(context.Background(), EtcdOptions{Endpoints: endpoints, Prefix: prefix}, o)
		})
	})
}

// TestDroppedMarkersCommitLast: the writes of a migration that drops a
// bucket commit in parts whose last ones delete the bucket's marker, after
// every key of the bucket: a stop between parts never leaves keys without
// their marker, which the next run would not find.
func TestDroppedMarkersCommitLast(t *testing.T) {
	t.Parallel()
	e := etcdKVFor(t, sharedClient(t))
	name := []byte("doomed")
	must(t, e.update(func(tx kvTx) error {
		b, err := tx.CreateBucket(name)
		if err != nil {
			return err
		}
		for i := range 100 {
			if err := b.Put(fmt.Appendf(nil, "k%03d", i), nil); err != nil {
				return err
			}
		}
		return nil
	}))
	schema := (&etcdTx{kv: e}).bucket(bucketMeta).lo + string(keySchema)
	tx := &etcdTx{kv: e, writes: map[string]etcdWrite{}}
	must(t, kvTx{etcd: tx}.DeleteBucket(name))
	for i := range 100 { // writes that sort after the marker and its keys
		must(t, tx.set(e.prefix+fmt.Sprintf("/zz/%03d", i), etcdWrite{val: []byte("v")}))
	}
	must(t, tx.set(schema, etcdWrite{val: []byte("8")}))
	parts := tx.parts(schema)
	var order []string
	for _, p := range parts {
		if len(p) > etcdMaxOps {
			t.Fatalf("a part of %d writes", len(p))
		}
		order = append(order, p...)
	}
	marker := tx.marker(name)
	if len(order) != 202 || order[len(order)-1] != schema || order[len(order)-2] != marker {
		t.Fatalf("%d writes in %d parts, ending %q", len(order), len(parts), order[len(order)-2:])
	}
}

// fillEnvTree writes, in environments whose names extend one another's
// and in an app whose id extends another's, resources with their
// environments and many jobs, and a whole-app job.
func (f *fixture) fillEnvTree(jobsPerEnv int) {
	f.t.Helper()
	envs := []struct{ app, env string }{{"app", "dev"}, {"app", "dev2"}, {"app", "prod"}, {"app2", "dev"}}
	for _, e := range envs {
		f.mustUpdate(func(tx *Tx) error {
			for _, name := range []string{"docs", "photos"} {
				if err := tx.CreateResource(newResource(e.app, e.env, name, e.app+"-"+e.env+"-"+name)); err != nil {
					return err
				}
			}
			return nil
		})
		f.inParts(jobsPerEnv, func(tx *Tx, i int) error {
			return tx.InsertJob(newJob(fmt.Sprintf("job-%s-%s-%03d", e.app, e.env, i), e.app, e.env, "photos", StatusCompleted))
		})
	}
	f.mustUpdate(func(tx *Tx) error { return tx.InsertJob(newJob("job-app", "app", "", "", StatusRunning)) })
}

// TestEnvTreeDamageIsFound: the full check holds every key of by-env/ to
// the records it goes with, on both engines: a job index entry without
// its job and a job without its entry, a resource without its
// environment's record or its bucket's entry and a bucket entry without
// its resource, a resource under another's key, and a key of no known
// shape are each damage, named.
func TestEnvTreeDamageIsFound(t *testing.T) { forEachEngine(t, testEnvTreeDamageIsFound) }

func testEnvTreeDamageIsFound(f *fixture) {
	t := f.t
	f.fillEnvTree(3)
	check := func() error { return f.s.kv.View(func(tx kvTx) error { return checkRecords(f.path, tx) }) }
	if err := check(); err != nil {
		t.Fatalf("an intact store: %v", err)
	}
	photos := ResourceKey{AppID: "app", Env: "dev2", Name: "photos"}
	cases := []struct {
		name, want string
		damage     func(tx kvTx) error
	}{
		{"a job index entry without its job", "the job index has 13 entries for 12 jobs", func(tx kvTx) error {
			return tx.Bucket(bucketJobs).Delete([]byte("job-app-dev-001"))
		}},
		{"a job without its index entry", "the job index has 12 entries for 13 jobs", func(tx kvTx) error {
			return tx.Bucket(bucketByEnv).Delete(jobIndexKey(Job{AppID: "app", Env: "dev2", seq: jobSeq(tx, "job-app-dev2-000")}))
		}},
		{"a resource without its environment's record", `resource "app\x00dev2\x00rdocs" has no environment record`, func(tx kvTx) error {
			return tx.Bucket(bucketByEnv).Delete(envRecordKey("app", "dev2"))
		}},
		{"a bucket's entry without its resource", "the bucket index has 8 entries for 7 resources", func(tx kvTx) error {
			return tx.Bucket(bucketByEnv).Delete(resourceTreeKey(photos))
		}},
		{"a resource without its bucket's entry", `resource "app\x00dev2\x00rphotos" does not match its key or its bucket's index entry`, func(tx kvTx) error {
			return tx.Bucket(bucketBuckets).Delete([]byte("app-dev2-photos"))
		}},
		{"a resource under another's key", `does not match its key`, func(tx kvTx) error {
			by := tx.Bucket(bucketByEnv)
			v := bytes.Clone(by.Get(resourceTreeKey(photos)))
			return errors.Join(by.Delete(resourceTreeKey(photos)), by.Put(resourceTreeKey(ResourceKey{AppID: "app", Env: "dev2", Name: "photo"}), v))
		}},
		{"a key of no known shape", `has an unknown tag`, func(tx kvTx) error {
			return tx.Bucket(bucketByEnv).Put(treeKey("app", "dev", 'x'), []byte("?"))
		}},
		{"a key with one NUL", `is malformed`, func(tx kvTx) error {
			return tx.Bucket(bucketByEnv).Put([]byte("app\x00dev"), []byte("?"))
		}},
	}
	for _, c := range cases {
		// Each damage is undone by writing the store back as it was:
		// the cases share one store and run one after the other.
		before := snapshotKV(t, f.s)
		if err := f.s.kv.Update(c.damage); err != nil {
			t.Fatal(err)
		}
		err := check()
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrDamaged naming %q", c.name, err, c.want)
		}
		restoreKV(t, f.s, before)
		if err := check(); err != nil {
			t.Fatalf("after undoing %s: %v", c.name, err)
		}
	}
}

// jobSeq returns the sequence number job id was inserted with.
func jobSeq(tx kvTx, id string) uint64 {
	j, _ := decodeJob(tx.Bucket(bucketJobs).Get([]byte(id)))
	return j.seq
}

// kvSnapshot is every key of the buckets a damage case writes to.
type kvSnapshot map[string]map[string][]byte

var snapshotBuckets = [][]byte{bucketByEnv, bucketBuckets, bucketJobs}

func snapshotKV(t *testing.T, s *Store) kvSnapshot {
	t.Helper()
	snap := kvSnapshot{}
	must(t, s.kv.View(func(tx kvTx) error {
		for _, b := range snapshotBuckets {
			keys := map[string][]byte{}
			err := tx.Bucket(b).ForEach(func(k, v []byte) error { keys[string(k)] = bytes.Clone(v); return nil })
			if err != nil {
				return err
			}
			snap[string(b)] = keys
		}
		return nil
	}))
	return snap
}

// restoreKV writes the buckets of s back to snap.
func restoreKV(t *testing.T, s *Store, snap kvSnapshot) {
	t.Helper()
	must(t, s.kv.Update(func(tx kvTx) error {
		for _, b := range snapshotBuckets {
			bucket := tx.Bucket(b)
			var extra [][]byte
			err := bucket.ForEach(func(k, _ []byte) error {
				if _, ok := snap[string(b)][string(k)]; !ok {
					extra = append(extra, bytes.Clone(k))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range extra {
				if err := bucket.Delete(k); err != nil {
					return err
				}
			}
			for k, v := range snap[string(b)] {
				if err := bucket.Put([]byte(k), v); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}

// TestEnvironmentWalksSkipJobs: the walks over environments (Environments,
// the Resources of a whole app, Scopes) and CheckScope read a few keys per
// environment, however many jobs each holds: on etcd a write transaction
// keeps every key it read (its commit compares them), which counts them.
// Their answers keep environments whose names extend one another's apart,
// and apps too.
func TestEnvironmentWalksSkipJobs(t *testing.T) {
	f := setupEtcd(t, sharedEtcd(t))
	const jobsPerEnv = 50
	f.fillEnvTree(jobsPerEnv)
	const envs = 4 // and the app's own part, its whole-app jobs
	for _, c := range []struct {
		name string
		walk func(tx *Tx) (string, error)
		want string
	}{
		{"Environments", func(tx *Tx) (string, error) {
			es, err := tx.Environments("app")
			return joined(es, func(e Environment) string { return e.Env }), err
		}, "dev dev2 prod"},
		{"Resources of the app", func(tx *Tx) (string, error) {
			rs, err := tx.Resources("app", "")
			return joined(rs, func(r Resource) string { return r.Env + "/" + r.Name }), err
		}, "dev/docs dev/photos dev2/docs dev2/photos prod/docs prod/photos"},
		{"Scopes", func(tx *Tx) (string, error) {
			scopes, err := tx.Scopes()
			return joined(scopes, func(sc Scope) string { return sc.AppID + "/" + sc.Env }), err
		}, "app/dev app/dev2 app/prod app2/dev"},
		{"CheckScope", func(tx *Tx) (string, error) {
			return "", errors.Join(tx.CheckScope("app", "dev"), tx.CheckScope("app2", ""))
		}, ""},
	} {
		var got string
		var read int
		err := f.s.kv.Update(func(kv kvTx) (err error) {
			got, err = c.walk(&Tx{kv: kv})
			read = len(kv.etcd.reads)
			return err
		})
		if err != nil || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
		}
		if read > 4*(envs+1) {
			t.Errorf("%s read %d keys of %d environments holding %d jobs each", c.name, read, envs, jobsPerEnv)
		}
	}
}

// joined names each of xs, separated by spaces.
func joined[T any](xs []T, name func(T) string) string {
	names := make([]string, len(xs))
	for i, x := range xs {
		names[i] = name(x)
	}
	return strings.Join(names, " ")
}
