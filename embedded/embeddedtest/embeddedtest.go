// Package embeddedtest runs one embedded gateway for a whole test binary.
// Versity allows one gateway per process, so packages that test against the
// real gateway share one from TestMain and keep apart by bucket and role
// names.
package embeddedtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/embedded"
)

// Main starts a gateway with the given root key in a fresh temporary folder,
// calls ready with it, runs the tests, shuts the gateway down and returns the
// exit code for os.Exit. A gateway that does not stop cleanly fails the run.
func Main(m *testing.M, accessKey, secretKey string, ready func(*embedded.Server) error) int {
	return MainWith(m, embedded.Config{AccessKey: accessKey, SecretKey: secretKey}, ready)
}

// MainWith is Main for a gateway configured as cfg; its folder and
// loopback addresses are the test's own.
func MainWith(m *testing.M, cfg embedded.Config, ready func(*embedded.Server) error) int {
	dir, err := os.MkdirTemp("", "gateway-test-")
	if err == nil {
		// The gateway changes the working directory: only absolute paths.
		dir, err = filepath.Abs(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.Dir, cfg.S3Listen, cfg.IAMListen = dir, "127.0.0.1:0", "127.0.0.1:0"
	gw, err := embedded.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded gateway:", err)
		return 1
	}
	if err := ready(gw); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	cancel()
	if err := gw.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "embedded gateway did not shut down cleanly:", err)
		return 1
	}
	return code
}

// CreationDate is the bucket's creation date as the target's ListBuckets
// reports it.
func CreationDate(ctx context.Context, c *s3.Client, bucket string) (time.Time, error) {
	out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{Prefix: aws.String(bucket)})
	if err != nil {
		return time.Time{}, fmt.Errorf("ListBuckets: %w", err)
	}
	for _, e := range out.Buckets {
		if aws.ToString(e.Name) == bucket {
			return aws.ToTime(e.CreationDate), nil
		}
	}
	return time.Time{}, fmt.Errorf("ListBuckets does not show %s", bucket)
}

// NextSecond returns once the wall clock reads a later second than t. S3
// answers dates in whole seconds, so a test that shows a date did not move
// with a write makes that write in a later second than the date; it waits
// on the clock, not on a server.
func NextSecond(t time.Time) {
	for !time.Now().Truncate(time.Second).After(t.Truncate(time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
}
