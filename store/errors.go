package store

import (
	"errors"
	"fmt"
)

// The error classes of this package. Every error a Store or Tx method returns
// for a caller mistake wraps exactly one of them, so the API layer can map a
// class to an AWS error in one place; anything else is an internal failure.
var (
	// ErrNotFound: the app, environment, resource or job does not exist.
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
)

// NotFoundError says which kind of thing is missing; the API reports it as
// NotFoundException's resourceType.
type NotFoundError struct {
	// ResourceType is the API's word for what is missing: "app",
	// "backendEnvironment", "storage" or "job".
	ResourceType string
	Message      string
}

func (e *NotFoundError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrNotFound) true for every NotFoundError.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

func notFound(kind, format string, args ...any) error {
	return &NotFoundError{ResourceType: kind, Message: fmt.Sprintf(format, args...)}
}

// ClassError is an error of one class with a message meant for API clients.
// Callers may wrap it; the API layer finds it with errors.As and shows only
// Message, so context added for logs never leaks into answers.
type ClassError struct {
	Class   error
	Message string
}

func (e *ClassError) Error() string { return e.Message }

// Is makes errors.Is(err, e.Class) true.
func (e *ClassError) Is(target error) bool { return target == e.Class }

// Errorf returns a ClassError of class with a formatted client message. Other
// packages use it for their own rule violations so they map the same way.
func Errorf(class error, format string, args ...any) error {
	return &ClassError{Class: class, Message: fmt.Sprintf(format, args...)}
}

func classed(class error, format string, args ...any) error { return Errorf(class, format, args...) }
