package embedded

import (
	"testing"

	"github.com/versity/versitygw/iamapi"
	"github.com/versity/versitygw/iamapi/storage"
)

// TestFiberAppsReachable pins the Versity internals that the listeners'
// timeouts and prompt stopping rely on (see package drain): a release that
// moves them fails here.
func TestFiberAppsReachable(t *testing.T) {
	t.Parallel()
	if err := checkFiberApps(); err != nil {
		t.Fatal(err)
	}
	files, err := storage.NewInternal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	api, err := iamapi.New(files, iamapi.RootCredentials{Access: "a", Secret: "b"}, iamapi.WithQuiet())
	if err != nil {
		t.Fatal(err)
	}
	if app := fiberApp(api); app == nil || app.Server() == nil {
		t.Fatalf("fiberApp(IAM API) = %v", app)
	}
}
