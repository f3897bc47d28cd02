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

	"github.com/amplifybackendd/amplifybackendd/embedded"
)

// Main starts a gateway with the given root key in a fresh temporary folder,
// calls ready with it, runs the tests, shuts the gateway down and returns the
// exit code for os.Exit. A gateway that does not stop cleanly fails the run.
func Main(m *testing.M, accessKey, secretKey string, ready func(*embedded.Server) error) int {
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
	gw, err := embedded.Start(ctx, embedded.Config{Dir: dir, S3Listen: "127.0.0.1:0", IAMListen: "127.0.0.1:0",
		AccessKey: accessKey, SecretKey: secretKey})
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
