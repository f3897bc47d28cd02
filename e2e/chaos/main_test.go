// Package chaos proves that several amplifybackendd replicas sharing one
// etcd store stay correct while they are killed and cut off: three
// replicas of the real binary (--store etcd, a 3 s lease) share a
// three-member etcd cluster and one S3/IAM target, the binary's own
// `gateway` command, while a mixed workload (create, update, delete and
// import storage, some cancels) goes to them through client-side rotation
// with SDK-like retries. Meanwhile the test kills a replica with SIGKILL
// and restarts it, again and again, stops one etcd member at a time, and
// now and then stops a replica (SIGSTOP) for longer than its lease and lets
// it go on, as a long pause would: its jobs have moved, and what it still
// writes must be fenced off.
//
// Afterwards it checks, from the store and from what the target was asked
// to do:
//   - once the faults stop, every pending job has a live claim (none is
//     left RUNNING with no replica to execute it);
//   - every job whose acceptance was answered 200 finished (COMPLETED,
//     FAILED or CANCELLED) and none is left pending;
//   - no bucket was asked for twice (CreateBucket) without a delete
//     between: a job executed by two replicas at once would ask twice, a
//     resumed job looks first; and every completed create's bucket was
//     created;
//   - the bucket policies and the environments' role policies on the
//     target are exactly what the store's resources imply, rendered by the
//     policy package, and each resource holds what the last change the
//     store completed for it asked for;
//   - a replica cut off from etcd (its etcd connections paused) stops
//     executing: it gives up its call in flight before another replica
//     begins its job (the call is never sent), it sends nothing else that
//     changes the target, and it answers writes with 504
//     GatewayTimeoutException, never 200; once reconnected it serves again.
//
// etcd is embedded in the test process (internal/etcdtest, which runs
// go.etcd.io/etcd/server/v3/embed), each replica reaching every member
// through a TCP proxy of its own (internal/faultproxy) so one replica can
// be partitioned; each replica also reaches the target through HTTP
// proxies of its own that log every call, so calls are attributed.
//
// The test needs no program outside Go, but it is long and heavy (four
// race-enabled server processes and three etcd members), so like the other
// suites behind the external switch it runs under ./test.sh and skips
// under a plain `go test ./...`. CHAOS_SEED replays a schedule and
// CHAOS_KILLS sets how many kills it makes (default 12); the run's
// figures go to artifacts/chaos/summary.txt.
package chaos

import (
	"fmt"
	"os"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/external"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

func TestMain(m *testing.M) {
	if !external.Enabled() {
		os.Exit(m.Run()) // the tests skip
	}
	cleanup, err := testserver.Build("../../cmd/amplifybackendd")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}
