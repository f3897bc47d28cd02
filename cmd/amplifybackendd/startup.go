package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/amplifybackendd/amplifybackendd/datadir"
)

// listenAddr is one address the server listens on and the flag that chose
// it, so that a clash can tell the operator what to change.
type listenAddr struct{ flag, addr string }

// listenAddrs is every address this mode listens on: the API's first, then
// the metrics listener's when there is one, then the embedded gateway's.
func (c config) listenAddrs() []listenAddr {
	addrs := []listenAddr{{"listen", c.listen}}
	if c.metricsListen != "" {
		addrs = append(addrs, listenAddr{"metrics-listen", c.metricsListen})
	}
	if c.debugListen != "" {
		addrs = append(addrs, listenAddr{"debug-listen", c.debugListen})
	}
	if c.targetKind == "embedded" {
		addrs = append(addrs, listenAddr{"embedded-s3-listen", c.embeddedS3}, listenAddr{"embedded-iam-listen", c.embeddedIAM})
	}
	return addrs
}

// claim makes the data directory and the listen addresses this process's,
// in the order that leaves the least behind when it cannot: the lock of an
// existing directory first (a second server on it is the likelier mistake,
// and its ports clash too), then every address, and only then is a missing
// directory created and locked. A start refused for a port therefore leaves
// a new data directory absent.
//
// The listeners come back in the order of cfg.listenAddrs. The API's is
// served as is; Versity binds the embedded gateway's own addresses, so the
// caller closes those just before starting it (a probe that holds them until
// then, not a hand-over).
func claim(dataDir string, cfg config) (*datadir.Lock, []net.Listener, error) {
	lock, err := lockDataDir(dataDir, cfg.lockHolder())
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, nil, err
	}
	lns, err := listenAll(cfg.listenAddrs())
	if err != nil {
		lock.Release()
		return nil, nil, err
	}
	if lock == nil {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			closeAll(lns)
			return nil, nil, fmt.Errorf("create data dir: %w", err)
		}
		if lock, err = lockDataDir(dataDir, cfg.lockHolder()); err != nil {
			closeAll(lns)
			return nil, nil, err
		}
	}
	return lock, lns, nil
}

// lockHolder is what the data directory's lock says of the server.
func (c config) lockHolder() string { return "amplifybackendd, API on " + c.listen }

// lockDataDir takes the data directory's lock for holder (what this
// process is, for the message of a second one); the error wraps
// fs.ErrNotExist when the directory does not exist yet.
func lockDataDir(dataDir, holder string) (*datadir.Lock, error) {
	if _, err := os.Stat(dataDir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	lock, err := datadir.Acquire(dataDir, holder)
	var inUse *datadir.InUseError
	if errors.As(err, &inUse) {
		return nil, fmt.Errorf("%w; stop it or choose another --data-dir", err)
	}
	return lock, err
}

// listenAll binds every address, or none: when any fails it closes the rest
// and reports every failure in one error, each naming its flag, so that one
// retry can fix them all.
func listenAll(addrs []listenAddr) ([]net.Listener, error) {
	lns := make([]net.Listener, len(addrs))
	var problems []string
	for i, a := range addrs {
		if j := sameAddr(addrs[:i], a.addr); j >= 0 {
			problems = append(problems, fmt.Sprintf("%s is given to both --%s and --%s", a.addr, addrs[j].flag, a.flag))
			continue
		}
		ln, err := net.Listen("tcp", a.addr)
		switch {
		case err == nil:
			lns[i] = ln
		case errors.Is(err, syscall.EADDRINUSE):
			problems = append(problems, fmt.Sprintf("%s is in use (choose another --%s)", a.addr, a.flag))
		default:
			problems = append(problems, fmt.Sprintf("--%s %s: %v", a.flag, a.addr, err))
		}
	}
	if len(problems) > 0 {
		closeAll(lns)
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return lns, nil
}

// sameAddr is the index of the address in addrs equal to addr, -1 when none
// is; a port 0 never clashes.
func sameAddr(addrs []listenAddr, addr string) int {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		return -1
	}
	for i, a := range addrs {
		if a.addr == addr {
			return i
		}
	}
	return -1
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}
