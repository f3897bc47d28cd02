package handlers

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
	"github.com/amplifybackendd/amplifybackendd/signin"
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

// TestSessionKeyDuringStoreOutageIs504: a sign-in session's key is read
// from the store, so while the store is cut off a call signed with it is
// answered 504 GatewayTimeoutException, which the SDKs retry, and not 403
// "security token invalid", which tells the console its credentials are
// bad. The same call goes through once the store answers again.
func TestSessionKeyDuringStoreOutageIs504(t *testing.T) {
	t.Parallel()
	proxy, err := faultproxy.New(etcdtest.Start(t, 1).Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	st := openEtcdStore(t, []string{proxy.Addr()}, time.Second)
	var keys caller.Chain
	svc := signin.New(signin.Config{Store: st, Creators: &keys})
	keys = caller.Chain{caller.StaticKeys{sigTestKeyID: sigTestSecret}, svc}
	h := New(Config{Store: st, Keys: keys, SignIn: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	call := func(creds aws.Credentials, method, path, body string) (int, string) {
		r := httptest.NewRequest(method, "http://api.example.com"+path, strings.NewReader(body))
		signAs(t, r, []byte(body), creds, "us-east-1", time.Now())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	code, body := call(sigTestCreds, http.MethodPost, "/backend/app/challenge", "")
	if code != http.StatusOK {
		t.Fatalf("CreateToken: %d %s", code, body)
	}
	var tok map[string]any
	if err := json.Unmarshal([]byte(body), &tok); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "http://api.example.com/console-api/sign-in", strings.NewReader(exchangeBody(tok)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var cred struct{ AccessKeyID, SecretAccessKey string }
	if err := json.Unmarshal(w.Body.Bytes(), &cred); w.Code != http.StatusOK || err != nil {
		t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	}
	session := aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey}
	proxy.Pause()
	code, body = call(session, http.MethodPost, "/backend/app/challenge", "")
	if code != http.StatusGatewayTimeout || !strings.Contains(body, `"__type":"GatewayTimeoutException"`) {
		t.Fatalf("a call signed with a session key while the store is cut off: %d %s, want 504 GatewayTimeoutException", code, body)
	}
	proxy.Resume()
	if code, body = call(session, http.MethodPost, "/backend/app/challenge", ""); code != http.StatusOK {
		t.Fatalf("the same call once the store answers: %d %s", code, body)
	}
}
