package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// leaseTTL is the replicas' --etcd-lease-ttl: short, so a killed or cut
// off replica's jobs move within seconds, and still well above the
// request timeout, so a slow request is not mistaken for a dead replica.
const (
	leaseTTL       = 3 * time.Second
	requestTimeout = 2 * time.Second
	nReplicas      = 3
	nMembers       = 3
)

// waitBound turns a wait that never ends into a failure; it times nothing.
const waitBound = 90 * time.Second

// cluster is everything the test runs: the etcd members, the shared
// target, the replicas and the test's own view of the store.
type cluster struct {
	etcd     *etcdtest.Cluster
	gw       *testserver.Gateway
	replicas []*replica
	// store reads what the replicas wrote, straight from etcd (no proxy).
	store *store.Store
	creds aws.Credentials // the API key every replica accepts
}

// replica is one amplifybackendd process with the proxies only it uses:
// one per etcd member (pausing them partitions it) and one each for the
// target's S3 and IAM endpoints (their logs say what it asked the target).
type replica struct {
	i    int
	srv  *testserver.Server
	api  string // fixed across restarts, as behind a load balancer
	etcd []*faultproxy.Proxy
	s3   *faultproxy.HTTP
	iam  *faultproxy.HTTP
}

// startCluster starts etcd, the gateway and the replicas. Each replica
// has a data directory of its own and shares the key files (--keys-dir),
// as replicas mounting one directory would; the first one started writes
// the API key.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{etcd: etcdtest.Start(t, nMembers), gw: testserver.StartGateway(t)}
	for i := range nReplicas {
		r := &replica{i: i, api: "http://" + testserver.FreeAddr(t)}
		for _, ep := range c.etcd.Endpoints() {
			p, err := faultproxy.New(ep)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			r.etcd = append(r.etcd, p)
		}
		var err error
		if r.s3, err = faultproxy.NewHTTP(c.gw.S3); err != nil {
			t.Fatal(err)
		}
		if r.iam, err = faultproxy.NewHTTP(c.gw.IAM); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.s3.Close(); r.iam.Close() })
		r.s3.KeepLog()
		r.iam.KeepLog()
		c.replicas = append(c.replicas, r)
	}
	keys := t.TempDir()
	for _, r := range c.replicas {
		r.srv = testserver.StartEnv(t, c.gw.ServerEnv(), append(r.args(), "--keys-dir", keys)...)
	}
	c.creds = c.replicas[0].srv.APICreds
	st, err := store.OpenEtcd(t.Context(), store.EtcdOptions{Endpoints: c.etcd.Endpoints(), LeaseTTL: leaseTTL},
		store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c.store = st
	return c
}

// args are a replica's flags, the same at every restart.
func (r *replica) args() []string {
	var eps []string
	for _, p := range r.etcd {
		eps = append(eps, p.Addr())
	}
	return []string{
		"--listen", strings.TrimPrefix(r.api, "http://"),
		"--store", "etcd", "--etcd-endpoints", strings.Join(eps, ","),
		"--etcd-lease-ttl", leaseTTL.String(), "--etcd-request-timeout", requestTimeout.String(),
		"--target", "external", "--s3-endpoint", r.s3.URL(), "--iam-endpoint", r.iam.URL(),
		// Guests' grants go into bucket policies too, so every job writes
		// one and the test can count PutBucketPolicy.
		"--public-guest-access", "true",
		// The gateway's limit, as its own ServerArgs give it.
		"--bucket-policy-limit", "3584",
		// Quick retries: an etcd member stopping costs a step a retry or two.
		"--retry-base", "50ms", "--retry-max", "1s",
		"--workers", "4",
	}
}

// partition cuts r off from every etcd member (its connections hold,
// as in a network partition, rather than fail); heal ends it.
func (r *replica) partition() {
	for _, p := range r.etcd {
		p.Pause()
	}
}

func (r *replica) heal() {
	for _, p := range r.etcd {
		p.Resume()
	}
}

// targetLog is every call r made to the target, S3 then IAM.
func (r *replica) targetLog() []faultproxy.Request {
	return append(r.s3.Requests(), r.iam.Requests()...)
}

// view reads the store in one transaction.
func (c *cluster) view(t *testing.T, fn func(*store.Tx) error) {
	t.Helper()
	if err := c.store.View(context.WithoutCancel(t.Context()), fn); err != nil {
		t.Fatal(err)
	}
}

// settle waits until no job is pending in the store, failing with those
// left when they do not finish.
func (c *cluster) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for {
		var pending []string
		err := c.store.View(t.Context(), func(tx *store.Tx) error { pending = tx.PendingJobs(); return nil })
		if err == nil && len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var jobs []store.Job
			c.view(t, func(tx *store.Tx) error {
				for _, id := range pending {
					j, err := tx.Job(id)
					if err != nil {
						return err
					}
					jobs = append(jobs, j)
				}
				return nil
			})
			t.Fatalf("jobs still pending after %v (store error %v): %+v\n%s", waitBound, err, jobs, c.logs())
		}
		time.Sleep(100 * time.Millisecond) // paces the polling
	}
}

// claimedOrDone waits until every pending job has a live claim (or none is
// pending), and returns how many were pending then: a job left RUNNING
// with no live claim, after its replica died, would never be executed.
func (c *cluster) claimedOrDone(t *testing.T) int {
	t.Helper()
	var unclaimed, pending []string
	until(t, "pending jobs have no live claim", func() bool {
		var err error
		if unclaimed, err = c.store.UnclaimedPending(t.Context()); err != nil {
			return false
		}
		c.view(t, func(tx *store.Tx) error { pending = tx.PendingJobs(); return nil })
		return len(unclaimed) == 0
	})
	return len(pending)
}

// logs is the tail of every replica's log, for failure messages.
func (c *cluster) logs() string {
	var b strings.Builder
	for _, r := range c.replicas {
		l := strings.Split(strings.TrimSpace(r.srv.Logs.String()), "\n")
		fmt.Fprintf(&b, "--- replica %d, last lines:\n", r.i)
		b.WriteString(strings.Join(l[max(0, len(l)-30):], "\n") + "\n")
	}
	return b.String()
}

// isNotFound tells the gateway's "no such policy/entity/bucket" answers.
func isNotFound(err error) bool {
	var nf interface{ ErrorCode() string }
	if errors.As(err, &nf) {
		switch nf.ErrorCode() {
		case "NoSuchEntity", "NoSuchBucketPolicy", "NoSuchBucket", "NotFound":
			return true
		}
	}
	return false
}
