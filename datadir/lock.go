package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Name is the lock file's name inside a data directory.
const Name = "amplifybackendd.lock"

// Holder describes the process holding a lock; it is what the lock file
// contains, one JSON object, so that a refused process can say whom to stop.
type Holder struct {
	// PID is the holding process's id.
	PID int `json:"pid"`
	// Started is when it took the lock.
	Started time.Time `json:"started"`
	// Command says what the holder is, e.g. "amplifybackendd, API on
	// 127.0.0.1:8080".
	Command string `json:"command,omitempty"`
}

// InUseError is Acquire's answer when another process holds the lock.
type InUseError struct {
	// Dir is the data directory.
	Dir string
	// Holder is what the lock file said; its PID is 0 when the file was
	// empty or unreadable (a holder that has not written it yet).
	Holder Holder
}

func (e *InUseError) Error() string {
	if e.Holder.PID == 0 {
		return fmt.Sprintf("data directory %s is in use by another process", e.Dir)
	}
	var what []string
	if e.Holder.Command != "" {
		what = append(what, e.Holder.Command)
	}
	if !e.Holder.Started.IsZero() {
		what = append(what, "since "+e.Holder.Started.UTC().Format(time.RFC3339))
	}
	msg := fmt.Sprintf("data directory %s is in use by process %d", e.Dir, e.Holder.PID)
	if len(what) > 0 {
		msg += " (" + strings.Join(what, ", ") + ")"
	}
	return msg
}

// Lock is a held data-directory lock. Release it when the process is done
// with the directory; process exit releases it too.
type Lock struct {
	f *os.File
}

// Acquire locks the existing directory dir for this process, recording
// command (what this process is) in the lock file. When another process
// holds it, the error is an *InUseError naming that process.
func Acquire(dir, command string) (*Lock, error) {
	path := filepath.Join(dir, Name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data directory: %s: %w", path, err)
	}
	if !held {
		defer f.Close()
		inUse := &InUseError{Dir: dir}
		// Best effort: a holder between taking the lock and writing its
		// details leaves the file empty, and the error says less.
		if raw, err := io.ReadAll(f); err == nil {
			_ = json.Unmarshal(raw, &inUse.Holder)
		}
		return nil, inUse
	}
	l := &Lock{f: f}
	if err := l.write(Holder{PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second), Command: command}); err != nil {
		l.Release()
		return nil, fmt.Errorf("lock data directory: write %s: %w", path, err)
	}
	return l, nil
}

func (l *Lock) write(h Holder) error {
	raw, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err = l.f.WriteAt(append(raw, '\n'), 0)
	return err
}

// Release gives the directory up. It is safe on a nil Lock, so a caller can
// release unconditionally on every path.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	// Closing the only descriptor drops the flock; the file stays (see the
	// package documentation).
	err := l.f.Close()
	l.f = nil
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("release data directory lock: %w", err)
	}
	return nil
}
