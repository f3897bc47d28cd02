package store

import (
	"context"
	"fmt"
	"maps"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A migration rewrites records in numbers that grow with the store, and
// etcd refuses a Txn past etcdMaxOps operations or etcdMaxBytes. On etcd
// each migration is then its own transaction whose writes commit in
// parts, the schema version, which says the migration is done, in the
// last one. A process stopped between two parts leaves some records in
// the new form and the version unchanged: the migration runs again at the
// next start over what it finds, which migrations 3 to 8 accept (each
// rewrites a record already in the new form to itself, and adds an index
// entry or record only where it is missing; 7 writes the same marks
// again; 8 finds some keys moved, some in both places, and the trees it
// drops whole or emptied (parts); migration 1 fits one part, and no store
// on etcd was ever at version 1 with JSON records for 2 to meet). A
// replica of this binary serves only once the version is current: it
// migrates first, and one that ran before a newer release migrated the
// store stops taking calls (Store.layoutCurrent).

// migrate brings the store on etcd to the current schema, one migration
// at a time, each committed in parts with the schema version last.
func (e *etcdKV) migrate() error {
	schema := (&etcdTx{kv: e}).bucket(bucketMeta).lo + string(keySchema)
	for {
		ran := false
		err := e.updateWith(func(tx kvTx) (err error) {
			if err := refuseIncompleteCopy(tx); err != nil {
				return err
			}
			ran, err = migrateNext(tx)
			return err
		}, func(t *etcdTx) (bool, error) { return t.commitInParts(schema) })
		if err != nil || !ran {
			return err
		}
	}
}

// commitInParts is commit for writes that may pass a Txn's limits: they
// go as the Txns parts says. The first is guarded as commit guards its
// Txn, each next one on no commit having come since the one before. It
// reports false when another commit came first: the parts committed
// before it stay, and the transaction runs again over them.
//
// A migration of more than one part marks the store as migrating in its
// first part and clears the mark in its last: replicas of the release
// before, still running, read the mark in every transaction, so the first
// part fails their commits and they stop (layoutCurrent) before a record
// moves.
func (t *etcdTx) commitInParts(last string) (bool, error) {
	parts := t.parts(last)
	guard := t.compares()
	mark := metaKey(t.kv.prefix, keyMigrating)
	for i, p := range parts {
		ops := t.ops(p)
		if len(parts) > 1 && i == 0 {
			ops = append(ops, clientv3.OpPut(mark, ""))
		}
		if len(parts) > 1 && i == len(parts)-1 {
			ops = append(ops, clientv3.OpDelete(mark))
		}
		ctx, cancel := context.WithTimeout(context.Background(), t.kv.timeout)
		resp, err := t.kv.client.Txn(ctx).If(guard...).Then(ops...).Else(t.lastCommitOp()).Commit()
		cancel()
		if err != nil {
			return false, fmt.Errorf("store: etcd commit of part %d of %d (%d writes): %w", i+1, len(parts), len(p), etcdFailure(err))
		}
		if !resp.Succeeded {
			t.lost = lastCommitIn(resp, 0)
			return false, nil
		}
		t.committed = resp.Header.Revision
		guard = []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(t.kv.commitKey()), "=", resp.Header.Revision)}
	}
	return true, nil
}

// parts splits the writes into Txns of fewer than etcdMaxOps writes and
// etcdMaxBytes: in key order, the deletes of bucket markers after them,
// so a bucket is never left with keys and no marker (deleteBucket), and
// last (when written) in the final one.
func (t *etcdTx) parts(last string) [][]string {
	var parts [][]string
	var part []string
	size := 0
	add := func(k string) {
		n := len(k) + len(t.writes[k].val)
		// One operation of each part is left for the migrating mark.
		if len(part) > 0 && (len(part) == etcdMaxOps-1 || size+n > etcdMaxBytes) {
			parts, part, size = append(parts, part), nil, 0
		}
		part, size = append(part, k), size+n
	}
	keys := slices.Sorted(maps.Keys(t.writes))
	dropped := func(k string) bool { return t.writes[k].del && t.isMarker(k) }
	for _, k := range keys {
		if k != last && !dropped(k) {
			add(k)
		}
	}
	for _, k := range keys {
		if k != last && dropped(k) {
			add(k)
		}
	}
	if _, ok := t.writes[last]; ok {
		add(last)
	}
	if len(part) > 0 {
		parts = append(parts, part)
	}
	return parts
}
