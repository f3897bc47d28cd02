package embedded

import (
	"os"
	"sync"
)

// stdoutMu serialises withoutStdout's swaps of os.Stdout.
var stdoutMu sync.Mutex

// withoutStdout runs f with os.Stdout pointed at the null device. Versity's
// standalone IAM client prints "standalone IAM service ...: version
// unknown, private protocol 1" with fmt.Printf when it connects, with no
// option to stay quiet; in this process the IAM service is our own, so the
// line tells a user nothing. f runs during Start, before the server prints
// anything of its own, so nothing else writes to stdout meanwhile. When the
// null device cannot be opened the line is shown rather than failing.
func withoutStdout(f func()) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		f()
		return
	}
	defer null.Close()
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	saved := os.Stdout
	os.Stdout = null
	defer func() { os.Stdout = saved }()
	f()
}
