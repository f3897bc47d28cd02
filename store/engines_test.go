package store

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
)

// The store's contract is tested on both engines by the same test bodies:
// a contract test is func(*fixture), run by forEachEngine on a new bbolt
// file and on a new prefix of the etcd member the package's tests share.
// Tests of what only a file has (its pages, its identity record, backup)
// and tests that stop etcd members start what they need themselves.

// forEachEngine runs test on a new, empty store of each engine, as
// parallel subtests named for the engine.
func forEachEngine(t *testing.T, test func(f *fixture)) {
	t.Parallel()
	t.Run("bbolt", func(t *testing.T) { test(setup(t)) })
	t.Run("etcd", func(t *testing.T) { test(setupEtcd(t, sharedEtcd(t))) })
}

// shared is the one-member etcd cluster the package's tests share,
// started by the first test that needs it and stopped by TestMain.
var shared struct {
	once    sync.Once
	dir     string
	cluster *etcdtest.Cluster
	err     error
}

// sharedEtcd returns the endpoints of the shared cluster; tests keep to
// their own prefix (newEtcdPrefix) and never stop its member.
func sharedEtcd(t testing.TB) []string {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "store-etcd"); shared.err == nil {
			shared.cluster, shared.err = etcdtest.StartIn(shared.dir, 1)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cluster.Endpoints()
}

// newEtcdPrefix returns a prefix no other test of the run uses.
func newEtcdPrefix() string { return fmt.Sprintf("/storetest%d", etcdPrefixes.Add(1)) }

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		shared.cluster.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}
