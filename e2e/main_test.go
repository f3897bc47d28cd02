// Package e2e runs the real amplifybackendd binary against its embedded
// gateway and drives it as a client would (see internal/testserver).
package e2e

import (
	"os"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

func TestMain(m *testing.M) {
	os.Exit(testserver.Main(m, "../cmd/amplifybackendd", false))
}
