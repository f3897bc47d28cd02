package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestReplicasOnEtcdWithGateway runs what "Running several replicas" in
// the README describes, with etcd in the test process: `amplifybackendd
// gateway` as the shared target, two servers on one etcd store, each with
// a data directory of its own and the key files shared (--keys-dir). A
// storage resource accepted by one is provisioned on the gateway (bucket,
// bucket policy, role policies) and its job is read through the other; a
// key made with `keys create` on the shared files signs calls to both
// without a restart; SIGTERM stops the gateway cleanly.
func TestReplicasOnEtcdWithGateway(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1)
	gw := testserver.StartGateway(t)
	keysDir := t.TempDir()
	replica := func() *testserver.Server {
		args := append(gw.ServerArgs(), "--store", "etcd", "--etcd-endpoints", strings.Join(cluster.Endpoints(), ","),
			"--keys-dir", keysDir, "--public-guest-access", "true")
		return testserver.StartEnv(t, gw.ServerEnv(), args...)
	}
	// What the gateway prints for operators is what these replicas need,
	// guest access in bucket policies included: nothing on the gateway
	// assumes the Cognito roles, as on the embedded target.
	for _, flag := range append(gw.ServerArgs(), "--public-guest-access true") {
		if !strings.Contains(gw.Advice, flag) {
			t.Errorf("the gateway's advice %q lacks %s", gw.Advice, flag)
		}
	}
	a, b := replica(), replica()
	if a.APICreds != b.APICreds {
		t.Fatalf("the replicas sign with different default keys: %s and %s", a.APICreds.AccessKeyID, b.APICreds.AccessKeyID)
	}

	job := testserver.MustOK(t, a.Call("POST", "/backend/myapp/storage", storageBody("dev", "photos", "myapp-photos",
		[]string{"READ", "CREATE_AND_UPDATE"}, []string{"READ"})))
	if got := a.WaitJob("myapp", "dev", job.Str("jobId")); got.Str("status") != "COMPLETED" {
		t.Fatalf("job on replica a: %s\nlog:\n%s", got.Raw, a.Logs)
	}
	if got := b.WaitJob("myapp", "dev", job.Str("jobId")); got.Str("status") != "COMPLETED" || got.Str("operation") != "CreateBackendStorage" {
		t.Fatalf("the job read through replica b: %s", got.Raw)
	}

	ctx := context.Background()
	if _, err := gw.S3Client().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("myapp-photos")}); err != nil {
		t.Fatalf("the bucket is not on the gateway: %v", err)
	}
	pol, err := gw.S3Client().GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("myapp-photos")})
	if err != nil || !strings.Contains(aws.ToString(pol.Policy), "public/*") {
		t.Fatalf("bucket policy on the gateway: %v %v", pol, err)
	}
	for _, role := range []string{"amplify-myapp-dev-authRole", "amplify-myapp-dev-unauthRole"} {
		names, err := gw.IAMClient().ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
		if err != nil || len(names.PolicyNames) == 0 {
			t.Fatalf("%s on the gateway has no inline policy: %v %v", role, names, err)
		}
	}

	handed := filepath.Join(t.TempDir(), "team-credentials")
	if out, code := testserver.Run(t, "keys", "create", "team", "--app", "myapp", "--read-only",
		"--keys-dir", keysDir, "--credentials-file", handed); code != 0 {
		t.Fatalf("keys create: exit %d\n%s", code, out)
	}
	team, err := credfile.Profile(handed, "team")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*testserver.Server{a, b} {
		s.Until("the new key is not accepted", func() bool {
			return s.CallAs(team, "GET", "/backend/myapp/job/dev/"+job.Str("jobId"), nil).Status == 200
		})
	}

	if code, err := gw.Terminate(); err != nil || code != 0 {
		t.Fatalf("gateway on SIGTERM: exit %d, %v\nstderr:\n%s", code, err, gw.Logs)
	}
}

// TestReplicaWithoutEtcd: a server whose etcd cluster does not answer at
// start exits non-zero naming the endpoints; one cut off from it later
// answers /readyz 503 (a load balancer moves traffic away) until the
// cluster answers again. Also the gateway command's help, and its refusal
// of a data directory another process holds.
func TestReplicaWithoutEtcd(t *testing.T) {
	t.Parallel()
	gw := testserver.StartGateway(t)
	args := append(gw.ServerArgs(), "--store", "etcd", "--etcd-request-timeout", "1s", "--etcd-dial-timeout", "1s")

	closed := testserver.FreeAddr(t)
	out, code := testserver.Run(t, append(args, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--etcd-endpoints", closed)...)
	if code != 1 || !strings.Contains(out, "--etcd-endpoints "+closed) || !strings.Contains(out, "no answer within the dial timeout, 1s") {
		t.Fatalf("start with no etcd at %s: exit %d\n%s", closed, code, out)
	}

	// The gateway's own refusals and help, while one runs.
	out, code = testserver.Run(t, "gateway", "--data-dir", gw.DataDir, "--s3-listen", "127.0.0.1:0", "--iam-listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(out, "is in use by process") {
		t.Fatalf("a second gateway on the same data directory: exit %d\n%s", code, out)
	}
	if out, code = testserver.Run(t, "gateway", "--help"); code != 0 || !strings.Contains(out, "-s3-listen") || !strings.Contains(out, "SIGTERM") {
		t.Fatalf("gateway --help: exit %d\n%s", code, out)
	}

	cluster := etcdtest.Start(t, 1)
	s := testserver.StartEnv(t, gw.ServerEnv(), append(args, "--etcd-endpoints", strings.Join(cluster.Endpoints(), ","))...)
	if !strings.Contains(s.Stdout.String(), "store in etcd at "+cluster.Endpoints()[0]) {
		t.Errorf("the start lines do not say where the store is:\n%s", s.Stdout)
	}
	ready := func() int {
		resp, err := http.Get(s.API + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cluster.Members()[0].Stop()
	s.Until("/readyz is not 503 with etcd stopped", func() bool { return ready() == http.StatusServiceUnavailable })
	cluster.Members()[0].Restart()
	s.Until("/readyz is not 200 with etcd back", func() bool { return ready() == http.StatusOK })
}
