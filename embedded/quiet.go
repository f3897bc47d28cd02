package embedded

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// stdoutMu serialises withoutStdout's redirections of the process's stdout.
var stdoutMu sync.Mutex

// withoutStdout runs f with the process's standard output (file descriptor
// 1) pointed at the null device. Versity's standalone IAM client prints
// "standalone IAM service ...: version unknown, private protocol 1" with
// fmt.Printf when it connects, with no option to stay quiet; here the IAM
// service is our own, so the line tells a user nothing. The descriptor is
// redirected rather than the os.Stdout variable swapped because other
// goroutines (fiber's start-up, inside Versity) read that variable. Start
// calls f before the server prints anything of its own, so nothing else is
// lost; when the redirection cannot be made, the line is shown rather than
// the start failed.
func withoutStdout(f func()) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		f()
		return
	}
	defer null.Close()
	saved, err := unix.Dup(unix.Stdout)
	if err != nil {
		f()
		return
	}
	defer unix.Close(saved)
	if err := unix.Dup2(int(null.Fd()), unix.Stdout); err != nil {
		f()
		return
	}
	defer unix.Dup2(saved, unix.Stdout)
	f()
}
