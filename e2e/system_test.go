package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// systemAnswer is GET /console-api/system as a client reads it.
type systemAnswer struct {
	Target struct {
		Kind       string `json:"kind"`
		S3Endpoint string `json:"s3Endpoint"`
		IAM        bool   `json:"iam"`
	} `json:"target"`
	Version       string `json:"version"`
	Started       string `json:"started"`
	JobsRunning   int    `json:"jobsRunning"`
	OldestRunning *struct {
		JobID string `json:"jobId"`
	} `json:"oldestRunning"`
	Warnings []string `json:"warnings"`
}

func system(t *testing.T, s *testserver.Server) systemAnswer {
	t.Helper()
	r := testserver.MustOK(t, s.Call("GET", "/console-api/system", nil))
	var a systemAnswer
	if err := json.Unmarshal(r.Raw, &a); err != nil {
		t.Fatalf("system: %v: %s", err, r.Raw)
	}
	return a
}

// TestSystemPage: the console's System route says which target the server
// provisions on and what it lacks (known at start-up), its version and
// start, and which jobs are RUNNING, the oldest first. (Unsigned it is
// refused like every route: TestEveryRouteNeedsASignature.)
func TestSystemPage(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	a := system(t, s)
	if a.Target.Kind != "embedded" || !a.Target.IAM || a.Target.S3Endpoint != s.S3 || a.Version == "" || a.Started == "" ||
		a.JobsRunning != 0 || a.OldestRunning != nil || !strings.Contains(strings.Join(a.Warnings, ";"), "default encryption") {
		t.Fatalf("embedded server: %+v", a)
	}

	// An external target held still: the jobs stay RUNNING, the first
	// accepted is the oldest.
	p := testserver.NewStalledPair(t)
	p.Pause()
	var ids []string
	for _, name := range []string{"first", "second"} {
		r := testserver.MustOK(t, p.API.Call("POST", "/backend/sys/storage", storageBody("dev", name, "", []string{"READ"}, nil)))
		ids = append(ids, r.Str("jobId"))
	}
	a = system(t, p.API)
	if a.Target.Kind != "external" || a.JobsRunning != 2 || a.OldestRunning == nil || a.OldestRunning.JobID != ids[0] || len(a.Warnings) != 0 {
		t.Fatalf("external target with two held jobs: %+v", a)
	}
	p.Resume()
	for _, id := range ids {
		p.API.WaitJob("sys", "dev", id)
	}
	if a = system(t, p.API); a.JobsRunning != 0 || a.OldestRunning != nil {
		t.Fatalf("after the jobs finished: %+v", a)
	}
}
