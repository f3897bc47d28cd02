// Package store keeps storage resources and jobs in a single bbolt file
// (Open), or in etcd, shared by replicas (OpenEtcd).
//
// It is the only package that knows the on-disk layout. Callers work with the
// domain records Resource and Job; their encoding is private. Several
// operations that must commit together (a job and the resource change it
// implies) are grouped in one transaction through Store.Batch and the Tx
// methods, so an accepted API call is durable before it is answered.
//
// Every record, index and migration reads and writes through a small
// key-value layer (kv.go), described below; bbolt and etcd (kv_etcd.go)
// are its engines, and no type of either leaves the package.
//
// Schema (buckets of the key-value layer, keys and values below them):
//
//	meta/
//	  "schema"        -> uint64 big-endian: the schema version (see migrations)
//	  "token-key"     -> sealed 32 random bytes: MAC key for pagination tokens
//	  "store-id"      -> sealed 16 random bytes: which store this file is
//	  "copying"       -> in etcd only, while a copy from a file is unfinished:
//	                     the copied store's id, sealed as "store-id" (etcdcopy.go)
//	by-env/                                  (each environment's keys side by side: envtree.go)
//	  app \x00 env \x00 'e' -> sealed: format byte, holding job id, flags (creating), creation time
//	  app \x00 env \x00 'j' ^seq (8 bytes, big-endian) -> jobID   (index: newest first per app/env)
//	  app \x00 env \x00 'r' name -> sealed binary Resource record (codec.go)
//	  app \x00 \x00 'j' ^seq -> jobID of a job of the whole app (RemoveAllBackends)
//	buckets/                                 (index: the resources of each S3 bucket)
//	  bucketName      -> resource key (app \x00 env \x00 name) of the resource that created it
//	  bucketName \x00 resource key -> resource key, for each resource that imported it
//	jobs/
//	  jobID           -> sealed binary Job record (codec.go)
//	pending/                                 (index: jobs a worker still owes work)
//	  jobID           -> empty
//	env-roles/                               (the IAM roles each environment uses)
//	  app \x00 env    -> format byte, auth role name, unauth role name
//	role-owners/                             (index: who each role name is claimed for)
//	  lower(role)     -> format byte, app, env, kind ("authenticated"/"unauthenticated")
//	legacy-envs/                             (environments whose names are still to be recorded)
//	  app \x00 env    -> format byte, oldest resource's creation time
//	challenges/                              (sign-in challenges, CreateToken)
//	  sessionId       -> sealed binary Challenge record (signin.go)
//	sign-in-sessions/                        (temporary credentials a challenge was exchanged for)
//	  accessKeyId     -> sealed binary SignInSession record (signin.go)
//	sessions-by-challenge/                   (index: the sessions each challenge issued)
//	  sessionId \x00 accessKeyId -> empty
//	apps/                                    (apps CreateBackend named)
//	  app             -> sealed: format byte, name, holding job id, flags (clean), creation time
//	managed-marks/                           (the managed policies each environment role may hold)
//	  app \x00 env \x00 kind -> sealed: format byte, uvarint highest policy number (marks.go); absent: 0
//
// App ids, environment and resource names never contain NUL (Tx methods
// refuse them with ErrInvalid), so NUL separates key parts unambiguously.
// by-env/ keeps an environment's record ('e'), its job index ('j') and
// its resources ('r') next to each other under the environment's prefix,
// so the create of a resource in a new environment, whose three keys land
// together, dirties one leaf of that tree, where it dirtied one in each
// of three trees before schema 8 (resources/, envs/, jobs-by-env/):
// names sent in no order put those leaves anywhere, and every leaf a
// group commit dirties is a page written. The tags sort the record first
// and the resources last, so the walks over environments (Environments,
// Resources of a whole app, Scopes) read what they need of each and seek
// past the rest: they cost the number of environments, not of jobs.
//
// ^seq is the bitwise complement of a number taken when the job is
// inserted (NextSequence: on bbolt the store's job sequence, on etcd each
// replica's clock in microseconds, kept unique by the index key read
// absent): ascending key order is then newest-first, which is the order
// ListBackendJobs pages in. The pending index holds only jobs that are
// RUNNING or still undoing a cancelled or failed change, so start-up
// recovery reads it instead of scanning every finished job.
//
// An environment's role names are written once (Tx.RecordEnvRoles), together
// with their claims in role-owners/, which is keyed by the lower-cased name
// because IAM role names are case-insensitive: no name is ever claimed for
// two environments, or for both roles of one. Records are never removed, so
// an environment keeps its roles whatever happens to its resources.
//
// Sealed means followed by a CRC-32C of what comes before: bbolt checksums
// only its meta pages, so a flipped bit in a record would otherwise be
// served as data.
//
// Migrations (store.go) run in order at Open: 1 creates the buckets and the
// token key; 2 rewrote the JSON records of version 1 in the binary form,
// which reads several times faster (codec_v1.go keeps the old decoder for it);
// 3 seals every record and the token key and gives the store its id; 4
// (roles.go) creates the role buckets and marks every environment that has
// resources in legacy-envs/: its roles were named by the releases before
// names were recorded, and the job layer records those names (oldest
// environment first) instead of choosing new ones; 5 (signin.go) creates
// the sign-in buckets; 6 (envs.go) creates
// apps/ and envs/, records every environment that has a resource or
// recorded roles, and re-keys imported buckets' index entries (a bucket
// one resource created is that resource's alone; one bucket may be
// imported into several environments); 7 (marks.go) creates
// managed-marks/ and marks both roles of every environment with 10, as
// any of the managed policies a role may hold could have been created
// by a release that kept no mark; 8 (envtree.go) moves every
// environment record, resource and job index entry of envs/, resources/
// and jobs-by-env/ into by-env/, each only where it is missing, and drops
// those trees. A page token of ListBackendJobs handed out before 8 (a
// key of jobs-by-env/) goes on from the same place.
//
// An environment exists while its record in by-env/ does: CreateBackend and
// CloneBackend write it, and so does CreateResource for the first
// resource of an environment (in the same transaction; the full check
// refuses a resource whose environment is not recorded); DeleteBackend
// and RemoveAllBackends remove it. Its holding job id names the
// whole-environment job in progress, under which no job is accepted on
// its resources; an app's holding job (RemoveAllBackends) holds all of
// its environments.
//
// A sign-in challenge is kept after its one exchange, marked used, while
// sessions issued from it live, so deleting it still ends them; sessions
// are written with their index entry in one transaction and removed with
// it. SweepSignIns removes expired sessions, then expired challenges that
// issued no live session. Both records hold secrets (the challenge code,
// the session's secret key), one reason the file is kept at mode 0600.
//
// Beside the file, path + ".id" is the identity record (identity.go): the
// store id, and a transaction id and size the file provably reached,
// written atomically at Open, every 10 s while writes commit, and at Close.
// Open refuses with ErrDataLost a file behind its record (missing, emptied,
// cut short, an older copy, another store), and with ErrDamaged a file bbolt
// would crash on (meta pages read and the size checked against the
// high-water mark before anything is mapped) or one that fails the check
// Options.Check asks for: bbolt's consistency check, every record's seal, and
// every index against its records (integrity.go). Nothing is written to a
// refused file; Options.AcceptLoss is the operator's explicit way past a
// refusal. Past FullCheckLimit the default runs that check right after Open
// instead (CheckBackground): reads are served meanwhile, writes wait for it
// (Checked), and damage it finds fails every write and Ping, so a damaged
// file is still never written. A full check then drops the file's pages
// from the process's mapping (the page cache keeps them), so resident
// memory does not hold the whole file. At run time every transaction runs with panics and memory faults
// recovered, so damage met later is an ErrDamaged error, logged, never a
// dead process. Backup copies the store in a read transaction while it
// serves; Verify and Restore check a copy and put it in place (backup.go).
//
// Writes that arrive together share a transaction and its fsyncs: Store.Batch
// hands them to one committer, which takes every write waiting when it
// starts a transaction (group commit). Production code writes only through
// Batch; the only other writer is Open, whose migrations run before the
// store is returned, and Store.Update (a transaction of its own) is for
// tests and tools that prepare a store. When one call of a group fails, the
// transaction is rolled back, that call gets its error and the others run
// again without it, so a function given to Batch may run more than once and
// must be pure apart from its writes through Tx (no counting, appending,
// queueing or calls outside the store: act on the outcome after Batch
// returns). Job ids are time-ordered (UUIDv7), so jobs/ and pending/ grow at
// their right edge, where their pages split full.
//
// Finished jobs expire (retention.go): SweepJobs walks jobs/ oldest first
// and removes, in transactions of a few hundred through Batch, the jobs
// neither pending nor updated since a cutoff, with their job index and
// pending/ entries. A resource's latest job is the first of its jobs in
// its environment's newest-first index (the highest ^seq complement), read
// from the index, not from the resource record, so a deleted resource's
// last job is kept too: its outcome stays readable, and CheckScope and
// Scopes, which know apps and environments only through their jobs, keep
// knowing them. A job number is never reused, so page tokens, which
// are index keys, keep their place among the entries left.
//
// # The key-value layer
//
// kvDB runs transactions; kvTx names buckets (Bucket, HasBucket,
// CreateBucket, DeleteBucket);
// kvBucket has Get, Put, Delete, Cursor, ForEach, NextSequence, Sequence,
// KeyN and the FillAtEnd hint; kvCursor has First, Seek and Next. Its
// contract, which testKVContract (kv_test.go) holds every engine to:
//
//   - A View sees one snapshot, taken at its first read at the latest:
//     nothing committed after it shows, in any bucket.
//   - An Update's writes are visible to its own later reads, Get and
//     cursors opened after them alike, and commit together when its
//     function returns nil; on an error every write, bucket created and
//     sequence taken is dropped, and the error is returned.
//   - Keys sort bytewise, a prefix before its extensions; Seek lands on
//     the key or the first after it, and a nil key means past the end.
//   - Get returns nil for an absent key; a key with an empty value (an
//     index entry) is told from an absent one by a cursor (hasKey).
//   - Nothing writes to a bucket while walking it: the store collects
//     the keys it changes, then writes (writes to other buckets during a
//     walk are allowed). Returned slices are the engine's until the
//     transaction ends; callers copy what they keep.
//   - NextSequence hands out numbers that grow within the process and
//     stay above the bucket's sequence; on bbolt it counts the sequence
//     up by one, never reused once committed; on etcd two replicas may
//     hand out one number, so a caller needing it unique writes it into a
//     key it read absent.
//   - A read open while a commit runs may make the commit wait (bbolt
//     remaps a file it grows), so no code waits for a write while it
//     holds a read.
//
// They are structs with a field per engine, not interfaces, so that the
// keys passed to them stay on the stack (kv.go says why).
//
// On etcd (kv_etcd.go, tested by TestKVEtcd against an embedded etcd; the
// store's own contract tests run on both engines, forEachEngine) it is
// expressed so: a bucket is the key range prefix + "/" + name + "/",
// and its sequence the value of its marker key prefix + "/" + name,
// which exists while the bucket does. Transactions read a mirror of the
// prefix kept in the process (mirror.go, below), not the cluster: a
// transaction's first read takes an immutable copy of it at one revision,
// and a cursor pages through the bucket's range in that copy in key
// order. An Update buffers its writes in an ordered write set that Get
// and cursors consult first: a cursor merges the range it reads with the
// set's puts and deletes, key by key. It commits as one Txn whose Then
// holds the writes and a put of the commit key (prefix + "/"), and whose
// If says that what it read is as it read it: each key read has the mod
// revision it had in the copy (0 for a key read absent, so one made since
// fails the compare, and one deleted since too), and no key in a range a
// cursor walked (from where it started to the last key it returned, or
// the bucket's end) was written after the copy's revision, which catches
// a key added to it; a walked key deleted was read, so compared. Two
// replicas writing different keys then commit side by side, as bbolt's
// writer would have run them one after the other, and only transactions
// that read what another wrote take turns. When the compares would pass
// etcd's 128 per Txn, or a read was too wide to say key by key (KeyN, a
// test for an empty prefix), the one compare covering them all is used:
// the commit key not written after the copy's revision. A group commit
// stops taking calls when its compares would pass the limit, as it does
// for writes. A transaction that lost the race fails whole, waits until
// the mirror holds the commit it lost to (the commit key's mod revision,
// read in the failed Txn's Else), and runs again on a new copy, as Batch
// already runs again a group that failed; after 64 lost attempts (each one
// Txn, the reads being local) the Update fails (errContended), having
// written nothing. An Update that writes nothing (a refusal drawn from
// what it read) stands when one Txn of the same compares, with no writes,
// succeeds, and runs again otherwise. NextSequence does not count a
// sequence key every replica would read and write (every two accepts of
// different replicas would conflict on it): it takes a number from the
// process's clock (etcdBucket.nextSequence). That the guards make the
// commits serializable is tested under contention by three replicas over
// one prefix (serializable_test.go): a bank whose money, audits, phantom
// bound and last account survive lost updates, stale walks and deletes a
// walk missed; write skew through point reads and through a walk; and
// accepts racing for the same resources and buckets.
// Each request is bounded by a timeout, the layer taking no context; a
// read that cannot be answered in time answers nil and fails its
// transaction. A request the cluster did not answer (the timeout spent,
// no leader or quorum, the connection refused or lost) and a commit that
// kept losing fail with ErrUnavailable wrapping etcd's error
// (unavailable.go), which the API answers as a retryable 504. A group
// commit stops taking calls when its buffered writes reach 127 operations
// or 1 MiB (etcd's defaults are 128 per Txn and 1.5 MiB per request): the
// call that passed the limit is undone and starts the next Txn, never one
// call's writes split. A call too large alone fails alone; a group a
// server with lower limits refuses is split in halves. So the calls whose
// writes grow with the data take a bounded share of a Txn on etcd (the
// sweeps of jobs and sign-in records: limits.go), and each migration
// commits in parts, the schema version in the last and the deletes of
// the markers of buckets it drops just before (etcd_parts.go), which a
// stop between parts leaves to the next start to finish. KeyN counts
// the range in the copy; FillAtEnd does nothing.
//
// The mirror (mirror.go) is what the Kubernetes API server's watch cache
// is to it: OpenEtcd reads the whole prefix at one revision, paging, into
// a copy-on-write B-tree (github.com/google/btree, whose Clone is O(1)),
// and the watch of the prefix that follows other replicas' writes
// (follow.go) applies every change to it in revision order. A write is
// answered once the writer's mirror holds it, so a replica reads its own
// writes; a View first asks the cluster for the commit key's mod revision
// (one linearizable request) and waits until the mirror holds it, so it
// sees every write answered before it began, through any replica. A watch
// that breaks resumes after the last revision applied; one that cannot
// (etcd compacted what it missed) has the mirror loaded anew and swapped
// in, transactions waiting for it meanwhile, up to the request timeout,
// then failing with ErrUnavailable. An accept costs about ten reads; from
// the mirror they are memory reads instead of round trips made one after
// another inside the group commit (BenchmarkStoreBatchAcceptEtcd3 on a
// three-member cluster in one process: one store 275-290 accepts/s
// before, 1,500-1,900 after, raw unguarded Txns 1,600-1,700; three stores
// sharing the prefix 50-69 before, 800-1,150 after, on a shared machine
// whose load moves them by 2x: docs/benchmarks.md). The trade-off is
// memory: the mirror holds the whole prefix, about 1,400 bytes of heap per
// accepted create (a resource and its job with their index entries: 6
// keys, 550 bytes of keys and values; BenchmarkMirrorMemory, 10,000
// accepts), so 14 MB per 10,000 and 140 MB per 100,000 in every replica;
// retention (SweepJobs) bounds it with the job count.
//
// OpenEtcd opens a store on etcd: migrations (replicas starting together
// commit them once) and the record checks, no file checks. Its
// Generation follows the cluster (follow.go): a watch of the prefix
// advances it for every revision that changed the store, whoever wrote
// it, and this process's own commits advance it at once, so a replica's
// read cache drops what another replica made stale as soon as the watch
// delivers; while the watch is not known to deliver (not yet created,
// failed, or a progress request left unanswered for a request timeout)
// Generation changes on every call and nothing is reused. Ping asks the
// cluster for a read that needs its quorum (readiness). Backup answers
// an error on etcd.
//
// CopyToEtcd (etcdcopy.go; amplifybackendd migrate) moves a store from its
// file into etcd. It reads the file read-only, checked as Open checks it
// (a file at an older schema is migrated in a temporary copy), and
// reconciles key by key: each transaction, of at most 120 writes and under
// 1 MiB, compares a run of the file's keys and each bucket's sequence with
// etcd's and writes only what differs, so a second run writes nothing and
// an interrupted one is completed by the next. The first transaction puts
// meta/"copying", which OpenEtcd refuses (ErrCopyIncomplete) in the
// transaction that runs the migrations; the last compares every key at one
// revision and removes it only when nothing differs. A prefix holding
// another store or other keys is refused, and so is this store differing
// from the file once copied: a server may have written to it since.
//
// OpenEtcd, and the copy, refuse a prefix inside another store's or
// holding one (refuseNested): the keys of a store under P/jobs are keys of
// the jobs bucket of the store under P. OpenEtcd also refuses a prefix
// holding keys but neither a schema version nor a copy's mark
// (refuseForeign): another program's keys, which the migrations would
// otherwise read as records.
//
// # Claims and leases
//
// Replicas sharing a store in etcd split its jobs by claims (claims.go,
// claims_etcd.go). Each Store holds one etcd lease, granted at OpenEtcd and
// renewed every quarter of the TTL while the store is open; Close revokes
// it, so a replica stopped cleanly hands its jobs over at once, and one
// killed loses them when the lease expires, EtcdOptions.LeaseTTL after its
// last renewal. A term of the lease (Lease) ends three quarters of the TTL
// after the last renewal the server answered was sent: the server counts
// the TTL from when it received that renewal, later, so the term ends here
// before the server can expire the lease and another replica claim its
// jobs, however late the answer arrived (a process resumed after a stall
// finds old answers waiting); the store then revokes what may be left of
// the lease and takes a new one when it can.
//
// A claim (ClaimJob) is one Txn: if the claim key does not exist and the
// job is still in pending/, put the claim key, naming the owner, under the
// lease. The key's create revision identifies the claim. A fenced write
// (BatchFenced) joins group commits like any Batch call, and the group's
// Txn also compares each of its claims' keys with the create revision its
// writer holds; the Txn's Else reads those keys, so a commit that failed
// because a claim is gone (the lease ended: the key was deleted; or another
// replica claimed since: a new create revision) fails only the calls
// fenced on it, with ErrFenced and nothing written, while the others run
// again. A claim does not put the commit key: no transaction of the
// key-value layer reads claims, and the writes whose correctness rests on
// one compare it themselves, so bumping it would only make every
// transaction in flight run again. UnclaimedPending reads pending/ and the
// claims at one revision (one Txn of two range reads).
//
// The environments' role documents are written under a lock per
// environment (LockEnv), a key under the lease taken the same way; a
// waiter watches the key for its deletion. Beside it the lock holder keeps
// the environment's shares (what each job last wrote into the documents),
// written fenced on the lock, so the next holder on any replica writes the
// same. The claims' keys are outside every bucket (a bucket's name is never
// empty, so no bucket key starts with P//):
//
//	P//claim/jobID          owner; bound to the owner's lease
//	P//lock/app \x00 env    owner; bound to the holder's lease
//	P//shares/app \x00 env  JSON: resource name -> {job, perms}
//
// On bbolt one process holds the file's lock: a claim is granted at once
// and never lost, BatchFenced is Batch, and the environment locks and
// shares are in memory.
//
// What stays bbolt-only, and how each is expressed for etcd:
//
//   - The file-level checks: the meta pages and the size read before the
//     file is mapped (preflight), every page and branch key walked and
//     bbolt's Check (checkPages). etcd checks its own data (its hash
//     and corruption checks); the record checks (checkRecords: seals,
//     keys, every index against its records) run over the key-value
//     layer and serve both, before serving or behind the opening
//     (CheckBackground, checkBehind) alike.
//   - The identity record beside the file (identity.go), which catches a
//     file emptied, replaced or older than it was. On etcd the store id
//     in meta/ is compared with the one a replica was given, and etcd's
//     cluster id and revision take the place of the transaction id and
//     size: a replica refuses a cluster whose revision went back (one
//     restored from an older snapshot) below the highest it has seen.
//   - Backup, Verify and Restore copy and check the bbolt file. On etcd
//     they become etcd's snapshot save and restore, or a logical copy of
//     the prefix checked with checkRecords.
//   - Damage met at run time in the mapped file (guarded's recovered
//     panics and memory faults) does not arise with etcd, whose client
//     returns errors; a record whose seal fails is ErrDamaged on both.
//
// Index buckets are always written in the same transaction as the records
// they point to. Errors are wrapped into a few classes (ErrNotFound,
// ErrAlreadyExists, ErrConflict, ErrInvalid); those a client can meet are
// typed with what they concern (NotFoundError: which kind, which names;
// ResourceExistsError; BucketTakenError: which bucket, whose), and the API
// layer's error catalog phrases them. ErrDamaged and ErrDataLost are never
// a caller's mistake; nor is ErrUnavailable, a store on etcd that did not
// answer in time, which the same call may get past later.
package store
