package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

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

// TestStoreUnavailableIs504: while the store's connection to etcd
// carries nothing (a partition: a proxy paused in front of the cluster),
// a write is answered 504 GatewayTimeoutException saying the store did
// not answer (the SDKs retry it), never 200. Its commit may have gone out
// before the cut and apply once the connection carries traffic again (a
// timeout says nothing about what the cluster did): the retry of the
// same write then either is accepted or meets the job it left, and the
// resource exists once.
func TestStoreUnavailableIs504(t *testing.T) {
	t.Parallel()
	proxy, err := faultproxy.New(etcdtest.Start(t, 1).Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	h, _ := serverOn(t, openEtcdStore(t, []string{proxy.Addr()}, time.Second), nil)
	create := `{"backendEnvironmentName":"dev","resourceName":"photos","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}}`
	details := `{"resourceName":"photos"}`

	proxy.Pause()
	code, body := signedCall(t, h, "POST", "/backend/app/storage", create)
	if code != http.StatusGatewayTimeout || !strings.Contains(body, `"__type":"GatewayTimeoutException"`) ||
		!strings.Contains(body, "store did not answer in time; retry") {
		t.Fatalf("a write while the store is cut off: %d %s, want 504 GatewayTimeoutException saying the store did not answer", code, body)
	}

	proxy.Resume()
	if code, body := signedCall(t, h, "POST", "/backend/app/storage", create); code != http.StatusOK &&
		(code != http.StatusBadRequest || !strings.Contains(body, "already a pending job for resource")) {
		t.Fatalf("the same write once the store answers: %d %s, want 200, or 400 naming the job the first one left", code, body)
	}
	if code, body := signedCall(t, h, "POST", "/backend/app/storage/dev/details", details); code != http.StatusOK {
		t.Fatalf("the resource written once the store answers: %d %s", code, body)
	}
}
