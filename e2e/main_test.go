// Package e2e runs the real amplifybackendd binary against its embedded
// gateway and drives it as a client would (see internal/testserver).
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

func TestMain(m *testing.M) {
	cleanup, err := testserver.Build("../cmd/amplifybackendd")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}
