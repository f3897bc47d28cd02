package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// etcdServer is the handlers over a store kept in a new etcd cluster of
// one member, which the test may stop; a request to the store gives up
// after timeout.
func etcdServer(t *testing.T, timeout time.Duration) (http.Handler, *store.Store, *etcdtest.Cluster) {
	t.Helper()
	cluster := etcdtest.Start(t, 1)
	st := openEtcdStore(t, cluster.Endpoints(), timeout)
	h, _ := serverOn(t, st, nil)
	return h, st, cluster
}

// openEtcdStore opens the store under the default prefix of the cluster
// at endpoints, closed at cleanup.
func openEtcdStore(t *testing.T, endpoints []string, timeout time.Duration) *store.Store {
	t.Helper()
	st, err := store.OpenEtcd(context.Background(), store.EtcdOptions{Endpoints: endpoints, RequestTimeout: timeout}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestStoreUnavailableIs504: while etcd has no member up, a write is
// answered 504 GatewayTimeoutException saying the store did not answer
// (the SDKs retry it), never 200, and writes nothing; once the member is
// back, the same write is accepted.
func TestStoreUnavailableIs504(t *testing.T) {
	t.Parallel()
	h, _, cluster := etcdServer(t, 2*time.Second)
	create := `{"backendEnvironmentName":"dev","resourceName":"photos","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}}`
	details := `{"resourceName":"photos"}`

	cluster.Members()[0].Stop()
	code, body := signedCall(t, h, "POST", "/backend/app/storage", create)
	if code != http.StatusGatewayTimeout || !strings.Contains(body, `"__type":"GatewayTimeoutException"`) ||
		!strings.Contains(body, "store did not answer in time; retry") {
		t.Fatalf("a write while the store is down: %d %s, want 504 GatewayTimeoutException saying the store did not answer", code, body)
	}

	cluster.Members()[0].Restart()
	if code, body := signedCall(t, h, "POST", "/backend/app/storage/dev/details", details); code != http.StatusNotFound {
		t.Fatalf("the resource of the refused write, once the store is back: %d %s, want 404 (nothing written)", code, body)
	}
	if code, body := signedCall(t, h, "POST", "/backend/app/storage", create); code != http.StatusOK {
		t.Fatalf("the same write once the store is back: %d %s, want 200", code, body)
	}
	if code, body := signedCall(t, h, "POST", "/backend/app/storage/dev/details", details); code != http.StatusOK {
		t.Fatalf("the resource written once the store is back: %d %s", code, body)
	}
}
