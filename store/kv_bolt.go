package store

import bolt "go.etcd.io/bbolt"

// boltDB is a bbolt file as the key-value layer.
type boltDB struct{ db *bolt.DB }

func (d boltDB) View(fn func(kvTx) error) error {
	return d.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (d boltDB) Update(fn func(kvTx) error) error {
	return d.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// boltTx is a bbolt transaction as the key-value layer. Both wrappers hold
// one pointer, so storing them in an interface allocates nothing.
type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Bucket(name []byte) kvBucket {
	if b := t.tx.Bucket(name); b != nil {
		return boltBucket{b}
	}
	return nil
}

func (t boltTx) CreateBucket(name []byte) (kvBucket, error) {
	b, err := t.tx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return boltBucket{b}, nil
}

// boltBucket is a top-level bbolt bucket. *bolt.Cursor already has the
// methods of kvCursor.
type boltBucket struct{ b *bolt.Bucket }

func (b boltBucket) Get(k []byte) []byte                      { return b.b.Get(k) }
func (b boltBucket) Put(k, v []byte) error                    { return b.b.Put(k, v) }
func (b boltBucket) Delete(k []byte) error                    { return b.b.Delete(k) }
func (b boltBucket) Cursor() kvCursor                         { return b.b.Cursor() }
func (b boltBucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }
func (b boltBucket) NextSequence() (uint64, error)            { return b.b.NextSequence() }
func (b boltBucket) Sequence() uint64                         { return b.b.Sequence() }
func (b boltBucket) KeyN() int                                { return b.b.Stats().KeyN }

// FillAtEnd splits pages nearly full: keys that only grow at the right
// edge would otherwise leave every page half empty, and a commit would
// write about twice the pages. In a write transaction bbolt hands out one
// Bucket per name, so the setting holds for the rest of the transaction.
func (b boltBucket) FillAtEnd() { b.b.FillPercent = appendFill }

// appendFill is the split point of trees that grow at their right edge.
const appendFill = 0.95
