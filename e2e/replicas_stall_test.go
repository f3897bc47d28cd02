package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestReplicaStalledPastItsLeaseLeavesTheJob: replica A is stopped
// (SIGSTOP) while its job waits on the target, for longer than its lease;
// replica B takes the job over and completes it. When A goes on, the
// answer it was waiting for is there, and its lease is long gone: it sends
// the target nothing more for the job, and the job stays as B left it.
func TestReplicaStalledPastItsLeaseLeavesTheJob(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1)
	gw := testserver.StartGateway(t)
	keysDir := t.TempDir()
	proxies := map[string]*faultproxy.HTTP{}
	for name, backend := range map[string]string{"s3": gw.S3, "iam": gw.IAM} {
		p, err := faultproxy.NewHTTP(backend)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		p.KeepLog()
		proxies[name] = p
	}
	args := func(s3, iam string) []string {
		return []string{"--target", "external", "--s3-endpoint", s3, "--iam-endpoint", iam, "--bucket-policy-limit", "3584",
			"--store", "etcd", "--etcd-endpoints", strings.Join(cluster.Endpoints(), ","), "--etcd-lease-ttl", "2s",
			"--keys-dir", keysDir, "--public-guest-access", "true"}
	}
	a := testserver.StartEnv(t, gw.ServerEnv(), args(proxies["s3"].URL(), proxies["iam"].URL())...)
	const stall = 5 * time.Second
	if err := proxies["s3"].Set(faultproxy.Fault{Kind: faultproxy.Stall, Delay: stall, Count: 1}); err != nil {
		t.Fatal(err)
	}
	job := testserver.MustOK(t, a.Call("POST", "/backend/stallapp/storage", storageBody("dev", "photos", "stallapp-photos",
		[]string{"READ", "CREATE_AND_UPDATE"}, []string{"READ"})))
	id := job.Str("jobId")
	held := -1
	a.Until("a's call held by the target", func() bool {
		for i, r := range proxies["s3"].Requests() {
			if !r.Forwarded && !r.Done {
				held = i
			}
		}
		return held >= 0
	})
	a.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	t.Cleanup(func() { a.Signal(syscall.SIGCONT) }) // a stopped process is not killed by SIGTERM

	b := testserver.StartEnv(t, gw.ServerEnv(), args(gw.S3, gw.IAM)...)
	if got := b.WaitJob("stallapp", "dev", id); got.Str("status") != "COMPLETED" {
		t.Fatalf("job taken over by b: %s\nb's log:\n%s", got.Raw, b.Logs)
	}
	// The held call is answered while a is stopped.
	b.Until("the held call answered", func() bool { return proxies["s3"].Requests()[held].Done })
	before := map[string]int{}
	for name, p := range proxies {
		before[name] = len(p.Requests())
	}
	t.Logf("a stopped for %v", time.Since(stopped).Round(time.Millisecond))
	a.Signal(syscall.SIGCONT)
	a.Until("a's lease loss logged", func() bool { return strings.Contains(a.Logs.String(), "lease") })
	time.Sleep(2 * time.Second) // what a would send, it sends at once: this is the time given to it
	for name, p := range proxies {
		if reqs := p.Requests()[before[name]:]; len(reqs) > 0 {
			var calls []string
			for _, r := range reqs {
				calls = append(calls, fmt.Sprintf("%s %s %s%s -> %d", r.Start.Format("15:04:05.000"), r.Method, r.Path, r.Form.Get("Action"), r.Status))
			}
			t.Errorf("a sent %s %d calls after it went on past its lease:\n%s\na's log:\n%s", name, len(reqs), strings.Join(calls, "\n"), a.Logs)
		}
	}
	if got := b.WaitJob("stallapp", "dev", id); got.Str("status") != "COMPLETED" {
		t.Fatalf("job after a went on: %s", got.Raw)
	}
}
