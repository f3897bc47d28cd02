package s3iam_test

import (
	"errors"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
)

// TestGateStopsRequests: a call made with a context whose gate refuses
// sends the target nothing, S3 or IAM, its retries included, and fails
// with the gate's error; once the gate lets it, the same call goes out.
func TestGateStopsRequests(t *testing.T) {
	e := setup(t)
	closed := errors.New("not ours any more")
	open := true
	ctx := s3iam.WithGate(e.ctx, func() error {
		if !open {
			return closed
		}
		return nil
	})
	if ok, err := e.tgt.HeadBucket(ctx, e.bucket); err != nil || !ok {
		t.Fatalf("HeadBucket through an open gate: %v, %v", ok, err)
	}
	open = false
	m := e.rec.mark()
	if _, err := e.tgt.HeadBucket(ctx, e.bucket); !errors.Is(err, closed) {
		t.Errorf("HeadBucket through a closed gate: %v, want the gate's error", err)
	}
	if _, _, err := e.tgt.RoleTags(ctx, "no-such-role"); !errors.Is(err, closed) {
		t.Errorf("RoleTags through a closed gate: %v, want the gate's error", err)
	}
	if sent := e.rec.since(m); len(sent) > 0 {
		t.Errorf("requests sent through a closed gate: %v", sent)
	}
}
