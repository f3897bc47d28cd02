// Package e2e runs the real amplifybackendd binary as child processes (the
// embedded gateway allows one per process) and drives it the way a client
// does: SigV4-signed HTTP to the API, the AWS SDK and anonymous HTTP to the
// embedded S3 and IAM endpoints.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "amplifybackendd-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "amplifybackendd")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/amplifybackendd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running amplifybackendd process.
type server struct {
	t        *testing.T
	dataDir  string
	args     []string
	env      []string
	cmd      *exec.Cmd
	API      string
	S3       string
	IAM      string
	apiCreds aws.Credentials
	s3Creds  aws.Credentials
	exited   chan struct{}
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	apiLine = regexp.MustCompile(`AmplifyBackend API on (http://\S+)`)
	s3Line  = regexp.MustCompile(`embedded S3 on (http://\S+) and IAM on (http://\S+)`)
)

// startServer runs the binary with a fresh data dir and free ports; extra
// flags are appended. It returns once /healthz answers 200.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	return startServerEnv(t, nil, extra...)
}

// startServerEnv is startServer with extra environment variables.
func startServerEnv(t *testing.T, env []string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: t.TempDir(), env: env}
	s.args = append([]string{"--listen", "127.0.0.1:0", "--data-dir", s.dataDir,
		"--embedded-s3-listen", "127.0.0.1:0", "--embedded-iam-listen", "127.0.0.1:0"}, extra...)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	t := s.t
	t.Helper()
	s.cmd = exec.Command(binary, s.args...)
	s.cmd.Env = append(os.Environ(), s.env...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.logs = &syncBuffer{}
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.After(60 * time.Second)
	s.API = ""
	for s.API == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("server exited before it was ready; stderr:\n%s", s.logs)
			}
			if m := apiLine.FindStringSubmatch(l); m != nil {
				s.API = m[1]
			}
			if m := s3Line.FindStringSubmatch(l); m != nil {
				s.S3, s.IAM = m[1], m[2]
			}
		case <-deadline:
			t.Fatalf("server did not start; stderr:\n%s", s.logs)
		}
	}
	// The embedded line follows the API line when there is one.
	if s.S3 == "" && !contains(s.args, "--s3-endpoint") {
		select {
		case l := <-lines:
			if m := s3Line.FindStringSubmatch(l); m != nil {
				s.S3, s.IAM = m[1], m[2]
			}
		case <-deadline:
		}
	}
	go func() {
		for range lines {
		}
	}()
	s.loadCredentials()
	for {
		resp, err := http.Get(s.API + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("server exited; stderr:\n%s", s.logs)
		case <-deadline:
			t.Fatalf("healthz never became ready; stderr:\n%s", s.logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func (s *server) loadCredentials() {
	raw, err := os.ReadFile(filepath.Join(s.dataDir, "credentials"))
	if err != nil {
		s.t.Fatal(err)
	}
	profiles := map[string]*aws.Credentials{"default": &s.apiCreds, "embedded-s3": &s.s3Creds}
	var cur *aws.Credentials
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			cur = profiles[strings.Trim(line, "[]")]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || cur == nil {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			cur.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			cur.SecretAccessKey = strings.TrimSpace(v)
		}
	}
}

// kill stops the process with SIGKILL: no shutdown code runs.
func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.t.Errorf("server did not stop on SIGTERM; stderr:\n%s", s.logs)
		s.kill()
	}
}

// restart starts the process again on the same data dir and flags. Ports
// given as :0 are new.
func (s *server) restart() {
	s.start()
}

// response is an API answer.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

func (r response) str(key string) string {
	v, _ := r.Body[key].(string)
	return v
}

// call sends a signed API request. path must already be escaped.
func (s *server) call(method, path string, body any) response {
	return s.callAs(s.apiCreds, method, path, body)
}

func (s *server) callAs(creds aws.Credentials, method, path string, body any) response {
	s.t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			s.t.Fatal(err)
		}
	}
	req := s.newRequest(method, path, raw)
	if creds.AccessKeyID != "" {
		sign(s.t, req, raw, creds, time.Now())
	}
	return do(s.t, req)
}

func (s *server) newRequest(method, path string, raw []byte) *http.Request {
	u, err := url.Parse(s.API + path)
	if err != nil {
		s.t.Fatal(err)
	}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(raw))
	if err != nil {
		s.t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func sign(t *testing.T, req *http.Request, raw []byte, creds aws.Credentials, at time.Time) {
	t.Helper()
	sum := sha256.Sum256(raw)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "amplifybackend", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("answer is not JSON (%d): %s", resp.StatusCode, raw)
		}
	}
	return out
}

// mustOK fails unless r is a 200.
func mustOK(t *testing.T, r response) response {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	return r
}

// wantError checks an AWS-shaped error answer.
func wantError(t *testing.T, r response, status int, name, msgPart string) {
	t.Helper()
	if r.Status != status || r.Header.Get("X-Amzn-ErrorType") != name || r.str("__type") != name {
		t.Fatalf("want %d %s, got %d %s: %s", status, name, r.Status, r.Header.Get("X-Amzn-ErrorType"), r.Raw)
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("error headers: %v", r.Header)
	}
	if !strings.Contains(r.str("message"), msgPart) {
		t.Fatalf("message %q does not mention %q", r.str("message"), msgPart)
	}
}

// waitJob polls GetBackendJob until the job leaves RUNNING.
func (s *server) waitJob(app, env, id string) response {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := mustOK(s.t, s.call("GET", fmt.Sprintf("/backend/%s/job/%s/%s", esc(app), esc(env), id), nil))
		if st := r.str("status"); st != "RUNNING" {
			return r
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %s still RUNNING; server log:\n%s", id, s.logs)
		}
		time.Sleep(20 * time.Millisecond) // polling, as every AWS client does
	}
}

func esc(s string) string { return url.PathEscape(s) }

func (s *server) s3Client() *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.S3), UsePathStyle: true,
		Credentials: credentials.StaticCredentialsProvider{Value: s.s3Creds},
	})
}

func (s *server) iamClient() *iam.Client {
	return iam.New(iam.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.IAM),
		Credentials: credentials.StaticCredentialsProvider{Value: s.s3Creds},
	})
}

// anon makes an unsigned request to the embedded S3 endpoint and returns
// the status code.
func (s *server) anon(method, path string, body string) int {
	s.t.Helper()
	req, err := http.NewRequest(method, s.S3+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body == "" {
		req.Body = nil
		req.ContentLength = 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
