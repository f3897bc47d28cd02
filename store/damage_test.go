package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
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
		for _, name := range [][]byte{bucketResources, bucketBuckets, bucketJobs, bucketJobsByEnv, bucketPending} {
			err := tx.tx.Bucket(name).ForEach(func(k, v []byte) error {
				switch string(name) {
				case string(bucketResources):
					r, err := decodeResource(v)
					fmt.Fprintf(&b, "%s %q %+v %v\n", name, k, r, err)
				case string(bucketJobs):
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
		fmt.Fprintf(&b, "sequence %d token %x pending %v\n", tx.tx.Bucket(bucketJobs).Sequence(), s.TokenKey(), tx.PendingJobs())
		return nil
	})
	return b.String(), err
}

// layout locates the pages a damage case aims at.
type layout struct {
	pageSize, hwm   int
	newest, older   int64 // byte offsets of the meta records (after the page header)
	jobBranch       int   // a branch page of jobs/
	jobLeaf         int   // a leaf page of jobs/
	resourceLeaf    int   // the leaf page of resources/
	freelist, free  int   // the freelist page, and a free page (0: none)
	txNewest, txOld uint64
}

func readLayout(t testing.TB, path string) layout {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var l layout
	l.pageSize = db.Info().PageSize
	err = db.View(func(tx *bolt.Tx) error {
		l.hwm = int(binary.LittleEndian.Uint64(raw[pageHeaderSize+40:]))
		m0 := binary.LittleEndian.Uint64(raw[pageHeaderSize+48:])
		m1 := binary.LittleEndian.Uint64(raw[l.pageSize+pageHeaderSize+48:])
		l.newest, l.older, l.txNewest, l.txOld = pageHeaderSize, int64(l.pageSize+pageHeaderSize), m0, m1
		if m1 > m0 {
			l.newest, l.older, l.txNewest, l.txOld = l.older, l.newest, m1, m0
		}
		for id := 2; id < l.hwm; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			page := raw[id*l.pageSize : (id+1)*l.pageSize]
			switch info.Type {
			case "branch":
				if l.jobBranch == 0 && bytes.HasPrefix(branchKey(page, 0), []byte("job-")) {
					l.jobBranch = id
				}
			case "leaf":
				k, v := leafKV(page, 0)
				switch {
				case l.jobLeaf == 0 && bytes.HasPrefix(k, []byte("job-")) && v[0] == recordFormat:
					l.jobLeaf = id
				case l.resourceLeaf == 0 && bytes.HasPrefix(k, []byte("app\x00")) && v[0] == recordFormat:
					l.resourceLeaf = id
				}
			case "freelist":
				l.freelist = id
			case "free":
				if l.free == 0 {
					l.free = id
				}
			}
			id += info.OverflowCount
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.jobBranch == 0 || l.jobLeaf == 0 || l.resourceLeaf == 0 || l.freelist == 0 {
		t.Fatalf("test store lacks a page kind: %+v", l)
	}
	return l
}

// Page format (bbolt internal/common/page.go): a 16-byte header (id u64,
// flags u16, count u16, overflow u32), then 16-byte elements: leaf
// (flags, pos, ksize, vsize u32), branch (pos, ksize u32, pgid u64), each
// pos counted from the element itself.
func leafElem(i int) int { return pageHeaderSize + 16*i }

func leafKV(page []byte, i int) (k, v []byte) {
	e := leafElem(i)
	pos, ks, vs := int(binary.LittleEndian.Uint32(page[e+4:])), int(binary.LittleEndian.Uint32(page[e+8:])), int(binary.LittleEndian.Uint32(page[e+12:]))
	return page[e+pos : e+pos+ks], page[e+pos+ks : e+pos+ks+vs]
}

func branchKey(page []byte, i int) []byte {
	e := leafElem(i)
	pos, ks := int(binary.LittleEndian.Uint32(page[e:])), int(binary.LittleEndian.Uint32(page[e+4:]))
	return page[e+pos : e+pos+ks]
}

// flip XORs the byte at off with mask.
func flip(off int64, mask byte) func(b []byte) []byte {
	return func(b []byte) []byte { b[off] ^= mask; return b }
}

// inLeaf is the offset in the file of a leaf element's key or value byte.
func inLeaf(l layout, raw []byte, id int, value bool) int64 {
	page := raw[id*l.pageSize : (id+1)*l.pageSize]
	n := int(binary.LittleEndian.Uint16(page[10:]))
	k, v := leafKV(page, n/2)
	target := &k[len(k)-1]
	if value {
		target = &v[len(v)/2]
	}
	for i := range page {
		if &page[i] == target {
			return int64(id*l.pageSize + i)
		}
	}
	panic("element outside its page")
}

// damageCase turns a pristine data directory (store + identity record)
// into a damaged one.
type damageCase struct {
	name string
	// want is "refuse", "start", or "" when either is right.
	want string
	// file edits the store file's bytes (nil result: delete it).
	file func(l layout, raw []byte) []byte
	// dir edits the directory after file ran.
	dir func(t testing.TB, path string)
}

// damageCases is the corruption matrix: each case must end in a clear
// refusal or a start with every record intact.
func damageCases(other, older string) []damageCase {
	truncate := func(n func(int) int) func(layout, []byte) []byte {
		return func(_ layout, b []byte) []byte { return b[:n(len(b))] }
	}
	at := func(page func(layout) int, off int, mask byte) func(layout, []byte) []byte {
		return func(l layout, b []byte) []byte { b[page(l)*l.pageSize+off] ^= mask; return b }
	}
	branch := func(l layout) int { return l.jobBranch }
	leaf := func(l layout) int { return l.jobLeaf }
	zero := func(page func(layout) int) func(layout, []byte) []byte {
		return func(l layout, b []byte) []byte { clear(b[page(l)*l.pageSize : (page(l)+1)*l.pageSize]); return b }
	}
	replace := func(src string) func(layout, []byte) []byte {
		return func(layout, []byte) []byte {
			b, err := os.ReadFile(src)
			if err != nil {
				panic(err)
			}
			return b
		}
	}
	return []damageCase{
		{name: "truncate to 0", want: "refuse", file: truncate(func(int) int { return 0 })},
		{name: "truncate to 4 KiB", want: "refuse", file: truncate(func(int) int { return 4096 })},
		{name: "truncate to 1/4", want: "refuse", file: truncate(func(n int) int { return n / 4 })},
		{name: "truncate to 1/2", want: "refuse", file: truncate(func(n int) int { return n / 2 })},
		{name: "truncate the last page", want: "refuse", file: truncate(func(n int) int { return n - 4096 })},
		{name: "delete the file", want: "refuse", file: func(layout, []byte) []byte { return nil }},
		{name: "flip the newest meta page's txid", want: "refuse", file: func(l layout, b []byte) []byte { return flip(l.newest+48, 0x01)(b) }},
		{name: "flip the older meta page's root", want: "start", file: func(l layout, b []byte) []byte { return flip(l.older+16, 0x04)(b) }},
		{name: "flip both meta pages", want: "refuse", file: func(l layout, b []byte) []byte { return flip(l.older+40, 0x01)(flip(l.newest+40, 0x01)(b)) }},
		{name: "flip the meta page 0 header", file: at(func(layout) int { return 0 }, 8, 0x10)},
		{name: "flip a branch page's flags", want: "refuse", file: at(branch, 8, 0x03)},
		{name: "flip a branch element's page id (low byte)", want: "refuse", file: at(branch, pageHeaderSize+8, 0x01)},
		{name: "flip a branch element's page id (high byte)", want: "refuse", file: at(branch, pageHeaderSize+15, 0x40)},
		{name: "flip a branch element's page id (far past the file)", want: "refuse", file: at(branch, pageHeaderSize+12, 0x01)},
		{name: "flip a branch key byte", want: "refuse", file: func(l layout, b []byte) []byte {
			page := b[l.jobBranch*l.pageSize:]
			k := branchKey(page, 1)
			k[len(k)-1] ^= 0x01
			return b
		}},
		{name: "zero a branch page", want: "refuse", file: zero(branch)},
		{name: "flip a leaf page's flags", want: "refuse", file: at(leaf, 8, 0x03)},
		{name: "flip a leaf page's count", want: "refuse", file: at(leaf, 10, 0x01)},
		{name: "flip a leaf element's position", want: "refuse", file: at(leaf, pageHeaderSize+16*3+4, 0x01)},
		{name: "flip a leaf key byte (job id)", want: "refuse", file: func(l layout, b []byte) []byte { return flip(inLeaf(l, b, l.jobLeaf, false), 0x01)(b) }},
		{name: "flip a leaf value byte (job)", want: "refuse", file: func(l layout, b []byte) []byte { return flip(inLeaf(l, b, l.jobLeaf, true), 0x01)(b) }},
		{name: "flip a leaf value byte (resource)", want: "refuse", file: func(l layout, b []byte) []byte {
			return flip(inLeaf(l, b, l.resourceLeaf, true), 0x20)(b)
		}},
		{name: "zero a leaf page", want: "refuse", file: zero(leaf)},
		{name: "flip the freelist page", want: "refuse", file: at(func(l layout) int { return l.freelist }, pageHeaderSize, 0x01)},
		{name: "flip a free page", want: "start", file: func(l layout, b []byte) []byte {
			if l.free == 0 {
				return b
			}
			return flip(int64(l.free*l.pageSize+100), 0xff)(b)
		}},
		{name: "replace with another store", want: "refuse", file: replace(other)},
		{name: "replace with an older copy", want: "refuse", file: replace(older)},
		{name: "replace with an empty bbolt file", want: "refuse", file: func(layout, []byte) []byte {
			p := filepath.Join(os.TempDir(), fmt.Sprintf("empty-%d.db", os.Getpid()))
			defer os.Remove(p)
			db, err := bolt.Open(p, 0o600, nil)
			if err != nil {
				panic(err)
			}
			db.Close()
			return replace(p)(layout{}, nil)
		}},
		{name: "replace with text", want: "refuse", file: func(layout, []byte) []byte { return bytes.Repeat([]byte("not a store\n"), 2000) }},
		{name: "remove the identity record", want: "start", dir: func(t testing.TB, path string) {
			if err := os.Remove(identityPath(path)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "garble the identity record", want: "refuse", dir: func(t testing.TB, path string) {
			if err := os.WriteFile(identityPath(path), []byte("{\"storeId\": 12"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
}

// matrixFixture is a pristine store, another store and an older copy of
// the pristine one.
type matrixFixture struct {
	pristine, other, older string
	want                   string // contents of the pristine store
	layout                 layout
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
	f.layout = readLayout(t, f.pristine)
	return f
}

// damaged writes case c of the pristine store into a fresh directory and
// returns the store's path there.
func (f matrixFixture) damaged(t *testing.T, c damageCase) string {
	path := filepath.Join(t.TempDir(), "amplifybackendd.db")
	raw, err := os.ReadFile(f.pristine)
	if err != nil {
		t.Fatal(err)
	}
	id, err := os.ReadFile(identityPath(f.pristine))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(identityPath(path), id, 0o600); err != nil {
		t.Fatal(err)
	}
	if c.file != nil {
		raw = c.file(f.layout, raw)
	}
	if raw != nil {
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if c.dir != nil {
		c.dir(t, path)
	}
	return path
}

// TestCorruptionMatrix damages a real store in each way of damageCases
// and opens it: every case is a refusal naming the file (ErrDamaged or
// ErrDataLost, nothing written) or a start with every record as it was.
// None starts empty, none serves altered records, none crashes.
func TestCorruptionMatrix(t *testing.T) {
	t.Parallel()
	f := newMatrixFixture(t)
	cases := damageCases(f.other, f.older)
	rows := make([]string, len(cases))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := f.damaged(t, c)
			before, _ := os.ReadFile(path)
			beforeID, _ := os.ReadFile(identityPath(path))
			s, err := Open(path)
			got := "start"
			switch {
			case err != nil:
				got = "refuse"
				rows[i] = fmt.Sprintf("| %s | refused | %s |", c.name, firstLine(err, filepath.Dir(path)))
				if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrDataLost) {
					t.Errorf("refused with an unclassified error: %v", err)
				}
				if !strings.Contains(err.Error(), path) && !strings.Contains(err.Error(), identityPath(path)) {
					t.Errorf("the refusal does not name the file: %v", err)
				}
				after, _ := os.ReadFile(path)
				afterID, _ := os.ReadFile(identityPath(path))
				if !bytes.Equal(before, after) || !bytes.Equal(beforeID, afterID) {
					t.Errorf("the refused open changed the files")
				}
			default:
				have, err := contents(s)
				s.Close()
				if err != nil || have != f.want {
					t.Fatalf("started with altered contents (err %v)", err)
				}
				rows[i] = fmt.Sprintf("| %s | started, all %d records intact | |", c.name, strings.Count(have, "\n")-1)
			}
			if c.want != "" && got != c.want {
				t.Errorf("%s: got %s, want %s", c.name, got, c.want)
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
	cases := map[string]damageCase{}
	for _, c := range damageCases(f.other, f.older) {
		cases[c.name] = c
	}
	for _, tc := range []struct {
		name    string
		records bool // the accepted store holds the older copy's records
	}{{"truncate to 0", false}, {"truncate to 1/4", false}, {"flip a leaf value byte (job)", false}, {"replace with an older copy", true}} {
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
	if info, _ := os.Stat(identityPath(f.path)); info.Mode().Perm() != 0o600 {
		t.Fatalf("record mode %v", info.Mode())
	}
}

// TestDamageAtRunTime damages pages under a serving store, as a disk or
// another program would: reads fail with ErrDamaged and a loud log line,
// writes fail, and the process lives on.
func TestDamageAtRunTime(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		damage func(l layout, raw []byte) (off int64, b []byte)
	}{
		{"a page id far past the file", func(l layout, _ []byte) (int64, []byte) {
			return int64(l.jobBranch*l.pageSize + pageHeaderSize + 12), []byte{0x7f}
		}},
		{"a leaf page's flags", func(l layout, _ []byte) (int64, []byte) { return int64(l.jobLeaf*l.pageSize + 8), []byte{0xff} }},
		{"a job record's bytes", func(l layout, raw []byte) (int64, []byte) {
			off := inLeaf(l, raw, l.jobLeaf, true)
			return off, []byte{raw[off] ^ 0x01}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "store.db")
			buildStore(t, path)
			l := readLayout(t, path) // opening a current store writes nothing, so the pages stay where they are
			var logs bytes.Buffer
			s, err := OpenWith(path, Options{Logger: slogTo(&logs)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			raw, _ := os.ReadFile(path)
			off, b := c.damage(l, raw)
			w, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.WriteAt(b, off); err != nil {
				t.Fatal(err)
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
	f.mustUpdate(func(tx *Tx) error {
		for i := range 400 {
			if err := tx.InsertJob(newJob(fmt.Sprintf("job-%06d", i), "app", "dev", "r", StatusRunning)); err != nil {
				return err
			}
		}
		return nil
	})
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
