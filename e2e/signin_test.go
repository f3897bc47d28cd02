package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestSignInWithChallenge runs the console's sign-in against the real
// binary: an administrator's CreateToken, the unsigned exchange, calls
// signed with the temporary credentials (also after a restart: the store
// keeps sessions), a replay refused, DeleteToken signing the session out,
// the store file still 0600 and neither the code nor the secret logged.
func TestSignInWithChallenge(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tok := testserver.MustOK(t, s.Call("POST", "/backend/myapp/challenge", nil))
	if tok.Str("ttl") != "900" || tok.Str("appId") != "myapp" {
		t.Fatalf("CreateToken = %v", tok.Body)
	}
	exchange := map[string]any{"appId": "myapp", "sessionId": tok.Str("sessionId"), "challengeCode": tok.Str("challengeCode")}
	cred := testserver.MustOK(t, s.CallAs(aws.Credentials{}, "POST", "/console-api/sign-in", exchange))
	session := aws.Credentials{AccessKeyID: cred.Str("accessKeyId"), SecretAccessKey: cred.Str("secretAccessKey")}
	testserver.MustOK(t, s.CallAs(session, "POST", "/backend/myapp/challenge", nil))
	testserver.WantError(t, s.CallAs(aws.Credentials{}, "POST", "/console-api/sign-in", exchange), 403, "AccessDeniedException", "has already been used")

	s.Stop()
	s.Restart()
	testserver.MustOK(t, s.CallAs(session, "POST", "/backend/myapp/challenge", nil))
	testserver.MustOK(t, s.CallAs(session, "POST", "/backend/myapp/challenge/"+tok.Str("sessionId")+"/remove", nil))
	testserver.WantError(t, s.CallAs(session, "POST", "/backend/myapp/challenge", nil), 403, "UnrecognizedClientException", "")

	info, err := os.Stat(filepath.Join(s.DataDir, "amplifybackendd.db"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("store file: %v %v, want mode 0600", info, err)
	}
	s.Stop()
	for _, secret := range []string{tok.Str("challengeCode"), session.SecretAccessKey} {
		if strings.Contains(s.Logs.String(), secret) {
			t.Fatalf("the server logged a secret (%q)", secret)
		}
	}
}

// TestSignInWhileEtcdIsDown runs the console's sign-in against the real
// binary keeping its store on etcd, and stops the cluster: a call signed
// with a session's key, and the exchange of an invitation, are answered
// 504 GatewayTimeoutException (the SDKs retry it), never 403 saying the
// key or the invitation is bad; once the cluster is back the same key
// signs calls and the invitation is still good for its one exchange.
func TestSignInWhileEtcdIsDown(t *testing.T) {
	t.Parallel()
	gw := testserver.StartGateway(t)
	cluster := etcdtest.Start(t, 1)
	s := testserver.StartEnv(t, gw.ServerEnv(), append(gw.ServerArgs(), "--store", "etcd", "--etcd-request-timeout", "1s",
		"--etcd-dial-timeout", "1s", "--etcd-endpoints", strings.Join(cluster.Endpoints(), ","))...)
	exchange := func(tok testserver.Response) map[string]any {
		return map[string]any{"appId": tok.Str("appId"), "sessionId": tok.Str("sessionId"), "challengeCode": tok.Str("challengeCode")}
	}
	cred := testserver.MustOK(t, s.CallAs(aws.Credentials{}, "POST", "/console-api/sign-in",
		exchange(testserver.MustOK(t, s.Call("POST", "/backend/myapp/challenge", nil)))))
	session := aws.Credentials{AccessKeyID: cred.Str("accessKeyId"), SecretAccessKey: cred.Str("secretAccessKey")}
	invitation := testserver.MustOK(t, s.Call("POST", "/backend/myapp/challenge", nil))

	cluster.Members()[0].Stop()
	testserver.WantError(t, s.CallAs(session, "POST", "/backend/myapp/challenge", nil), 504, "GatewayTimeoutException", "retry")
	testserver.WantError(t, s.CallAs(aws.Credentials{}, "POST", "/console-api/sign-in", exchange(invitation)), 504, "GatewayTimeoutException", "retry")

	cluster.Members()[0].Restart()
	s.Until("the session's key is not accepted with etcd back", func() bool {
		return s.CallAs(session, "POST", "/backend/myapp/challenge", nil).Status == 200
	})
	testserver.MustOK(t, s.CallAs(aws.Credentials{}, "POST", "/console-api/sign-in", exchange(invitation)))
}
