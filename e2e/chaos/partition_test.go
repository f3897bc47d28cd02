package chaos

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// holdFor is how long the target proxies hold the partitioned replica's
// call: far longer than its lease, so a replica that kept executing
// without its lease would send the call while the test still watches.
const holdFor = 30 * time.Second

// partition cuts one replica off from etcd while it executes a job and
// checks that it stops: another replica completes the job, the call the
// cut-off replica had in flight is never sent on, it sends the target
// nothing else, and it answers writes with 504 until it is reconnected,
// after which it serves again. It returns how long after the cut the job
// was completed elsewhere.
func partition(t *testing.T, c *cluster, l *ledger, seed uint64) time.Duration {
	t.Helper()
	ctx := t.Context()
	// Every replica's S3 calls are held, so whichever replica claims the
	// job stops at its first call naming the bucket: that one is cut off.
	for _, r := range c.replicas {
		if err := r.s3.Set(faultproxy.Fault{Kind: faultproxy.Stall, Delay: holdFor}); err != nil {
			t.Fatal(err)
		}
	}
	key := store.ResourceKey{AppID: app, Env: "p", Name: "held"}
	bucket := fmt.Sprintf("chaos-held-%d", seed%1_000_000)
	l.bucket(bucket)
	all := newRotation(c)
	a := all.call(ctx, http.MethodPost, "/backend/"+app+"/storage", map[string]any{
		"backendEnvironmentName": key.Env, "resourceName": key.Name,
		"resourceConfig": map[string]any{"bucketName": bucket, "serviceName": "S3",
			"permissions": map[string]any{"authenticated": []string{"READ"}, "unAuthenticated": []string{"READ"}}}})
	if a.status != http.StatusOK {
		t.Fatalf("create before the partition: %d %s", a.status, a.raw)
	}
	id := a.str("jobId")
	l.accept(id, op{key: key, kind: store.OpCreate, bucket: bucket,
		perms: store.Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ"}}})

	var cut *replica
	heldAt := -1 // the held call's place in cut's S3 log
	until(t, "no replica called the target for the job's bucket", func() bool {
		for _, r := range c.replicas {
			for i, e := range r.s3.Requests() {
				if e.Bucket() == bucket {
					cut, heldAt = r, i
					return true
				}
			}
		}
		return false
	})
	var others []int
	for _, r := range c.replicas {
		if r != cut {
			others = append(others, r.i)
			if err := r.s3.Clear(); err != nil {
				t.Fatal(err)
			}
		}
	}
	began := time.Now()
	cut.partition()
	t.Logf("replica %d executes job %s; cut off from etcd", cut.i, id)

	// Another replica takes the job over once the lease lapses.
	rest := newRotation(c, others...)
	status := rest.jobStatus(ctx, nil, key.Env, id)
	took := time.Since(began)
	if status != "COMPLETED" {
		t.Fatalf("job %s taken over from the cut-off replica ended %q\n%s", id, status, c.logs())
	}
	t.Logf("job %s completed by another replica %v after the cut (lease TTL %v)", id, took.Round(100*time.Millisecond), leaseTTL)

	// The cut-off replica answers writes with a retryable 504, never 200:
	// an update of the resource that was just completed (it exists, so a
	// 404 would be a wrong answer too) and a create of a new one.
	only := newRotation(c, cut.i)
	for _, w := range []struct {
		path string
		body map[string]any
	}{
		{"/backend/" + app + "/storage/" + key.Env, map[string]any{"resourceName": key.Name, "resourceConfig": map[string]any{
			"serviceName": "S3", "permissions": map[string]any{"authenticated": []string{"DELETE"}, "unAuthenticated": []string{}}}}},
		{"/backend/" + app + "/storage", map[string]any{"backendEnvironmentName": key.Env, "resourceName": "cut",
			"resourceConfig": map[string]any{"bucketName": bucket + "-cut", "serviceName": "S3",
				"permissions": map[string]any{"authenticated": []string{"READ"}, "unAuthenticated": []string{}}}}},
	} {
		a, err := only.send(ctx, 0, http.MethodPost, w.path, w.body)
		if err != nil || a.status != http.StatusGatewayTimeout || a.errType != "GatewayTimeoutException" {
			t.Errorf("write %s to the cut-off replica: want 504 GatewayTimeoutException, got %d %s (%v)", w.path, a.status, a.raw, err)
		}
	}

	// The call it held was abandoned, not sent, and it sent nothing else
	// that changes the target after the cut.
	var held faultproxy.Request
	until(t, "the cut-off replica's held call is still in flight", func() bool {
		held = cut.s3.Requests()[heldAt]
		return held.Done
	})
	if held.Forwarded {
		t.Errorf("the cut-off replica sent its held %s %s on to the target after losing its lease", held.Method, held.Path)
	}
	// And it gave the call up before another replica began the job: the
	// lease ends on the replica before etcd lets another claim the job.
	for _, r := range c.replicas {
		if r == cut {
			continue
		}
		for _, e := range r.s3.Requests() {
			if e.Bucket() == bucket && e.Start.Before(held.End) {
				t.Errorf("replica %d called %s for the job at %s, while the cut-off replica still held its call (until %s): the job ran on two replicas at once",
					r.i, opName(e), e.Start.Format("15:04:05.000"), held.End.Format("15:04:05.000"))
				break
			}
		}
	}
	for _, e := range cut.targetLog() {
		if e.Start.After(began) && e.Forwarded && mutating(e) {
			t.Errorf("the cut-off replica called %s on the target after it was cut off (%s)", opName(e), e.Start.Format("15:04:05.000"))
		}
	}
	if err := cut.s3.Clear(); err != nil {
		t.Fatal(err)
	}

	// Reconnected, it serves writes again.
	cut.heal()
	after := store.ResourceKey{AppID: app, Env: "p", Name: "after"}
	for n := 0; ; n++ {
		name := fmt.Sprintf("after%d", n)
		b := fmt.Sprintf("chaos-after-%d-%d", seed%1_000_000, n)
		l.bucket(b)
		a, err := only.send(ctx, 0, http.MethodPost, "/backend/"+app+"/storage", map[string]any{
			"backendEnvironmentName": after.Env, "resourceName": name,
			"resourceConfig": map[string]any{"bucketName": b, "serviceName": "S3",
				"permissions": map[string]any{"authenticated": []string{"READ"}, "unAuthenticated": []string{}}}})
		if err == nil && a.status == http.StatusOK {
			after.Name = name
			l.accept(a.str("jobId"), op{key: after, kind: store.OpCreate, bucket: b,
				perms: store.Permissions{Authenticated: []string{"READ"}}})
			if s := only.jobStatus(ctx, nil, after.Env, a.str("jobId")); s != "COMPLETED" {
				t.Errorf("create through the reconnected replica ended %q", s)
			}
			break
		}
		if err == nil && a.status < 500 {
			t.Fatalf("the reconnected replica answered %d %s", a.status, a.raw)
		}
		if time.Since(began) > waitBound {
			t.Fatalf("the reconnected replica still fails writes: %d %s (%v)\n%s", a.status, a.raw, err, c.logs())
		}
		time.Sleep(200 * time.Millisecond) // paces the retries
	}
	return took
}

// until polls cond, failing the test with what when it does not hold
// within waitBound; the pause paces the polling and orders nothing.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s after %v", what, waitBound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
