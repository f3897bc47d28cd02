package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/external"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
	"github.com/amplifybackendd/amplifybackendd/policy"
)

// crashEnv is one environment of the crash workload. It holds one resource,
// so ListBackendJobs on the environment is that resource's whole history,
// and one worker owns it, so at most one of its requests is in flight.
type crashEnv struct {
	env      string
	name     string // resource name
	imported bool   // resources made by import (name = bucket)

	// sent maps job ids to the request that made them.
	sent map[string]crashOp
	// lost is a request whose answer never came (the server was killed).
	lost *crashOp
	// buckets this env's creates asked for, and which were someone else's.
	buckets []string
}

type crashOp struct {
	op          string // CreateBackendStorage, ...
	bucket      string
	auth, guest []string
}

// crashState is what a resource should be after its completed jobs.
type crashState struct {
	exists      bool
	bucket      string
	imported    bool
	auth, guest []string
}

func randomPerms(r *rand.Rand) []string {
	var out []string
	for _, p := range []string{"READ", "CREATE_AND_UPDATE", "DELETE"} {
		if r.IntN(2) == 0 {
			out = append(out, p)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// TestCrashSafety runs a mixed stream of storage calls and kills the server
// with SIGKILL at random moments (CRASH_KILLS times, default 25; CRASH_SEED
// picks the run). After every restart it checks that every answered job
// exists and settles, that each resource's desired state is what its
// completed jobs say, that the gateway holds exactly that, and that no
// failed or cancelled create left a bucket of its own.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	kills := 25
	if v, err := strconv.Atoi(os.Getenv("CRASH_KILLS")); err == nil {
		kills = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("CRASH_SEED"), 10, 64); err == nil {
		seed = v
	}
	// go test shows a passing package's output only with -v, so the seed
	// is also kept where a finished run can be looked up.
	t.Logf("crash run: seed %d, %d kills (CRASH_SEED=%d reproduces the schedule)", seed, kills, seed)
	if err := os.WriteFile(filepath.Join(external.ArtifactsDir(t, "e2e"), "crash-seed.txt"),
		fmt.Appendf(nil, "CRASH_SEED=%d CRASH_KILLS=%d\n", seed, kills), 0o644); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 0))   // request choices, shared by workers under mu
	sched := rand.New(rand.NewPCG(seed, 1)) // kill moments, the main goroutine's own

	s := testserver.Start(t)
	const app = "crash"
	foreign := []string{"crash-foreign-0", "crash-foreign-1"}
	for _, b := range foreign {
		if _, err := s.S3Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	var envs []*crashEnv
	for i := 0; i < 6; i++ {
		envs = append(envs, &crashEnv{env: fmt.Sprintf("r%d", i), name: "res", sent: map[string]crashOp{}})
	}
	for i := 0; i < 2; i++ {
		b := fmt.Sprintf("crash-import-%d", i)
		if _, err := s.S3Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
		envs = append(envs, &crashEnv{env: fmt.Sprintf("i%d", i), name: b, imported: true, sent: map[string]crashOp{}})
	}
	seq := 0
	var mu sync.Mutex // guards seq and rng across workers
	next := func() (int, *rand.Rand) {
		mu.Lock()
		defer mu.Unlock()
		seq++
		return seq, rand.New(rand.NewPCG(rng.Uint64(), uint64(seq)))
	}

	answered, requests := 0, 0
	for kill := 1; kill <= kills; kill++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var countMu sync.Mutex
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(owned []*crashEnv) {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					n, r := next()
					e := owned[r.IntN(len(owned))]
					ok := crashStep(s, app, e, n, r, foreign)
					countMu.Lock()
					requests++
					if ok {
						answered++
					}
					countMu.Unlock()
					if !ok {
						return // the server is gone: keep the one lost request as it is
					}
				}
			}([]*crashEnv{envs[w], envs[w+4]})
		}
		// Not synchronisation: the kill is meant to land at a moment of the
		// stream nobody chose, and the seeded schedule draws it.
		time.Sleep(time.Duration(50+sched.IntN(400)) * time.Millisecond)
		s.Kill()
		close(stop)
		wg.Wait()
		s.Restart()
		verifyCrash(t, s, app, envs, foreign, kill)
		if t.Failed() {
			t.Fatalf("invariant broken after kill %d (seed %d)", kill, seed)
		}
	}
	t.Logf("survived %d kills; %d requests sent, %d answered (the rest were cut off by a kill)", kills, requests, answered)
}

// crashStep sends one request for e; it reports whether an answer came.
func crashStep(s *testserver.Server, app string, e *crashEnv, n int, r *rand.Rand, foreign []string) bool {
	base := fmt.Sprintf("/backend/%s/storage", app)
	var op crashOp
	var path string
	var body map[string]any
	cancel := false
	switch k := r.IntN(10); {
	case e.imported && k < 3:
		op, path = crashOp{op: "ImportBackendStorage", bucket: e.name}, base+"/"+e.env+"/import"
		body = map[string]any{"serviceName": "S3", "bucketName": e.name}
	case !e.imported && k < 3:
		bucket := fmt.Sprintf("crash-%s-%d", e.env, n)
		if r.IntN(5) == 0 {
			bucket = foreign[r.IntN(len(foreign))] // someone else's: this create must fail
		}
		op = crashOp{op: "CreateBackendStorage", bucket: bucket, auth: randomPerms(r), guest: randomPerms(r)}
		path, body = base, storageBody(e.env, e.name, bucket, op.auth, op.guest)
		cancel = r.IntN(4) == 0
	case k < 7:
		op = crashOp{op: "UpdateBackendStorage", auth: randomPerms(r), guest: randomPerms(r)}
		path = base + "/" + e.env
		body = map[string]any{"resourceName": e.name, "resourceConfig": map[string]any{"serviceName": "S3",
			"permissions": map[string]any{"authenticated": op.auth, "unAuthenticated": op.guest}}}
	default:
		op, path = crashOp{op: "DeleteBackendStorage"}, base+"/"+e.env+"/remove"
		body = map[string]any{"resourceName": e.name, "serviceName": "S3"}
	}
	if op.op == "CreateBackendStorage" {
		e.buckets = append(e.buckets, op.bucket)
	}
	resp, err := s.TryCall("POST", path, body)
	if err != nil {
		e.lost = &op // killed while asking: accepted or not, the store decides
		return false
	}
	if resp.Status == 200 {
		e.sent[resp.Str("jobId")] = op
		if cancel {
			// Cancel at once: it lands while the job runs, or is refused
			// because it already finished. Either outcome is legal.
			s.TryCall("POST", fmt.Sprintf("/backend/%s/job/%s/%s", app, e.env, resp.Str("jobId")), map[string]any{"status": "CANCELLED"})
		}
	}
	return true
}

// verifyCrash waits for every job to settle and checks the invariants.
func verifyCrash(t *testing.T, s *testserver.Server, app string, envs []*crashEnv, foreign []string, kill int) {
	t.Helper()
	for _, e := range envs {
		jobs := settledJobs(t, s, app, e.env)
		status := map[string]string{}
		for _, j := range jobs {
			status[j.JobID] = j.Status
		}
		// Every answered job is recorded.
		for id := range e.sent {
			if _, ok := status[id]; !ok {
				t.Errorf("kill %d: answered job %s of %s is lost", kill, id, e.env)
			}
		}
		// A lost request was accepted exactly when an unknown job exists.
		for _, j := range jobs {
			if _, ok := e.sent[j.JobID]; !ok {
				if e.lost == nil {
					t.Errorf("kill %d: job %s in %s was never asked for", kill, j.JobID, e.env)
					continue
				}
				e.sent[j.JobID] = *e.lost
				e.lost = nil
			}
		}
		e.lost = nil
		// Replay the completed jobs, oldest first.
		var st crashState
		completedBuckets := map[string]bool{}
		for i := len(jobs) - 1; i >= 0; i-- {
			j := jobs[i]
			if j.Status != "COMPLETED" {
				continue
			}
			switch op := e.sent[j.JobID]; op.op {
			case "CreateBackendStorage":
				st = crashState{exists: true, bucket: op.bucket, auth: op.auth, guest: op.guest}
				completedBuckets[op.bucket] = true
			case "ImportBackendStorage":
				st = crashState{exists: true, bucket: op.bucket, imported: true}
			case "UpdateBackendStorage":
				st.auth, st.guest = op.auth, op.guest
			case "DeleteBackendStorage":
				st = crashState{}
			}
		}
		checkDesired(t, s, app, e, st, kill)
		checkApplied(t, s, app, e, st, kill)
		// No bucket from a create that did not complete, except someone
		// else's (which must survive).
		for _, b := range e.buckets {
			if !completedBuckets[b] && !slices.Contains(foreign, b) && bucketExists(t, s, b) {
				t.Errorf("kill %d: bucket %s of a create that did not complete exists", kill, b)
			}
		}
		// Checked buckets stay checked: only new ones need looking at next time.
		e.buckets = e.buckets[:0]
	}
	for _, b := range foreign {
		if !bucketExists(t, s, b) {
			t.Errorf("kill %d: someone else's bucket %s was deleted", kill, b)
		}
	}
}

// settledJobs lists an environment's jobs, newest first, once none is RUNNING.
func settledJobs(t *testing.T, s *testserver.Server, app, env string) []crashJob {
	t.Helper()
	var jobs []crashJob
	s.Until("jobs of "+env+" still RUNNING", func() bool {
		jobs = listAllJobs(t, s, app, env)
		return !slices.ContainsFunc(jobs, func(j crashJob) bool { return j.Status == "RUNNING" })
	})
	return jobs
}

type crashJob struct{ JobID, Status, Operation string }

func listAllJobs(t *testing.T, s *testserver.Server, app, env string) []crashJob {
	t.Helper()
	var out []crashJob
	token := ""
	for {
		body := map[string]any{}
		if token != "" {
			body["nextToken"] = token
		}
		r := s.Call("POST", fmt.Sprintf("/backend/%s/job/%s", app, env), body)
		if r.Status == 404 {
			return nil
		}
		testserver.MustOK(t, r)
		var page struct {
			Jobs      []crashJob
			NextToken string
		}
		json.Unmarshal(r.Raw, &page)
		out = append(out, page.Jobs...)
		if token = page.NextToken; token == "" {
			return out
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func checkDesired(t *testing.T, s *testserver.Server, app string, e *crashEnv, st crashState, kill int) {
	t.Helper()
	r := s.Call("POST", fmt.Sprintf("/backend/%s/storage/%s/details", app, e.env), map[string]any{"resourceName": e.name})
	if !st.exists {
		if r.Status != 404 {
			t.Errorf("kill %d: %s should not exist: %s", kill, e.env, r.Raw)
		}
		return
	}
	var d struct {
		ResourceConfig struct {
			BucketName  string
			Imported    bool
			Permissions struct{ Authenticated, UnAuthenticated []string }
		}
	}
	json.Unmarshal(r.Raw, &d)
	c := d.ResourceConfig
	if r.Status != 200 || c.BucketName != st.bucket || c.Imported != st.imported ||
		!sameSet(c.Permissions.Authenticated, st.auth) || !sameSet(c.Permissions.UnAuthenticated, st.guest) {
		t.Errorf("kill %d: %s is %s, want %+v", kill, e.env, r.Raw, st)
	}
}

// checkApplied compares the gateway with what the resource should grant,
// using the policy package's translation as the reference document.
func checkApplied(t *testing.T, s *testserver.Server, app string, e *crashEnv, st crashState, kill int) {
	t.Helper()
	prefix := policy.SidPrefix(app, e.env, e.name)
	docs := policy.Translate(policy.Input{Bucket: st.bucket, SidPrefix: prefix, PublicGuestAccess: true,
		Authenticated: toPerms(st.auth), Unauthenticated: toPerms(st.guest)})
	// Each environment holds this one resource, so its role documents are
	// the resource's alone.
	auth, unauth := policy.EnvDocuments(policy.EnvSidPrefix(app, e.env), []policy.EnvResource{{Bucket: st.bucket,
		Authenticated: toPerms(st.auth), Unauthenticated: toPerms(st.guest)}})
	for _, role := range []struct {
		name string
		doc  *policy.Document
	}{{"amplify-crash-" + e.env + "-authRole", auth}, {"amplify-crash-" + e.env + "-unauthRole", unauth}} {
		got := rolePolicy(t, s, role.name, policy.EnvRolePolicyName(app, e.env))
		if !st.exists || role.doc == nil {
			if got != "" {
				t.Errorf("kill %d: %s holds a policy it should not: %s", kill, role.name, got)
			}
			continue
		}
		want, _ := json.Marshal(role.doc)
		if !policy.Equivalent([]byte(got), want) {
			t.Errorf("kill %d: %s policy\n got %s\nwant %s", kill, role.name, got, want)
		}
	}
	if !st.exists {
		return
	}
	if !bucketExists(t, s, st.bucket) {
		t.Errorf("kill %d: bucket %s of %s is missing", kill, st.bucket, e.env)
		return
	}
	cur := bucketPolicy(t, s, st.bucket)
	merged, _, err := policy.MergeBucketPolicy([]byte(cur), prefix, docs.Bucket)
	if err != nil || (cur == "" && len(docs.Bucket) > 0) || (cur != "" && !policy.Equivalent([]byte(cur), merged)) {
		t.Errorf("kill %d: bucket policy of %s is %s, want our statements %+v", kill, st.bucket, cur, docs.Bucket)
	}
}

func toPerms(in []string) []policy.Permission {
	out := make([]policy.Permission, len(in))
	for i, p := range in {
		out[i] = policy.Permission(p)
	}
	return out
}
