package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// by-env/ holds each environment's record, its resources and its
// newest-first job index side by side, under the environment's key
// prefix app \x00 env \x00, one tag byte telling them apart:
//
//	app \x00 env \x00 'e'          -> the environment's record
//	app \x00 env \x00 'j' ^seq     -> jobID
//	app \x00 env \x00 'r' name     -> the resource's record
//	app \x00 \x00 'j' ^seq         -> jobID of a job of the whole app
//
// A create in a new environment then writes three keys next to each
// other, most often into one leaf page, where before it wrote a leaf in
// each of three trees (resources/, envs/, jobs-by-env/). Names arrive in
// no order, so those leaves were anywhere in their trees, and each one a
// commit dirtied was a page written (docs/benchmarks.md, "Names in random
// order").
//
// The tags sort the record first and the resources last, so a walk over
// environments reads what it needs and skips the rest of an environment
// with one Seek (pastEnv): a scan over environments costs their number,
// never their jobs'.
const (
	tagEnv      = 'e'
	tagJob      = 'j'
	tagResource = 'r'
)

// appPrefix is the prefix of every key of an app in by-env/.
func appPrefix(appID string) []byte { return []byte(appID + "\x00") }

// envPrefix is the prefix of every key of an environment in by-env/; the
// empty environment's is the app's own part, its whole-app jobs.
func envPrefix(appID, env string) []byte { return []byte(appID + "\x00" + env + "\x00") }

// treeKey is the environment's prefix and tag, with room for what follows.
func treeKey(appID, env string, tag byte) []byte {
	k := make([]byte, 0, len(appID)+len(env)+3+16)
	k = append(k, appID...)
	k = append(k, 0)
	k = append(k, env...)
	return append(k, 0, tag)
}

// envRecordKey is the key of the environment's record.
func envRecordKey(appID, env string) []byte { return treeKey(appID, env, tagEnv) }

// resourceTreeKey is the key of the resource's record.
func resourceTreeKey(k ResourceKey) []byte {
	return append(treeKey(k.AppID, k.Env, tagResource), k.Name...)
}

// jobPrefix is the prefix of the environment's job index (of the app's
// whole-app jobs for env "").
func jobPrefix(appID, env string) []byte { return treeKey(appID, env, tagJob) }

// jobIndexKey is j's entry in its environment's job index: ^seq makes
// ascending key order newest first.
func jobIndexKey(j Job) []byte {
	return binary.BigEndian.AppendUint64(jobPrefix(j.AppID, j.Env), ^j.seq)
}

// cutEnv cuts a key after its second NUL: the environment's prefix
// app \x00 env \x00, and what follows. App and environment names hold no
// NUL, so the first two end them, whatever bytes follow.
func cutEnv(k []byte) (prefix, rest []byte, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return nil, nil, false
	}
	j := bytes.IndexByte(k[i+1:], 0)
	if j < 0 {
		return nil, nil, false
	}
	return k[:i+j+2], k[i+j+2:], true
}

// splitTreeKey splits a key of by-env/ into its environment's prefix,
// its tag and what follows; ok is false for a key of no such shape.
func splitTreeKey(k []byte) (prefix []byte, tag byte, rest []byte, ok bool) {
	prefix, rest, ok = cutEnv(k)
	if !ok || len(rest) == 0 {
		return nil, 0, nil, false
	}
	return prefix, rest[0], rest[1:], true
}

// prefixNames returns the app and environment an environment's prefix
// names.
func prefixNames(prefix []byte) (appID, env string) {
	app, env2, _ := bytes.Cut(prefix[:len(prefix)-1], []byte{0})
	return string(app), string(env2)
}

// pastEnv is where the keys after the environment of prefix begin: its
// last NUL, the least byte, made 1 sorts after every key of the
// environment and before every key of the next, whose name is greater
// (a name extending this one's carries a byte of 1 or more there).
func pastEnv(prefix []byte) []byte {
	k := bytes.Clone(prefix)
	k[len(k)-1] = 1
	return k
}

// toTag moves c, standing on a key with tag at of the environment of
// prefix, to the first key of the environment's part tagged want, or,
// when c is already at or past that part, to the next environment.
func toTag(c kvCursor, prefix []byte, at, want byte) ([]byte, []byte) {
	if at < want {
		return c.Seek(append(bytes.Clone(prefix), want))
	}
	return c.Seek(pastEnv(prefix))
}

// malformedTreeKey is a key of by-env/ that splitTreeKey refuses.
func malformedTreeKey(k []byte) error {
	return fmt.Errorf("malformed key %q in %s/", k, bucketByEnv)
}

// gatherByEnvironment is migration 8: it moves every environment's
// record (envs/), resources (resources/) and job index entries
// (jobs-by-env/) into by-env/, and drops the three trees. A key is put in
// by-env/ only where it is missing, and in the parts of an etcd commit
// (etcd_parts.go) every key of by-env/ goes before the deletes of the old
// keys (by-env sorts first), which go before the deletes of the trees'
// markers: a run stopped between two parts leaves each key in its old
// place, in both, or moved, and the next run finishes the move.
func gatherByEnvironment(tx kvTx) error {
	by, err := tx.CreateBucket(bucketByEnv)
	if err != nil {
		return err
	}
	move := func(old []byte, key func(k []byte) ([]byte, bool)) error {
		if !tx.HasBucket(old) {
			return nil
		}
		err := tx.Bucket(old).ForEach(func(k, v []byte) error {
			nk, ok := key(k)
			if !ok {
				return fmt.Errorf("malformed key %q in %s/", k, old)
			}
			if by.Get(nk) != nil {
				return nil // moved by a run that stopped, or written since
			}
			return by.Put(nk, v)
		})
		if err != nil {
			return err
		}
		return tx.DeleteBucket(old)
	}
	if err := move(bucketEnvs, func(k []byte) ([]byte, bool) {
		// app \x00 env
		return append(bytes.Clone(k), 0, tagEnv), bytes.Count(k, []byte{0}) == 1
	}); err != nil {
		return err
	}
	if err := move(bucketResources, func(k []byte) ([]byte, bool) {
		// app \x00 env \x00 name
		prefix, name, ok := cutEnv(k)
		return append(append(bytes.Clone(prefix), tagResource), name...), ok
	}); err != nil {
		return err
	}
	return move(bucketJobsByEnv, func(k []byte) ([]byte, bool) {
		// app \x00 env \x00 ^seq, or app \x00 ^seq for a whole-app job
		if len(k) <= 8 || k[len(k)-9] != 0 {
			return nil, false
		}
		head, seq := k[:len(k)-8], k[len(k)-8:]
		switch bytes.Count(head, []byte{0}) {
		case 1:
			head = append(bytes.Clone(head), 0)
		case 2:
		default:
			return nil, false
		}
		return append(append(bytes.Clone(head), tagJob), seq...), true
	})
}
