package embedded

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/versity/versitygw/iamapi/storage"
)

// TestEmptiedStoresRefused: the role store and the bucket store, emptied
// under a stopped server (a truncation, a disk that lost the file), are
// refused with what was lost and the ways out, not started empty as if the
// target never had a role or a lifecycle rule; a file never made is made,
// with nothing left beside it, and one left half made by a crash is
// replaced.
func TestEmptiedStoresRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	base, err := storage.NewInternal(dir)
	if err != nil {
		t.Fatal(err)
	}
	s3Root := filepath.Join(dir, "s3")
	if err := os.Mkdir(s3Root, 0o700); err != nil {
		t.Fatal(err)
	}
	rolesPath, bucketsPath := filepath.Join(dir, "roles.db"), filepath.Join(dir, "buckets.db")
	// A crash while the bucket store was first made left this.
	if err := os.WriteFile(bucketsPath+".new", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	roles, err := openRoleStore(ctx, rolesPath, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := roles.CreateRole(ctx, role("kept", "AROAKEPT")); err != nil {
		t.Fatal(err)
	}
	roles.Close()
	buckets, err := openBucketStore(bucketsPath, s3Root)
	if err != nil {
		t.Fatal(err)
	}
	buckets.db.Close()
	for _, p := range []string{rolesPath + ".new", bucketsPath + ".new"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}

	// A second start finds what the first wrote.
	roles, err = openRoleStore(ctx, rolesPath, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := roles.GetRole(ctx, "kept"); err != nil {
		t.Fatalf("role after a restart: %v", err)
	}
	roles.Close()

	for _, p := range []string{rolesPath, bucketsPath} {
		if err := os.Truncate(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err = openRoleStore(ctx, rolesPath, base)
	if err == nil || !strings.Contains(err.Error(), rolesPath+" is empty") || !strings.Contains(err.Error(), "every role and role policy") ||
		!strings.Contains(err.Error(), "remove it") {
		t.Errorf("an emptied role store: %v, want a refusal naming the file, what is lost and the ways out", err)
	}
	_, err = openBucketStore(bucketsPath, s3Root)
	if err == nil || !strings.Contains(err.Error(), bucketsPath+" is empty") || !strings.Contains(err.Error(), "lifecycle rules") {
		t.Errorf("an emptied bucket store: %v, want a refusal naming the file and what is lost", err)
	}
	for _, p := range []string{rolesPath, bucketsPath} {
		if st, err := os.Stat(p); err != nil || st.Size() != 0 {
			t.Errorf("a refused %s was changed: %v %v", p, st, err)
		}
	}
}
