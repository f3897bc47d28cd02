//go:build unix

package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/fsizetest"
	"github.com/amplifybackendd/amplifybackendd/metrics"
)

// TestFailedCommitsAreCounted: a group commit the disk refuses fails its
// calls and counts once in amplifybackendd_store_commits_failed_total; a
// call's own error (a record that exists) does not count, nor do the
// commits once the disk takes writes again. The fault is the kernel's:
// the test binary runs again with RLIMIT_FSIZE at the store file's size,
// so the commit that must grow the file fails its truncate with EFBIG, as
// a full disk fails it with ENOSPC. The limit is per process, so it stays
// out of the other tests' way.
func TestFailedCommitsAreCounted(t *testing.T) {
	if !fsizetest.Isolate(t) {
		return
	}
	m := metrics.New()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := OpenWith(path, Options{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	failed := func() float64 {
		t.Helper()
		families, err := m.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "amplifybackendd_store_commits_failed_total" {
				return f.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatal("no amplifybackendd_store_commits_failed_total")
		return 0
	}
	ctx := context.Background()
	write := func(i int) error {
		return s.Batch(ctx, func(tx *Tx) error {
			for j := range 50 {
				name := fmt.Sprintf("r%d-%d", i, j)
				if err := tx.CreateResource(newResource("app", "dev", name, "bucket-"+name)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := write(0); err != nil {
		t.Fatal(err)
	}
	if err := write(0); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("writing the same records again: %v, want ErrAlreadyExists", err)
	}
	if n := failed(); n != 0 {
		t.Fatalf("after a call's own error: %v failed commits, want 0", n)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	lift := fsizetest.Limit(t, uint64(info.Size()))
	i := 1
	for ; i < 10000; i++ {
		if err = write(i); err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "file too large") {
		t.Fatalf("commits past the file size limit: %v, want the file too large", err)
	}
	if n := failed(); n != 1 {
		t.Fatalf("after one refused commit: %v failed commits, want 1", n)
	}

	lift()
	if err := write(i); err != nil {
		t.Fatalf("once the disk takes writes again: %v", err)
	}
	if n := failed(); n != 1 {
		t.Fatalf("after a commit that succeeded: %v failed commits, want still 1", n)
	}
}
