package store

// The key-value layer every record, index and migration of this package
// goes through (doc.go states its contract). bbolt is its one
// implementation today (kv_bolt.go); the interfaces are unexported, so no
// storage engine's types reach the package's callers.

// kvDB runs the transactions of the key-value layer. View's fn sees one
// consistent snapshot; Update's fn writes, and its writes commit together
// when it returns nil and are all dropped when it returns an error, which
// Update returns.
type kvDB interface {
	View(fn func(kvTx) error) error
	Update(fn func(kvTx) error) error
}

// kvTx is one transaction: a consistent view of every bucket, and, in a
// write transaction, writes that commit together or not at all. It is used
// by one goroutine at a time.
type kvTx interface {
	// Bucket returns the named bucket, or nil when it does not exist.
	Bucket(name []byte) kvBucket
	// CreateBucket returns the named bucket, creating it when it does not
	// exist (write transactions only). Migrations create every bucket.
	CreateBucket(name []byte) (kvBucket, error)
}

// kvBucket is an ordered set of keys, each with a value, and a sequence.
// Keys sort bytewise; a key is never empty. Slices a bucket returns are
// valid only until the transaction ends or the bucket is next written:
// callers copy what they keep.
type kvBucket interface {
	// Get returns the value of k, or nil when k is absent. A key stored
	// with an empty value is told from an absent one by a cursor only
	// (hasKey), not by Get.
	Get(k []byte) []byte
	// Put sets k to v, overwriting any value; the transaction's later
	// reads see it.
	Put(k, v []byte) error
	// Delete removes k; deleting an absent key is not an error.
	Delete(k []byte) error
	// Cursor walks the bucket's keys in order, with the transaction's own
	// writes made before it was opened. Writing to the bucket while one of
	// its cursors or ForEach is in use is not supported: the store
	// collects what it changes, then writes.
	Cursor() kvCursor
	// ForEach calls fn for every key in order, stopping at fn's first error.
	ForEach(fn func(k, v []byte) error) error
	// NextSequence increments the bucket's sequence and returns the new
	// value (write transactions only). A rolled back transaction's
	// increments are undone with it.
	NextSequence() (uint64, error)
	// Sequence is the bucket's sequence as last set.
	Sequence() uint64
	// KeyN counts the keys; the full check compares each index's size with
	// its records.
	KeyN() int
	// FillAtEnd says this transaction's new keys sort after every key in
	// the bucket (time-ordered ids, a counting index): an engine that packs
	// its pages may fill them for appending. It changes no result.
	FillAtEnd()
}

// kvCursor is an ordered walk over one bucket. Each method returns the key
// and value it lands on, or a nil key past the last one.
type kvCursor interface {
	// First moves to the first key.
	First() (k, v []byte)
	// Seek moves to k, or to the first key after it when k is absent.
	Seek(k []byte) (key, v []byte)
	// Next moves to the key after the current one.
	Next() (k, v []byte)
}
