package jobs

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// undoGate is the real gateway with two calls held until the test lets
// them go: EnsureCORSRule, which a create makes once its bucket exists,
// and DeleteBucketIfEmpty, which the undo of a cancelled create makes
// last. A held call whose context ends returns its error.
type undoGate struct {
	*s3iam.Target
	corsReached, deleteReached chan struct{}
	corsRelease, deleteRelease chan struct{}
}

func hold(ctx context.Context, reached, release chan struct{}) error {
	select {
	case reached <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-release:
	case <-ctx.Done():
	}
	return ctx.Err()
}

func (g *undoGate) EnsureCORSRule(ctx context.Context, bucket string, rule s3iam.CORSRule) (bool, error) {
	if err := hold(ctx, g.corsReached, g.corsRelease); err != nil {
		return false, err
	}
	return g.Target.EnsureCORSRule(ctx, bucket, rule)
}

func (g *undoGate) DeleteBucketIfEmpty(ctx context.Context, bucket string) (bool, error) {
	if err := hold(ctx, g.deleteReached, g.deleteRelease); err != nil {
		return false, err
	}
	return g.Target.DeleteBucketIfEmpty(ctx, bucket)
}

// TestCancelAgainLeavesTheUndoRunning: a client that sends its cancel
// twice (a retry after a lost answer, two people pressing Cancel) gets the
// cancelled job both times, and the second cancel does not cut short the
// undo the first one started: the bucket the create made is removed and the
// job's error says nothing was left undone.
func TestCancelAgainLeavesTheUndoRunning(t *testing.T) {
	f := setup(t)
	g := &undoGate{Target: gateway, corsReached: make(chan struct{}), deleteReached: make(chan struct{}),
		corsRelease: make(chan struct{}), deleteRelease: make(chan struct{})}
	f.runner = New(f.store, g, Config{Workers: 2, PublicGuestAccess: true,
		Retry:  RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	failsafe := time.After(60 * time.Second)
	reach := func(what string, reached chan struct{}) {
		t.Helper()
		select {
		case <-reached:
		case <-failsafe:
			t.Fatalf("the job never reached %s", what)
		}
	}
	k, b := f.key("recancel"), f.bucket("recancel")
	j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: b, Permissions: store.Permissions{Authenticated: []string{"READ"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	reach("the CORS rule (its bucket made)", g.corsReached)
	cancel := func() {
		t.Helper()
		c, err := f.runner.UpdateJob(f.ctx, k.AppID, k.Env, j.ID, "", store.StatusCancelled)
		if err != nil || c.Status != store.StatusCancelled {
			t.Fatalf("cancel: %+v %v", c, err)
		}
	}
	cancel()
	reach("the removal of its bucket (the undo)", g.deleteReached)
	cancel()
	close(g.deleteRelease)
	got := f.wait(j.ID)
	if got.Status != store.StatusCancelled || got.Error != "Cancelled by the client." {
		t.Fatalf("after a second cancel during the undo: %+v", got)
	}
	if exists, err := gateway.HeadBucket(f.ctx, b); err != nil || exists {
		t.Fatalf("the bucket of the cancelled create is left: exists %v, %v", exists, err)
	}
}
