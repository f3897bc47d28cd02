package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/amplifybackendd/amplifybackendd/internal/boltdamage"
)

// buildStore fills a store at path with enough records for branch pages
// (40 resources, 1,500 jobs, every tenth RUNNING) and closes it cleanly.
func buildStore(t testing.TB, path string) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = s.Update(ctx, func(tx *Tx) error {
		for i := range 40 {
			if err := tx.CreateResource(newResource("app", fmt.Sprintf("env%d", i%5), fmt.Sprintf("res%02d", i), fmt.Sprintf("bucket-%02d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	for b := 0; b < 15 && err == nil; b++ {
		err = s.Update(ctx, func(tx *Tx) error {
			for i := b * 100; i < (b+1)*100; i++ {
				st := StatusCompleted
				if i%10 == 0 {
					st = StatusRunning
				}
				j := newJob(fmt.Sprintf("job-%06d", i), "app", fmt.Sprintf("env%d", i%5), fmt.Sprintf("res%02d", i%40), st)
				j.Error = "no error, just text to make the record longer"
				if err := tx.InsertJob(j); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// contents is everything a store holds, decoded, in key order: two stores
// with equal contents answer every API call alike.
func contents(s *Store) (string, error) {
	var b strings.Builder
	err := s.View(context.Background(), func(tx *Tx) error {
		for _, name := range [][]byte{bucketByEnv, bucketBuckets, bucketJobs, bucketPending} {
			err := tx.kv.Bucket(name).ForEach(func(k, v []byte) error {
				prefix, tag, _, _ := splitTreeKey(k)
				switch {
				case string(name) == string(bucketByEnv) && tag == tagResource:
					r, err := decodeResource(v)
					fmt.Fprintf(&b, "%s %q %+v %v\n", name, k, r, err)
				case string(name) == string(bucketByEnv) && tag == tagEnv:
					app, env := prefixNames(prefix)
					e, err := decodeEnvironment(app, env, v)
					fmt.Fprintf(&b, "%s %q %+v %v\n", name, k, e, err)
				case string(name) == string(bucketJobs):
					j, err := decodeJob(v)
					fmt.Fprintf(&b, "%s %q %+v %v\n", name, k, j, err)
				default:
					fmt.Fprintf(&b, "%s %q %q\n", name, k, v)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		fmt.Fprintf(&b, "sequence %d token %x pending %v\n", tx.kv.Bucket(bucketJobs).Sequence(), s.TokenKey(), tx.PendingJobs())
		return nil
	})
	return b.String(), err
}

// matrixFixture is a pristine store, another store and an older copy of
// the pristine one.
type matrixFixture struct {
	pristine, other, older string
	want                   string // contents of the pristine store
	layout                 boltdamage.Layout
}

func newMatrixFixture(t *testing.T) matrixFixture {
	dir := t.TempDir()
	f := matrixFixture{pristine: filepath.Join(dir, "pristine.db"), other: filepath.Join(dir, "other.db"), older: filepath.Join(dir, "older.db")}
	buildStore(t, f.other)
	buildStore(t, f.pristine)
	// The older copy is the pristine store before its last commit.
	raw, _ := os.ReadFile(f.pristine)
	os.WriteFile(f.older, raw, 0o600)
	s, err := Open(f.pristine)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.InsertJob(newJob("job-last", "app", "env0", "res00", StatusRunning)) }); err != nil {
		t.Fatal(err)
	}
	if f.want, err = contents(s); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if f.layout, err = boltdamage.ReadLayout(f.pristine, string(bucketJobs), string(bucketByEnv)); err != nil {
		t.Fatal(err)
	}
	return f
}

// damaged writes case c of the pristine store into a fresh directory and
// returns the store's path there.
func (f matrixFixture) damaged(t *testing.T, c boltdamage.Case) string {
	path := filepath.Join(t.TempDir(), "amplifybackendd.db")
	if err := boltdamage.Write(c, f.layout, f.pristine, IdentityPath(f.pristine), path, IdentityPath(path)); err != nil {
		t.Fatal(err)
	}
	return path
}

// damageCase finds a case of the matrix by name.
func damageCase(t testing.TB, name string) boltdamage.Case {
	for _, c := range boltdamage.Cases("", "") {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no damage case %q", name)
	return boltdamage.Case{}
}

// TestCorruptionMatrix damages a real store in each way of damageCases
// and opens it: every case is a refusal naming the file (ErrDamaged or
// ErrDataLost, nothing written) or a start with every record as it was.
// None starts empty, none serves altered records, none crashes.
func TestCorruptionMatrix(t *testing.T) {
	t.Parallel()
	f := newMatrixFixture(t)
	cases := boltdamage.Cases(f.other, f.older)
	rows := make([]string, len(cases))
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			path := f.damaged(t, c)
			before, _ := os.ReadFile(path)
			beforeID, _ := os.ReadFile(IdentityPath(path))
			s, err := Open(path)
			got := "start"
			switch {
			case err != nil:
				got = "refuse"
				rows[i] = fmt.Sprintf("| %s | refused | %s |", c.Name, firstLine(err, filepath.Dir(path)))
				if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrDataLost) {
					t.Errorf("refused with an unclassified error: %v", err)
				}
				if !strings.Contains(err.Error(), path) && !strings.Contains(err.Error(), IdentityPath(path)) {
					t.Errorf("the refusal does not name the file: %v", err)
				}
				after, _ := os.ReadFile(path)
				afterID, _ := os.ReadFile(IdentityPath(path))
				if !bytes.Equal(before, after) || !bytes.Equal(beforeID, afterID) {
					t.Errorf("the refused open changed the files")
				}
			default:
				have, err := contents(s)
				s.Close()
				if err != nil || have != f.want {
					t.Fatalf("started with altered contents (err %v)", err)
				}
				rows[i] = fmt.Sprintf("| %s | started, all %d records intact | |", c.Name, strings.Count(have, "\n")-1)
			}
			if c.Want != "" && got != c.Want {
				t.Errorf("%s: got %s, want %s", c.Name, got, c.Want)
			}
		})
	}
	t.Logf("corruption matrix, %d cases:\n| case | outcome | message |\n| --- | --- | --- |\n%s", len(cases), strings.Join(rows, "\n"))
}

// firstLine is the start of err's message, without the test's folder.
func firstLine(err error, dir string) string {
	s := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
	if len(s) > 110 {
		s = s[:110] + "…"
	}
	return s
}

// TestAcceptLoss: the operator's explicit go-ahead after a refusal. An
// emptied store starts new (with a new id); a damaged file is set aside,
// never deleted, and a new store starts; an older copy is adopted as it is.
func TestAcceptLoss(t *testing.T) {
	t.Parallel()
	f := newMatrixFixture(t)
	cases := map[string]boltdamage.Case{}
	for _, c := range boltdamage.Cases(f.other, f.older) {
		cases[c.Name] = c
	}
	for _, tc := range []struct {
		name    string
		records bool // the accepted store holds the older copy's records
	}{{"truncate to 0", false}, {"truncate to 1/4", false}, {"flip a leaf value byte", false}, {"replace with an older copy", true}} {
		t.Run(tc.name, func(t *testing.T) {
			path := f.damaged(t, cases[tc.name])
			before, _ := os.ReadFile(path)
			if _, err := Open(path); err == nil {
				t.Fatal("opened without the go-ahead")
			}
			s, err := OpenWith(path, Options{AcceptLoss: true})
			if err != nil {
				t.Fatal(err)
			}
			have, _ := contents(s)
			s.Close()
			if got := strings.Count(have, "job-"); tc.records != (got > 0) {
				t.Fatalf("accepted store holds %d job lines", got)
			}
			aside, _ := filepath.Glob(path + ".damaged-*")
			if damaged := strings.Contains(tc.name, "1/4") || strings.Contains(tc.name, "flip"); damaged {
				if len(aside) != 1 {
					t.Fatalf("damaged file not set aside: %v", aside)
				}
				if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, before) {
					t.Fatal("the file set aside is not the damaged file")
				}
			}
			// The go-ahead is needed once: the next start accepts what was accepted.
			s, err = Open(path)
			if err != nil {
				t.Fatalf("reopen after accepting: %v", err)
			}
			s.Close()
		})
	}
}

// TestIdentityRecordFollowsTheStore: a new data directory needs nothing;
// the record names the store, and its transaction id and size only grow.
func TestIdentityRecordFollowsTheStore(t *testing.T) {
	f := setup(t)
	first, err := readIdentity(f.path)
	if err != nil || first == nil || len(first.StoreID) != 2*storeIDSize {
		t.Fatalf("record after creating the store: %+v, %v", first, err)
	}
	f.mustUpdate(func(tx *Tx) error { return tx.InsertJob(newJob("j", "app", "dev", "r", StatusRunning)) })
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	closed, _ := readIdentity(f.path)
	if closed.StoreID != first.StoreID || closed.TxID <= first.TxID || closed.Size < first.Size || !closed.Created.Equal(first.Created) {
		t.Fatalf("record after a write and close: %+v, first %+v", closed, first)
	}
	if info, _ := os.Stat(IdentityPath(f.path)); info.Mode().Perm() != 0o600 {
		t.Fatalf("record mode %v", info.Mode())
	}
}

// TestDamageAtRunTime damages pages under a serving store, as a disk or
// another program would: reads fail with ErrDamaged and a loud log line,
// writes fail, and the process lives on.
func TestDamageAtRunTime(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"flip a branch element's page id (far past the file)", "flip a leaf page's flags", "flip a leaf value byte"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "store.db")
			buildStore(t, path)
			// Opening a current store writes nothing: the pages stay put.
			l, err := boltdamage.ReadLayout(path, string(bucketJobs), string(bucketByEnv))
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			s, err := OpenWith(path, Options{Logger: slogTo(&logs)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			raw, _ := os.ReadFile(path)
			bad := damageCase(t, name).File(l, bytes.Clone(raw))
			w, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := range raw {
				if raw[i] != bad[i] {
					if _, err := w.WriteAt(bad[i:i+1], int64(i)); err != nil {
						t.Fatal(err)
					}
				}
			}
			w.Close()

			ctx := context.Background()
			err = s.View(ctx, func(tx *Tx) error {
				for e := range 5 {
					if _, _, err := tx.Jobs("app", fmt.Sprintf("env%d", e), nil, 1000, nil); err != nil {
						return err
					}
				}
				return nil
			})
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("reading every job: %v, want ErrDamaged", err)
			}
			if !strings.Contains(logs.String(), "STORE DAMAGED") || !strings.Contains(logs.String(), path) {
				t.Fatalf("no loud log line naming the file:\n%s", logs.String())
			}
			// Whatever the writes meet, they answer.
			for i := range 20 {
				_ = s.Batch(ctx, func(tx *Tx) error {
					return tx.InsertJob(newJob(fmt.Sprintf("job-%06d", i*75), "app", "env0", "res00", StatusRunning))
				})
			}
		})
	}
}

// TestPendingJobsOnDamagedIndex: start-up recovery reads the pending
// index; damage there is an error for the runner, not a dead process.
func TestPendingJobsOnDamagedIndex(t *testing.T) {
	f := setup(t)
	f.insertJobs("job", 400, StatusRunning)
	var root uint64
	f.s.db.View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket(bucketPending).Root()); return nil })
	w, _ := os.OpenFile(f.path, os.O_WRONLY, 0)
	w.WriteAt([]byte{0xff, 0xff}, int64(root)*4096+8) // the root page's flags
	w.Close()
	var ids []string
	err := f.s.View(f.ctx, func(tx *Tx) error { ids = tx.PendingJobs(); return nil })
	if !errors.Is(err, ErrDamaged) || ids != nil {
		t.Fatalf("PendingJobs on a damaged index: %v, %d ids", err, len(ids))
	}
}
