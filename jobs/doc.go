// Package jobs turns accepted storage changes, and changes to whole
// environments, into asynchronous jobs and executes them against S3 and IAM.
//
// # Accepting
//
// Create, Import, Update and Delete validate the domain rules (bucket names,
// permission elements), then write the job and the resource change it implies
// in one store transaction, inside which "one job per resource" is enforced.
// Only after that commit does the API answer, so an answered call survives
// kill -9; the in-memory queue is just a hint, the store's pending index is
// the truth.
//
// CreateBackend, CloneBackend, DeleteBackend and RemoveAllBackends
// (envops.go) hold the environments they work on (store.Environment's
// holding job; the app's for RemoveAllBackends) from acceptance to the end:
// no storage job is accepted in a held environment, and none of them is
// accepted while a storage job runs in it, both checked in the transaction
// that inserts the job. They change the target only through the storage
// jobs' own steps, per resource: a DeleteBackend removes each resource as
// DeleteBackendStorage would, recording each removal as it goes, then
// takes the environment's document off its roles (inline and managed
// policies, attached or not) and deletes the roles where this service
// created them (their owner tag) and nothing else uses them; a CloneBackend records the target's resources
// at acceptance (a derived bucket for each one the service created, the
// same bucket for each import) and provisions each as a create or import
// would. A failed or cancelled clone is rolled back in reverse before it
// settles, leaving no target; a cancelled delete puts the resources it has
// not removed back as they were.
//
// # Executing
//
// A pool of workers (Config.Workers, which also bounds concurrent calls to the
// target) runs each job through reconcile steps (steps.go). How many of them
// execute at once, up to Config.Workers, follows the target (limit.go): the
// limit starts at 2, rises while the target gets as much done per second,
// falls when more at once gets less done, and halves when the target
// throttles. Every step reads
// the target's current state, compares it with the resource's desired state
// and writes only on drift, so running a step twice is harmless and a restart
// simply runs the job again from the top. Step errors are classified in one
// place (s3iam.Classify): transient ones are retried with capped exponential
// backoff and full jitter, permanent ones end the job; settings the target does
// not implement become warnings. Runner.Retries counts the retried attempts,
// so a target that keeps failing shows before any job fails for it.
//
// Beside the workers, the runner removes finished jobs older than
// Config.JobRetention (retention.go, through store.SweepJobs) at start and
// then every tenth of the retention; between its small transactions it
// waits for API calls in flight to ease, as the workers do.
//
// A panic is a failed attempt like any other, never a reason to stop the
// process or hold a resource: inside a step it is retried within the step's
// budget, between steps the whole phase runs again (the steps are
// reconciles), and in the executor's own bookkeeping the execution starts
// again from the stored state. When the budget is spent the job FAILS with
// "internal error in step X: panic: ..." and releases its resource; the log
// has the stack.
//
// # Replicas
//
// Several replicas may share one store in etcd (store.Shared). Every
// replica runs workers; a worker claims a job (store.ClaimJob, under the
// replica's lease) only once it is free to execute it, so the work spreads
// over the replicas that have free workers, and executes it under the
// claim (claims.go). Every state write of the executor (settle,
// settleWhole, recordBucketRequest, a whole-environment job's progress)
// goes through writeState, fenced on the claim: a replica that lost its
// claim writes nothing (store.ErrFenced) and stops executing the job. The
// claim is released when the execution ends, a soft stop included, so
// another replica takes the job over at once.
//
// When the replica's lease term ends (it could not renew it in time), the
// context of every execution ends at once (errLeaseLost): no state write,
// and no claim until the store has a new lease. Each request to the target
// is sent only while the claim's lease is live by the clock
// (store.Claim.Held, s3iam.WithGate), so a replica resumed after a stall
// past its lease sends nothing more, even before that cancel has run. Every LeaseTTL/4 a scan
// queues the pending jobs no replica claims (those a dead replica held,
// once its lease expired, and those accepted elsewhere and not yet taken)
// and interrupts each phase in flight whose job's status changed since it
// began: a cancel accepted by another replica is then undone here, as a
// local one is. Recovered closes once Run has queued what the first look
// found unclaimed. On bbolt claims are free and always granted, and there
// is no scan.
//
// # Buckets
//
// A create job owns the bucket it made and nothing else. Before CreateBucket
// it records that it is about to create the bucket (Job.BucketRequested).
// If the target then answers BucketAlreadyOwnedByYou, someone else with our
// credentials made the bucket after our HeadBucket found none: it is
// foreign, the job fails, the record is cleared, and neither the job nor its
// rollback touches the bucket. Only when the answer was lost (the process
// died or the connection broke after the record) may the job take the
// bucket it then finds as its own, and only while it has no tags, no bucket
// policy and no objects; the rollback of a failed or cancelled create
// removes an untagged bucket under the same rule, and one with our owner
// tag only if it is empty. Targets that answer success to creating a bucket
// already owned (Ceph RGW, AWS in us-east-1) cannot reveal that race.
//
// A bucket removed behind a resource's back does not hold the resource: a
// delete finds nothing of ours left in it and completes (with a warning),
// while an update fails saying the bucket is gone and what the client can
// do about it.
//
// # State
//
// Job states (store.Status) move only through the two transitions in
// state.go, each a conditional write of the job and its resource in one
// transaction: settle, the executor's, only if both are still as the
// execution read them; cancelIfRunning, a client's, only if the job is
// RUNNING. A failed create is rolled back (its bucket removed if this service
// made it and it is empty) before the job reports FAILED, so the client can
// retry at once. A client cancel (UpdateBackendJob) marks the job CANCELLED
// immediately, aborts the step in flight, and the executor then undoes the
// partial change before it releases the resource. Stopping the runner is soft:
// executions are abandoned without a state write and resume on the next start
// (or on another replica).
//
// # Roles
//
// Each environment writes its grants to two IAM roles (authenticated users
// and guests), one document per role holding every resource's grants
// merged, in the role's inline policy and, for what does not fit there,
// managed policies (envpolicy.go: written under the environment's lock,
// replacing the per-resource policies of earlier releases; the store's
// mark per role bounds which managed policies a job looks for to delete,
// so a role that never needed one costs no IAM read). Which roles is decided on the
// environment's first job and recorded in the store (roles.go), each name
// claimed for its environment and kind case-insensitively, as IAM compares
// role names; afterwards the record is what every job uses, so neither a new
// release's naming nor a changed template moves an environment whose
// identity pool already trusts its roles.
//
//   - A new environment gets RoleName's names: the template's plain
//     expansion when no other pair can expand to it in any case (lowercase
//     letters and digits, placeholders separated), else the expansion
//     followed by a hash of the exact template, app id and environment. A
//     name already claimed (by an environment named by an earlier release)
//     is passed over for the hashed one.
//   - An environment that had resources before names were recorded
//     (store.LegacyEnv) keeps LegacyRoleName's names, the ones its roles
//     have. Where two such environments came to share a role (app "a-b"
//     environment "c" and app "a" environment "b-c"; "App" and "app"), Run
//     records the older first and it keeps the role; every job of the other
//     fails, naming both owners, and writes nothing to it.
//
// Roles this service creates carry tags naming their environment and kind
// (OwnerTag exactly, AppTag, EnvTag and RoleTag readably). Before writing to
// a role a job reads them: a role tagged for another environment, say by
// another installation with its own store, fails the job naming both; a role
// without our tags (made by an earlier release or by other tooling) is used
// as the store records it.
//
// Every log line of a job's execution carries its job_id, operation,
// app_id and env (jobLogger), so one search finds a job's whole story.
// Config.Metrics counts jobs accepted, finished (by final status, with
// their duration from acceptance) and retried; State reports the RUNNING
// jobs, the oldest one's age and the queue at each scrape.
package jobs
