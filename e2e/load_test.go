package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/load"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestLoadHeld runs 64 concurrent signed clients against one server (for
// LOAD_DURATION, default 10s here; `go run ./cmd/abload` runs the full
// 60 s): no answer may be a 5xx and no accepted job may be lost.
func TestLoadHeld(t *testing.T) {
	t.Parallel()
	d := 10 * time.Second
	if v, err := time.ParseDuration(os.Getenv("LOAD_DURATION")); err == nil {
		d = v
	}
	s := testserver.Start(t)
	rep, err := load.Run(context.Background(), load.Config{Endpoint: s.API, Credentials: s.APICreds, Clients: 64, Duration: d, App: "load"})
	t.Logf("load report:\n%s", rep)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ServerErrs > 0 || rep.Transport > 0 || rep.Lost > 0 || rep.Unsettled > 0 || rep.Accepted == 0 {
		t.Fatalf("load not held: %+v", rep)
	}
}
