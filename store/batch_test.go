package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// txid is the id of the last committed transaction: it counts commits.
func (f *fixture) txid() int {
	var id int
	f.s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
	return id
}

// TestBatchGroupsCommits: concurrent Batch calls all land, in fewer
// commits than calls.
func TestBatchGroupsCommits(t *testing.T) {
	f := setup(t)
	before := f.txid()
	const n = 200
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Go(func() {
			r := newResource("app", fmt.Sprintf("env%03d", i), "data", fmt.Sprintf("bucket-%03d", i))
			if err := f.s.Batch(f.ctx, func(tx *Tx) error { return tx.CreateResource(r) }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var got []Resource
	f.s.View(f.ctx, func(tx *Tx) (err error) { got, err = tx.Resources("app", ""); return })
	if len(got) != n {
		t.Fatalf("%d resources after %d Batch calls", len(got), n)
	}
	if commits := f.txid() - before; commits >= n {
		t.Fatalf("%d commits for %d concurrent calls: nothing was grouped", commits, n)
	} else {
		t.Logf("%d calls in %d commits", n, commits)
	}
}

// TestBatchIsolatesFailures: a call that fails or panics gets its own
// error and writes nothing; the calls grouped with it commit.
func TestBatchIsolatesFailures(t *testing.T) { forEachEngine(t, testBatchIsolatesFailures) }

func testBatchIsolatesFailures(f *fixture) {
	t := f.t
	errNo := errors.New("refused")
	var wg sync.WaitGroup
	results := make([]error, 60)
	for i := range results {
		wg.Go(func() {
			results[i] = f.s.Batch(f.ctx, func(tx *Tx) error {
				if err := tx.CreateResource(newResource("app", fmt.Sprintf("env%02d", i), "data", fmt.Sprintf("bucket-%02d", i))); err != nil {
					return err
				}
				switch i % 3 {
				case 1:
					return errNo
				case 2:
					panic("boom")
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range results {
		var want string
		switch i % 3 {
		case 1:
			want = "refused"
		case 2:
			want = "panic in a batched write: boom"
		}
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("call %d: %v, want %q", i, err, want)
		}
		_, rerr := f.resource("app", fmt.Sprintf("env%02d", i))
		if stored := rerr == nil; stored != (want == "") {
			t.Errorf("call %d: stored=%v after %v", i, stored, err)
		}
	}
}

func (f *fixture) resource(app, env string) (Resource, error) {
	var r Resource
	err := f.s.View(f.ctx, func(tx *Tx) (err error) {
		r, err = tx.Resource(ResourceKey{AppID: app, Env: env, Name: "data"})
		return
	})
	return r, err
}

// TestBatchAfterClose: a write after Close is refused, not lost in a queue
// nobody reads.
func TestBatchAfterClose(t *testing.T) { forEachEngine(t, testBatchAfterClose) }

func testBatchAfterClose(f *fixture) {
	t := f.t
	f.s.Close()
	err := f.s.Batch(f.ctx, func(tx *Tx) error { return nil })
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Batch after Close: %v", err)
	}
}
