package testserver

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
)

// Gateway is a running `amplifybackendd gateway`: the embedded S3/IAM
// gateway alone, an external target several servers share.
type Gateway struct {
	t       testing.TB
	cmd     *exec.Cmd
	exited  chan struct{}
	DataDir string
	S3, IAM string
	// Root is the gateway's root key, what servers sign with.
	Root aws.Credentials
	// Logs is the process's stderr.
	Logs *syncBuffer
	// Advice is the flags the gateway tells operators to start servers
	// with ("servers use it with: ..."), as printed.
	Advice string
}

var gatewayLine = regexp.MustCompile(`S3 on (https?://\S+) and IAM on (https?://\S+)`)

// adviceLine is the line after it, the flags that point servers at it.
var adviceLine = regexp.MustCompile(`^\s*servers use it with: (.*)$`)

// StartGateway runs the gateway command on a fresh data directory and
// free ports, and returns once it serves. Cleanup stops it.
func StartGateway(t testing.TB) *Gateway {
	t.Helper()
	g := &Gateway{t: t, DataDir: t.TempDir(), Logs: &syncBuffer{}, exited: make(chan struct{})}
	g.cmd = exec.Command(binary, "gateway", "--data-dir", g.DataDir, "--s3-listen", "127.0.0.1:0", "--iam-listen", "127.0.0.1:0")
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	g.cmd.Stderr = g.Logs
	stdout, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Terminate() })
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var endpoints []string
		for sc.Scan() {
			if m := gatewayLine.FindStringSubmatch(sc.Text()); m != nil {
				endpoints = m
			}
			if m := adviceLine.FindStringSubmatch(sc.Text()); m != nil && endpoints != nil {
				found <- append(endpoints, m[1])
			}
		}
		_ = g.cmd.Wait()
		close(g.exited)
	}()
	select {
	case m := <-found:
		g.S3, g.IAM, g.Advice = m[1], m[2], m[3]
	case <-g.exited:
		t.Fatalf("gateway exited (%s) before it served; stderr:\n%s", g.cmd.ProcessState, g.Logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("gateway did not start; stderr:\n%s", g.Logs)
	}
	if g.Root, err = credfile.Profile(filepath.Join(g.DataDir, "credentials"), "embedded-s3"); err != nil {
		t.Fatal(err)
	}
	return g
}

// ServerEnv is the environment a server needs to sign its calls to the
// gateway, as an operator would give it.
func (g *Gateway) ServerEnv() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + g.Root.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + g.Root.SecretAccessKey, "AWS_REGION=us-east-1"}
}

// ServerArgs are the flags that make a server use the gateway as its
// external target.
func (g *Gateway) ServerArgs() []string {
	return []string{"--target", "external", "--s3-endpoint", g.S3, "--iam-endpoint", g.IAM, "--bucket-policy-limit", "3584"}
}

// S3Client is an S3 client of the gateway signed with its root key.
func (g *Gateway) S3Client() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(g.S3), UsePathStyle: true,
		Credentials: credentials.StaticCredentialsProvider{Value: g.Root}})
}

// IAMClient is an IAM client of the gateway signed with its root key.
func (g *Gateway) IAMClient() *iam.Client {
	return iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(g.IAM),
		Credentials: credentials.StaticCredentialsProvider{Value: g.Root}})
}

// Terminate sends SIGTERM and waits for the process: its exit code, or
// an error when it had not stopped after 20 s (it is then killed). A
// gateway already gone reports how it ended.
func (g *Gateway) Terminate() (int, error) {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
		return g.cmd.ProcessState.ExitCode(), nil
	case <-time.After(20 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
		return -1, fmt.Errorf("gateway did not stop on SIGTERM; stderr:\n%s", g.Logs)
	}
}
