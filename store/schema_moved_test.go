package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestReplicaStopsWhenANewerReleaseMigrates: a replica still running
// while a newer release migrates the shared store, or after it did, must
// neither write in the layout the newer one no longer reads nor answer
// from a layout it does not know. Writes, reads and Ping fail with
// ErrSchemaMoved, as retryable unavailability; the store is whole again
// once the mark is gone and the version is its own.
func TestReplicaStopsWhenANewerReleaseMigrates(t *testing.T) {
	t.Parallel()
	s, cli, prefix := etcdStoreAndClient(t)
	ctx := context.Background()
	n := 0
	create := func() error {
		n++
		r := newResource("app", fmt.Sprintf("env%d", n), "data", fmt.Sprintf("bucket-%d", n))
		return s.Batch(ctx, func(tx *Tx) error { return tx.CreateResource(r) })
	}
	read := func() error {
		return s.View(ctx, func(tx *Tx) error { _, err := tx.Resources("app", "env1"); return err })
	}
	if err := create(); err != nil {
		t.Fatalf("create at the current schema: %v", err)
	}
	stopped := func(why, says string) {
		t.Helper()
		for name, err := range map[string]error{"write": create(), "read": read(), "ping": s.Ping(ctx)} {
			if !errors.Is(err, ErrSchemaMoved) || !errors.Is(err, ErrUnavailable) || !strings.Contains(fmt.Sprint(err), says) {
				t.Errorf("%s: %s: %v, want ErrSchemaMoved as unavailability saying %q", why, name, err, says)
			}
		}
	}
	put := func(key []byte, val string) {
		t.Helper()
		if _, err := cli.Put(ctx, metaKey(prefix, key), val); err != nil {
			t.Fatal(err)
		}
	}
	version := func(v uint64) string { return string(binary.BigEndian.AppendUint64(nil, v)) }

	put(keyMigrating, "")
	stopped("a newer release migrating", "migrating")
	if _, err := cli.Delete(ctx, metaKey(prefix, keyMigrating)); err != nil {
		t.Fatal(err)
	}
	put(keySchema, version(SchemaVersion+1))
	stopped("a newer schema", fmt.Sprintf("schema %d", SchemaVersion+1))
	put(keySchema, version(SchemaVersion))
	if err := create(); err != nil {
		t.Fatalf("create at the current schema again: %v", err)
	}
	if err := read(); err != nil {
		t.Fatalf("read at the current schema again: %v", err)
	}
}

// TestMigrationInPartsMarksTheStore: a migration too large for one Txn
// puts the migrating mark in its first part and deletes it in its last,
// so replicas of the release before stop at the first part.
func TestMigrationInPartsMarksTheStore(t *testing.T) {
	t.Parallel()
	s, cli, prefix := etcdStoreAndClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start, err := cli.Get(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	mark := metaKey(prefix, keyMigrating)
	watch := cli.Watch(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(start.Header.Revision+1))

	const records = 3 * etcdMaxOps
	schema := metaKey(prefix, keySchema)
	err = s.kv.etcd.updateWith(func(tx kvTx) error {
		b := tx.Bucket(bucketMeta)
		for i := range records {
			if err := b.Put(fmt.Appendf(nil, "moved-%04d", i), []byte("x")); err != nil {
				return err
			}
		}
		return b.Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion))
	}, func(t *etcdTx) (bool, error) { return t.commitInParts(schema) })
	if err != nil {
		t.Fatal(err)
	}

	// The Txns in order: each a revision of its own.
	var txns [][]*clientv3.Event
	last := int64(0)
	for len(txns) == 0 || !touches(txns[len(txns)-1], schema) {
		resp := <-watch
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision != last {
				txns, last = append(txns, nil), ev.Kv.ModRevision
			}
			txns[len(txns)-1] = append(txns[len(txns)-1], ev)
		}
	}
	if len(txns) < 4 {
		t.Fatalf("%d writes committed in %d Txns, want at least 4", records+1, len(txns))
	}
	first, final := txns[0], txns[len(txns)-1]
	if !hasEvent(first, mark, clientv3.EventTypePut) {
		t.Errorf("the first part does not mark the store migrating")
	}
	if !hasEvent(final, mark, clientv3.EventTypeDelete) || !touches(final, schema) {
		t.Errorf("the last part does not clear the mark with the schema version")
	}
	for _, txn := range txns[1 : len(txns)-1] {
		if touches(txn, mark) {
			t.Errorf("a middle part touches the mark")
		}
	}
	if err := s.Batch(ctx, func(tx *Tx) error { return nil }); err != nil {
		t.Fatalf("a write after the migration: %v", err)
	}
}

// etcdStoreAndClient opens a store under a new prefix of the shared
// cluster, with a client of its own for what another release would write.
func etcdStoreAndClient(t *testing.T) (*Store, *clientv3.Client, string) {
	t.Helper()
	endpoints, prefix := sharedEtcd(t), newEtcdPrefix()
	s := openEtcd(t, endpoints, prefix)
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return s, cli, prefix
}

func touches(evs []*clientv3.Event, key string) bool {
	for _, ev := range evs {
		if string(ev.Kv.Key) == key {
			return true
		}
	}
	return false
}

func hasEvent(evs []*clientv3.Event, key string, typ mvccpb.Event_EventType) bool {
	for _, ev := range evs {
		if string(ev.Kv.Key) == key && ev.Type == typ {
			return true
		}
	}
	return false
}
