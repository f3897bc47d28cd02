package store

import (
	"errors"
	"fmt"
)

// The error classes of this package. Every error a Store or Tx method returns
// for a caller mistake wraps exactly one of them; those a client can meet
// are also typed (NotFoundError, ResourceExistsError, BucketTakenError), and
// carry what the API layer needs to phrase them, never the words of the
// answer. Anything else is an internal failure.
var (
	// ErrNotFound: the app, environment, resource, job or sign-in record
	// does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a record with that identity is already stored.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the change collides with another one (a job is already
	// running for the resource, the bucket belongs to another resource, the
	// job is no longer in a state that allows it).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input cannot be stored as given.
	ErrInvalid = errors.New("invalid")

	// ErrDamaged: the store file is not as bbolt and this package wrote it
	// (a torn or flipped page, a record whose checksum fails, an index that
	// disagrees with its records). Open refuses such a file; at run time a
	// read that meets damage returns it instead of crashing the process.
	// It is never a caller mistake: the API answers InternalFailure.
	ErrDamaged = errors.New("store damaged")
	// ErrDataLost: the store file is readable but holds less than it
	// provably held (emptied, deleted, truncated, an older copy, another
	// store put in its place). Open refuses it rather than serve a store
	// that forgot accepted work as if it were new.
	ErrDataLost = errors.New("store lost data")
	// ErrCopyIncomplete: the etcd prefix holds part of a store that a
	// copy from a bbolt file (CopyToEtcd, amplifybackendd migrate) has not
	// finished. OpenEtcd refuses it; running the copy again completes it.
	ErrCopyIncomplete = errors.New("store copy incomplete")

	// ErrUnavailable: the store could not answer in time, and nothing the
	// call meant to write is known to have been written: etcd did not
	// answer within the request timeout, has no leader or quorum, refused
	// the connection, or the commit kept losing to other writers. It is
	// never the caller's mistake nor a bug: the same call may succeed once
	// the cluster is back, so the API answers it as a retryable timeout.
	// A commit that timed out may still have applied (etcd's Txn is whole
	// or nothing, but its answer was lost): retries meet what it wrote.
	ErrUnavailable = errors.New("store unavailable")
	// ErrSchemaMoved: the store on etcd is at a schema this binary does
	// not write, or a newer release is migrating it. A replica of the
	// older release must neither write in the layout the newer one no
	// longer reads nor read a layout it does not know, so every call fails
	// with this error (wrapped with ErrUnavailable: another replica may
	// answer it) and /readyz says why.
	ErrSchemaMoved = errors.New("store migrated by a newer release")
)

// Kind is a kind of thing a caller names: what a NotFoundError says is
// missing.
type Kind int

const (
	// KindApp is an app; it exists through the jobs recorded in it.
	KindApp Kind = iota + 1
	// KindEnv is an environment of an app, which exists the same way.
	KindEnv
	// KindResource is a storage resource.
	KindResource
	// KindJob is a job.
	KindJob
	// KindChallenge is a sign-in challenge, named by its session id.
	KindChallenge
	// KindSession is a sign-in session, named by its access key id.
	KindSession
)

// NotFoundError says what is missing: its kind and its names. The API
// layer phrases it, and reports the kind as NotFoundException's
// resourceType.
type NotFoundError struct {
	Kind Kind
	// AppID and Env place what is missing (for an app, Env is empty);
	// Name is the resource's name or the job's id.
	AppID, Env, Name string
}

func (e *NotFoundError) Error() string {
	switch e.Kind {
	case KindApp:
		return fmt.Sprintf("app %q not found", e.AppID)
	case KindEnv:
		return fmt.Sprintf("environment %q of app %q not found", e.Env, e.AppID)
	case KindResource:
		return fmt.Sprintf("storage resource %q in environment %q of app %q not found", e.Name, e.Env, e.AppID)
	case KindChallenge:
		return fmt.Sprintf("sign-in challenge %q not found", e.Name)
	case KindSession:
		return fmt.Sprintf("sign-in session %q not found", e.Name)
	}
	return fmt.Sprintf("job %q not found", e.Name)
}

// Is makes errors.Is(err, ErrNotFound) true for every NotFoundError.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ResourceExistsError is a create of a resource that is already stored.
type ResourceExistsError struct {
	Resource ResourceKey
}

func (e *ResourceExistsError) Error() string {
	return fmt.Sprintf("storage resource %q in environment %q of app %q already exists", e.Resource.Name, e.Resource.Env, e.Resource.AppID)
}

// Is makes errors.Is(err, ErrAlreadyExists) true.
func (e *ResourceExistsError) Is(target error) bool { return target == ErrAlreadyExists }

// BucketTakenError is a create of a resource whose bucket another resource
// already uses.
type BucketTakenError struct {
	Bucket string
	// Owner is the resource that uses it.
	Owner ResourceKey
}

func (e *BucketTakenError) Error() string {
	return fmt.Sprintf("bucket %q is used by storage resource %q in environment %q of app %q", e.Bucket, e.Owner.Name, e.Owner.Env, e.Owner.AppID)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *BucketTakenError) Is(target error) bool { return target == ErrConflict }

// classed is an error of class that no caller is meant to meet: an
// invariant the code above the store keeps (names without NUL, a
// resource's bucket fixed, job ids unique, one owner per role). It has no
// type of its own, so the API answers it as an internal failure.
func classed(class error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", class, fmt.Sprintf(format, args...))
}
