package jobs

import (
	"fmt"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// The errors a call the runner accepts or refuses can meet, each typed with
// what it concerns so the API layer can phrase it (its error catalog holds
// the words a client reads). Each is also of a store error class, so code
// that only asks "invalid or conflict?" keeps working with errors.Is.

// PermissionError is a permission element that is not one of policy's.
type PermissionError struct {
	// Field is the request field that held it.
	Field, Value string
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("%s: %q is not a permission", e.Field, e.Value)
}

// Is makes errors.Is(err, store.ErrInvalid) true.
func (e *PermissionError) Is(target error) bool { return target == store.ErrInvalid }

// BucketNameError is a bucket name that breaks one of S3's naming rules.
type BucketNameError struct {
	Name string
	// Rule is the rule it breaks, as S3 states it ("must not contain two
	// adjacent periods").
	Rule string
}

func (e *BucketNameError) Error() string { return fmt.Sprintf("bucket name %q %s", e.Name, e.Rule) }

// Is makes errors.Is(err, store.ErrInvalid) true.
func (e *BucketNameError) Is(target error) bool { return target == store.ErrInvalid }

// PendingJobError is a change to a resource while one of its jobs is still
// RUNNING: one job at a time per resource.
type PendingJobError struct {
	Resource store.ResourceKey
	// Job is the id of the pending job.
	Job string
}

func (e *PendingJobError) Error() string {
	return fmt.Sprintf("storage resource %q in environment %q of app %q has job %s pending", e.Resource.Name, e.Resource.Env, e.Resource.AppID, e.Job)
}

// Is makes errors.Is(err, store.ErrConflict) true.
func (e *PendingJobError) Is(target error) bool { return target == store.ErrConflict }

// NotRunningError is a cancel of a job that has already settled.
type NotRunningError struct {
	Job    string
	Status store.Status
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("job %s is %s, not RUNNING", e.Job, e.Status)
}

// Is makes errors.Is(err, store.ErrConflict) true.
func (e *NotRunningError) Is(target error) bool { return target == store.ErrConflict }

// OperationMismatchError is an UpdateBackendJob call that names another
// operation than the job's.
type OperationMismatchError struct {
	Job string
	// Operation is what the call named, JobOperation what the job is.
	Operation, JobOperation store.Operation
}

func (e *OperationMismatchError) Error() string {
	return fmt.Sprintf("job %s is a %s job, not %s", e.Job, e.JobOperation, e.Operation)
}

// Is makes errors.Is(err, store.ErrInvalid) true.
func (e *OperationMismatchError) Is(target error) bool { return target == store.ErrInvalid }

// StatusNotSettableError is an UpdateBackendJob call that sets a status a
// client may not set: only CANCELLED is.
type StatusNotSettableError struct {
	Status store.Status
}

func (e *StatusNotSettableError) Error() string {
	return fmt.Sprintf("status %s cannot be set by a client", e.Status)
}

// Is makes errors.Is(err, store.ErrInvalid) true.
func (e *StatusNotSettableError) Is(target error) bool { return target == store.ErrInvalid }

// TooManyEnvironmentsError is a RemoveAllBackends of an app with more
// environments than one call may hold on a store in etcd
// (store.EtcdEnvsPerCall).
type TooManyEnvironmentsError struct {
	AppID      string
	Count, Max int
}

func (e *TooManyEnvironmentsError) Error() string {
	return fmt.Sprintf("app %q has %d environments; RemoveAllBackends holds at most %d on a store in etcd", e.AppID, e.Count, e.Max)
}

// Is makes errors.Is(err, store.ErrInvalid) true.
func (e *TooManyEnvironmentsError) Is(target error) bool { return target == store.ErrInvalid }

// TooManyResourcesError is a CloneBackend of an environment with more
// storage resources than one call may copy on a store in etcd
// (store.EtcdResourcesPerClone).
type TooManyResourcesError struct {
	AppID, Env string
	Count, Max int
}

func (e *TooManyResourcesError) Error() string {
	return fmt.Sprintf("environment %q of app %q has %d storage resources; CloneBackend copies at most %d on a store in etcd", e.Env, e.AppID, e.Count, e.Max)
}

// Is makes errors.Is(err, store.ErrInvalid) true.
func (e *TooManyResourcesError) Is(target error) bool { return target == store.ErrInvalid }
