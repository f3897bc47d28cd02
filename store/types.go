package store

import (
	"time"
)

// Status is where a job stands in its lifecycle. The strings are the ones the
// AmplifyBackend API puts on the wire.
type Status string

const (
	// StatusRunning means accepted and not yet finished: queued, executing, or
	// interrupted by a restart. Only the job executor moves a job out of it,
	// except for a client cancel through UpdateBackendJob.
	StatusRunning Status = "RUNNING"
	// StatusCompleted is final: the target matches the accepted change.
	StatusCompleted Status = "COMPLETED"
	// StatusFailed is final: a permanent error or a spent retry budget; the
	// job's Error says which step failed and what the target answered.
	StatusFailed Status = "FAILED"
	// StatusCancelled is final for the client: a client asked for it while
	// the job was RUNNING. The executor may still be undoing the partial
	// change (Job.Undo) before it drops the job from the pending index.
	StatusCancelled Status = "CANCELLED"
)

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusRunning, StatusCompleted, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Operation names the API call that created a job; the names are the API's
// own operation names because GetBackendJob reports them verbatim.
type Operation string

// The operations that run as jobs.
const (
	OpCreate Operation = "CreateBackendStorage"
	OpImport Operation = "ImportBackendStorage"
	OpUpdate Operation = "UpdateBackendStorage"
	OpDelete Operation = "DeleteBackendStorage"

	OpCreateBackend     Operation = "CreateBackend"
	OpCloneBackend      Operation = "CloneBackend"
	OpDeleteBackend     Operation = "DeleteBackend"
	OpRemoveAllBackends Operation = "RemoveAllBackends"
)

// Valid reports whether o is an operation that runs as a job.
func (o Operation) Valid() bool {
	return o.Whole() || o == OpCreate || o == OpImport || o == OpUpdate || o == OpDelete
}

// Whole reports whether o works on a whole environment (or, for
// RemoveAllBackends, every environment of an app) rather than on one
// storage resource: its job names no resource and holds the environment.
func (o Operation) Whole() bool {
	switch o {
	case OpCreateBackend, OpCloneBackend, OpDeleteBackend, OpRemoveAllBackends:
		return true
	}
	return false
}

// Phase says what the desired state of a resource is while a job moves the
// target towards it.
type Phase string

const (
	// PhaseCreating: the first create or import job has not finished yet.
	PhaseCreating Phase = "CREATING"
	// PhaseActive: the resource exists; its permissions may be changing.
	PhaseActive Phase = "ACTIVE"
	// PhaseDeleting: a delete job is removing what this service wrote.
	PhaseDeleting Phase = "DELETING"
	// PhaseRemoving: a failed or cancelled create is being undone; the
	// resource is hidden from reads but still holds its name and bucket.
	PhaseRemoving Phase = "REMOVING"
)

// ResourceKey identifies a storage resource.
type ResourceKey struct {
	AppID string
	Env   string
	Name  string
}

// Permissions are the Amplify permission elements for both kinds of user, as
// accepted by the API (already validated, duplicates removed, sorted).
type Permissions struct {
	Authenticated   []string `json:"authenticated,omitempty"`
	Unauthenticated []string `json:"unauthenticated,omitempty"`
}

// Equal reports whether p and o grant the same elements.
func (p Permissions) Equal(o Permissions) bool {
	return equalStrings(p.Authenticated, o.Authenticated) && equalStrings(p.Unauthenticated, o.Unauthenticated)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Resource is a storage resource: what the client asked for (desired) and
// what the last successful job applied.
type Resource struct {
	ResourceKey
	Bucket   string
	Imported bool
	// Desired is what the latest accepted call asked for.
	Desired Permissions
	// Applied is what the last COMPLETED job made true on the target; nil
	// before the first job completes.
	Applied *Permissions
	Phase   Phase
	// ActiveJob is the job that holds the resource; empty when none. At most
	// one job per resource runs at a time.
	ActiveJob string
	// CreatedBucket is true when this service created the bucket (so the
	// operator may let deletes remove it); never true for imports.
	CreatedBucket bool
	// Warnings from the last completed job (optional settings the target
	// does not implement, role policies that could not be written).
	Warnings   []string
	CreateTime time.Time
	UpdateTime time.Time
}

// Visible reports whether API reads should show the resource.
func (r Resource) Visible() bool { return r.Phase != PhaseRemoving }

// Job is one asynchronous change to a resource.
type Job struct {
	ID        string
	AppID     string
	Env       string
	Resource  string
	Operation Operation
	Status    Status
	// Error is the reason a job FAILED, the warnings a job COMPLETED with,
	// or what a cancel could not undo.
	Error string
	// Undo is true while the executor is reverting a cancelled or failed
	// change; the job stays in the pending index until the undo is done.
	Undo bool
	// BucketRequested records that the executor has asked the target to
	// create the bucket and may have made it, so a restart between
	// CreateBucket and tagging can still recognise the bucket as its own
	// (if it is as fresh as CreateBucket leaves it). It is cleared when the
	// target shows the bucket is someone else's, so no rollback removes it.
	BucketRequested bool
	Warnings        []string
	CreateTime      time.Time
	UpdateTime      time.Time

	seq uint64
}

// Key returns the key of the resource the job changes.
func (j Job) Key() ResourceKey { return ResourceKey{AppID: j.AppID, Env: j.Env, Name: j.Resource} }

// Pending reports whether a worker still owes this job work.
func (j Job) Pending() bool { return j.Status == StatusRunning || j.Undo }
