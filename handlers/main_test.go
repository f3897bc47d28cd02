package handlers

import (
	"os"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/embedded"
	"github.com/amplifybackendd/amplifybackendd/embedded/embeddedtest"
)

// gateway is the embedded S3 gateway the file browser's tests use; one per
// test binary, as Versity allows (tests keep apart by bucket).
var gateway *embedded.Server

const (
	gatewayRoot, gatewaySecret = "HANDLERSTESTROOT", "handlers-test-root-secret-0123456789"
	// testConsoleOrigin is the origin the gateway answers CORS for on
	// buckets without rules of their own.
	testConsoleOrigin = "http://console.test:8080"
)

func TestMain(m *testing.M) {
	os.Exit(embeddedtest.MainWith(m, embedded.Config{AccessKey: gatewayRoot, SecretKey: gatewaySecret, CORSAllowOrigin: testConsoleOrigin},
		func(gw *embedded.Server) error { gateway = gw; return nil }))
}
