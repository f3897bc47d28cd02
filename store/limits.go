package store

// What keeps the transactions that grow with the data under etcd's limits
// on one Txn (etcdMaxOps operations, etcdMaxBytes; kv_etcd.go). A group
// commit already splits its calls between Txns, but never one call's
// writes: a call that alone passes the limits fails. So the calls whose
// writes grow with what the store holds (the sweeps of expired jobs and
// sign-in records) take a bounded share on etcd, and the migrations, one
// transaction each on bbolt, commit in parts (etcd_parts.go). All of them
// are resumable: what a part or a batch did not reach, the next run does.

// etcdCallWrites bounds the writes of one call that grows with the data
// on etcd: half a Txn, so the call shares its group commit with the small
// writes of API calls rather than taking a Txn of its own.
const etcdCallWrites = etcdMaxOps / 2

// EtcdEnvsPerCall is the most environments one call may hold on a store
// in etcd. RemoveAllBackends holds every environment of its app in the
// transaction that accepts it, whole or not at all, beside its job's own
// writes; past etcd's limit on one Txn that call could never commit, so it
// is refused, naming the limit, before anything is written. The margin
// under etcdMaxOps is the job's writes (its record, indexes, the app).
const EtcdEnvsPerCall = 100

// EtcdResourcesPerClone is the most storage resources of one environment
// CloneBackend may copy on a store in etcd. The call records the copies,
// two writes each (the resource and its bucket's index entry), in the
// transaction that accepts it, whole or not at all, and so does the
// rollback that removes them; past etcd's limit on one Txn neither could
// commit, so the call is refused, naming the limit, before anything is
// written. The margin under etcdMaxOps is the job's writes and the two
// environments'.
const EtcdResourcesPerClone = 50

// jobRemovalWrites are the deletes of one expired job: its record, its
// newest-first index entry and its pending entry.
const jobRemovalWrites = 3

// signInRemovalWrites are the most deletes of one expired sign-in record:
// a session and its index entry (a challenge is one delete).
const signInRemovalWrites = 2

// boundedOnEtcd returns n, or on etcd the most of n items, each of per
// writes, that fit etcdCallWrites.
func boundedOnEtcd(onEtcd bool, n, per int) int {
	if !onEtcd {
		return n
	}
	return max(1, min(n, etcdCallWrites/per))
}
