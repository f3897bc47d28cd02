// Package testserver runs the real amplifybackendd binary as child processes
// for tests (the embedded gateway allows one per process) and drives it the
// way a client does: SigV4-signed HTTP to the API, the AWS SDK and anonymous
// HTTP to the embedded S3 and IAM endpoints.
package testserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/load"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

var binary string

// Build compiles the server with the race detector into a temporary folder;
// call it from TestMain and the returned cleanup after m.Run.
func Build(pkgDir string) (cleanup func(), err error) { return build(pkgDir, "-race") }

// BuildOptimized compiles the server as it ships, for measurements.
func BuildOptimized(pkgDir string) (cleanup func(), err error) { return build(pkgDir) }

// PID is the server process's id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

func build(pkgDir string, flags ...string) (cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "amplifybackendd-bin-")
	if err != nil {
		return nil, err
	}
	binary = filepath.Join(dir, "amplifybackendd")
	build := exec.Command("go", append(append([]string{"build"}, flags...), "-o", binary, pkgDir)...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("build %s: %w", pkgDir, err)
	}
	return func() { os.RemoveAll(dir) }, nil
}

// Server is one running amplifybackendd process.
type Server struct {
	t       testing.TB
	DataDir string
	// keysDir holds the key files when --keys-dir is given (else DataDir).
	keysDir string
	args    []string
	env     []string
	// unready: start returns once the API listens, before /readyz is 200.
	unready bool
	cmd     *exec.Cmd
	API     string
	S3      string
	IAM     string
	// HTTP is the client for the API and the embedded gateway: it trusts
	// the --tls-ca-bundle the server was started with, if any.
	HTTP *http.Client
	// Metrics is the metrics listener's URL, when --metrics-listen is given.
	Metrics string
	// Debug is the debug listener's URL (profiles under /debug/pprof/),
	// when --debug-listen is given.
	Debug    string
	APICreds aws.Credentials
	S3Creds  aws.Credentials
	exited   chan struct{}
	// Logs is the server's stderr, for failure messages and for checking
	// what was (or was not) logged; tests never wait on it. It is complete
	// once the process has exited (Stop): before, the last lines may still
	// be on their way.
	Logs *syncBuffer
	// Stdout is everything the process printed on stdout: what a user
	// starting it sees.
	Stdout *syncBuffer
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
	apiLine     = regexp.MustCompile(`AmplifyBackend API on (https?://\S+)`)
	s3Line      = regexp.MustCompile(`embedded S3 on (https?://\S+) and IAM on (https?://\S+)`)
	metricsLine = regexp.MustCompile(`metrics on (http://\S+)`)
	debugLine   = regexp.MustCompile(`profiles on (http://[^/\s]+)`)
)

// Start runs the binary with a fresh data dir and free ports; extra
// flags are appended. It returns once /readyz answers 200.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return StartEnv(t, nil, extra...)
}

// StartUnready is StartEnv for a server whose target is not reachable yet:
// it returns as soon as the API listens.
func StartUnready(t testing.TB, env []string, extra ...string) *Server {
	t.Helper()
	return launch(t, env, true, extra)
}

// StartEnv is Start with extra environment variables.
func StartEnv(t testing.TB, env []string, extra ...string) *Server {
	t.Helper()
	return launch(t, env, false, extra)
}

func launch(t testing.TB, env []string, unready bool, extra []string) *Server {
	t.Helper()
	s, err := tryLaunch(t, env, unready, extra)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TryStart is Start for a server that may refuse to start: its exit is
// returned as an error carrying the exit status and the server's stderr.
func TryStart(t testing.TB, extra ...string) (*Server, error) {
	t.Helper()
	return tryLaunch(t, nil, false, extra)
}

// Command is the server binary run with args, for its other commands
// (backup, restore).
func Command(args ...string) *exec.Cmd { return exec.Command(binary, args...) }

func tryLaunch(t testing.TB, env []string, unready bool, extra []string) (*Server, error) {
	t.Helper()
	s := &Server{t: t, DataDir: t.TempDir(), env: env, unready: unready, HTTP: http.DefaultClient}
	for i, a := range extra {
		if i+1 == len(extra) {
			break
		}
		switch a {
		case "--data-dir": // a caller's (an existing store) wins
			s.DataDir = extra[i+1]
		case "--keys-dir":
			s.keysDir = extra[i+1]
		case "--tls-ca-bundle":
			pem, err := os.ReadFile(extra[i+1])
			if err != nil {
				return s, err
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			s.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		}
	}
	s.args = append([]string{"--listen", "127.0.0.1:0", "--data-dir", s.DataDir,
		"--embedded-s3-listen", "127.0.0.1:0", "--embedded-iam-listen", "127.0.0.1:0"}, extra...)
	err := s.tryStart()
	if s.cmd.Process != nil {
		t.Cleanup(s.Stop)
	}
	return s, err
}

func (s *Server) start() {
	s.t.Helper()
	if err := s.tryStart(); err != nil {
		s.t.Fatal(err)
	}
}

// tryStart runs the process and waits until it is ready, or returns why
// it is not: it exited (with its status and stderr), or it timed out.
func (s *Server) tryStart() error {
	t := s.t
	t.Helper()
	s.cmd = exec.Command(binary, s.args...)
	s.cmd.Env = append(os.Environ(), s.env...)
	// If the test binary dies (a timeout panic), its servers die with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	out := &syncBuffer{}
	s.Logs, s.Stdout = &syncBuffer{}, out
	s.cmd.Stderr = s.Logs
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.Write(append(sc.Bytes(), '\n'))
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.After(60 * time.Second)
	// Ports given as :0 are new after a restart: read them all again from
	// the lines the server prints once it listens. The embedded gateway's
	// line comes only with that target; a server that prints no such line
	// is told apart by its next line, which it prints in any case.
	s.API, s.Metrics, s.Debug = "", "", ""
	embeddedLine := !contains(s.args, "--s3-endpoint")
	if embeddedLine {
		s.S3, s.IAM = "", ""
	}
	wantMetrics, wantDebug := contains(s.args, "--metrics-listen"), contains(s.args, "--debug-listen")
	for s.API == "" || embeddedLine && s.S3 == "" || wantMetrics && s.Metrics == "" || wantDebug && s.Debug == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				<-s.exited
				return fmt.Errorf("server exited (%s) before it was ready; stderr:\n%s", s.cmd.ProcessState, s.Logs)
			}
			if m := apiLine.FindStringSubmatch(l); m != nil {
				s.API = m[1]
			}
			if m := s3Line.FindStringSubmatch(l); m != nil {
				s.S3, s.IAM = m[1], m[2]
			}
			if m := metricsLine.FindStringSubmatch(l); m != nil {
				s.Metrics = m[1]
			}
			if m := debugLine.FindStringSubmatch(l); m != nil {
				s.Debug = m[1]
			}
			if s.API != "" && strings.HasPrefix(l, "  export ") {
				embeddedLine = false // the addresses are all printed before it
			}
		case <-deadline:
			return fmt.Errorf("server did not start; stderr:\n%s", s.Logs)
		}
	}
	go func() {
		for range lines {
		}
	}()
	s.loadCredentials()
	for !s.unready {
		resp, err := s.HTTP.Get(s.API + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("server exited (%s); stderr:\n%s", s.cmd.ProcessState, s.Logs)
		case <-deadline:
			return fmt.Errorf("readyz never became ready; stderr:\n%s", s.Logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// loadCredentials reads the keys the server wrote: the API's (profile
// default, always there) and the embedded gateway's (only with that target).
func (s *Server) loadCredentials() {
	path := filepath.Join(firstNonEmpty(s.keysDir, s.DataDir), "credentials")
	var err error
	if s.APICreds, err = credfile.Profile(path, "default"); err != nil {
		s.t.Fatal(err)
	}
	s.S3Creds, _ = credfile.Profile(path, "embedded-s3")
}

// Kill stops the process with SIGKILL: no shutdown code runs.
func (s *Server) Kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// Stop ends the process with SIGTERM, as an operator would, and waits for
// it; a server that does not stop in 20 s fails the test and is killed.
func (s *Server) Stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.Terminate()
}

// Terminate is Stop that reports how the process ended: its exit code (-1
// when it had to be killed) and the time from the signal to its exit.
func (s *Server) Terminate() (code int, took time.Duration) {
	start := time.Now()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode(), time.Since(start)
	case <-time.After(20 * time.Second):
		s.t.Errorf("server did not stop on SIGTERM; stderr:\n%s", s.Logs)
		s.Kill()
		return -1, time.Since(start)
	}
}

// Run runs the binary with args for a start that is expected to fail, and
// returns what it printed (stdout and stderr) and its exit code. A process
// that is still running after 60 s fails the test.
func Run(t testing.TB, args ...string) (output string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%v still running after 60 s; output:\n%s", args, out)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// Restart starts the process again on the same data dir and flags. Ports
// given as :0 are new.
func (s *Server) Restart() {
	s.start()
}

// Response is an API answer.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Str is the string member key of the JSON answer, "" when it is absent or
// not a string, so checks of a failed call read as plainly as of a good one.
func (r Response) Str(key string) string {
	v, _ := r.Body[key].(string)
	return v
}

// Call sends a signed API request. path must already be escaped.
func (s *Server) Call(method, path string, body any) Response {
	return s.CallAs(s.APICreds, method, path, body)
}

// CallAs is Call signed with creds (none when creds has no access key id),
// for tests of who may do what.
func (s *Server) CallAs(creds aws.Credentials, method, path string, body any) Response {
	s.t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			s.t.Fatal(err)
		}
	}
	req := s.NewRequest(method, path, raw)
	if creds.AccessKeyID != "" {
		Sign(s.t, req, raw, creds, time.Now())
	}
	return do(s.t, s.HTTP, req)
}

// CallRaw sends a signed API request whose body is body exactly as given
// (malformed JSON, odd spacing, or none when it is empty), for tests of
// what clients may send.
func (s *Server) CallRaw(method, path, body string) Response {
	s.t.Helper()
	req := s.NewRequest(method, path, []byte(body))
	Sign(s.t, req, []byte(body), s.APICreds, time.Now())
	return do(s.t, s.HTTP, req)
}

// NewRequest is an unsigned API request with raw as its JSON body, for
// tests that sign it themselves (Sign) or change it before sending.
func (s *Server) NewRequest(method, path string, raw []byte) *http.Request {
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

// Sign signs req for raw with creds at the time at, as botocore does: the
// signature covers the normalised path the server checks, so a path with
// dot segments in it verifies.
func Sign(t testing.TB, req *http.Request, raw []byte, creds aws.Credentials, at time.Time) {
	t.Helper()
	if err := sign(req, raw, creds, at); err != nil {
		t.Fatal(err)
	}
}

// SignRequest is Sign for goroutines other than the test's: it returns the
// signer's error instead of failing the test.
func SignRequest(req *http.Request, raw []byte, creds aws.Credentials, at time.Time) error {
	return sign(req, raw, creds, at)
}

func sign(req *http.Request, raw []byte, creds aws.Credentials, at time.Time) error {
	sum := sha256.Sum256(raw)
	return v4.NewSigner().SignHTTP(context.Background(), creds, caller.SigningCopy(req), hex.EncodeToString(sum[:]), caller.SigningName, "us-east-1", at)
}

// DoRaw sends req and returns the answer with its body read, whatever the
// body is (the embedded S3 endpoint answers in XML).
func DoRaw(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	return doRaw(t, http.DefaultClient, req)
}

func doRaw(t testing.TB, client *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// Do sends req with http.DefaultClient and reads the JSON answer; it fails
// the test when the answer is not JSON. A server behind TLS with its own
// CA needs Server.HTTP, which CallAs uses.
func Do(t testing.TB, req *http.Request) Response {
	t.Helper()
	return do(t, http.DefaultClient, req)
}

func do(t testing.TB, client *http.Client, req *http.Request) Response {
	t.Helper()
	resp, raw := doRaw(t, client, req)
	out := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("answer is not JSON (%d): %s", resp.StatusCode, raw)
		}
	}
	return out
}

// MustOK fails unless r is a 200.
func MustOK(t testing.TB, r Response) Response {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	return r
}

// WantError checks an AWS-shaped error answer.
func WantError(t testing.TB, r Response, status int, name, msgPart string) {
	t.Helper()
	if r.Status != status || r.Header.Get("X-Amzn-ErrorType") != name || r.Str("__type") != name {
		t.Fatalf("want %d %s, got %d %s: %s", status, name, r.Status, r.Header.Get("X-Amzn-ErrorType"), r.Raw)
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("error headers: %v", r.Header)
	}
	if !strings.Contains(r.Str("message"), msgPart) {
		t.Fatalf("message %q does not mention %q", r.Str("message"), msgPart)
	}
}

// WaitJob polls GetBackendJob until the job leaves RUNNING.
func (s *Server) WaitJob(app, env, id string) Response {
	s.t.Helper()
	var r Response
	s.Until("job "+id+" still RUNNING", func() bool {
		r = MustOK(s.t, s.Call("GET", fmt.Sprintf("/backend/%s/job/%s/%s", Esc(app), Esc(env), id), nil))
		return r.Str("status") != "RUNNING"
	})
	return r
}

// Until polls cond until it holds, and fails the test with what and the
// server's log if it does not within a minute. cond must read an outcome a
// client can see (a job's status, a key accepted, a metric), never the
// log: the server says what happened through what it serves. The pause
// between looks paces the polling, as every AWS client's does; it orders
// nothing.
func (s *Server) Until(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("%s after 60 s; server log:\n%s", what, s.Logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Metric reads one series from the metrics listener (the server must run
// with --metrics-listen): a name, with its labels as the server writes
// them, e.g. `amplifybackendd_api_keys_reloads_total{result="failure"}`.
func (s *Server) Metric(series string) float64 {
	s.t.Helper()
	if s.Metrics == "" {
		s.t.Fatal("the server runs without --metrics-listen")
	}
	resp, err := http.Get(s.Metrics)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %d %v\n%s", s.Metrics, resp.StatusCode, err, body)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				s.t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	s.t.Fatalf("no series %s in:\n%s", series, body)
	return 0
}

// Esc escapes one path segment as the API's clients do.
func Esc(s string) string { return url.PathEscape(s) }

// S3Client is an SDK client of the embedded S3 endpoint with the gateway's
// own credentials, for tests that check what jobs did to buckets.
func (s *Server) S3Client() *s3.Client {
	o := s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.S3), UsePathStyle: true,
		Credentials: credentials.StaticCredentialsProvider{Value: s.S3Creds},
	}
	if s.HTTP != http.DefaultClient { // else the SDK's own
		o.HTTPClient = s.HTTP
	}
	return s3.New(o)
}

// IAMClient is an SDK client of the embedded IAM endpoint with the
// gateway's own credentials, for tests that check what jobs did to roles.
func (s *Server) IAMClient() *iam.Client {
	o := iam.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.IAM),
		Credentials: credentials.StaticCredentialsProvider{Value: s.S3Creds},
	}
	if s.HTTP != http.DefaultClient {
		o.HTTPClient = s.HTTP
	}
	return iam.New(o)
}

// Anon makes an unsigned request to the embedded S3 endpoint and returns
// the status code.
func (s *Server) Anon(method, path string, body string) int {
	s.t.Helper()
	req, err := http.NewRequest(method, s.S3+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body == "" {
		req.Body = nil
		req.ContentLength = 0
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// HoldIdleConnections opens two connections to each of the API, the
// embedded S3 and the IAM endpoint (those the server runs) and keeps them
// open until the test ends: one idle after a completed keep-alive request,
// and one that never carried a request, as HTTP clients keep when they dial
// ahead of need and pool what they did not use. A stopping server must not
// wait for either.
func (s *Server) HoldIdleConnections() {
	s.t.Helper()
	for _, base := range []string{s.API, s.S3, s.IAM} {
		if base == "" {
			continue
		}
		addr := strings.TrimPrefix(base, "http://")
		if _, err := load.KeepIdle(Dial(s.t, addr), addr); err != nil {
			s.t.Fatalf("%s: %v", addr, err)
		}
		Dial(s.t, addr)
	}
}

// FreeAddr returns a loopback address nothing listens on: its port was
// free when asked. A server given it keeps it across restarts, as one
// behind a load balancer does.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Dial opens a TCP connection to addr that closes when the test ends.
func Dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Signal sends sig to the server process.
func (s *Server) Signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// NotReadyBecause asks /readyz once and returns the reason it gives for
// not being ready, or "" when it answers 200.
func (s *Server) NotReadyBecause() (string, error) {
	resp, err := s.HTTP.Get(s.API + "/readyz")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct{ Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode == http.StatusOK {
		return "", err
	}
	if body.Message == "" {
		return "", fmt.Errorf("/readyz answered %d without a reason", resp.StatusCode)
	}
	return body.Message, nil
}

// TryCall is Call for goroutines and for requests that may meet a killed
// server: a transport error is returned instead of failing the test.
func (s *Server) TryCall(method, path string, body any) (Response, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return Response{}, err
	}
	u, err := url.Parse(s.API + path)
	if err != nil {
		return Response{}, err
	}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(raw))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := sign(req, raw, s.APICreds, time.Now()); err != nil {
		return Response{}, err
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	out := Response{Status: resp.StatusCode, Header: resp.Header}
	if out.Raw, err = io.ReadAll(resp.Body); err != nil {
		return Response{}, err
	}
	if len(out.Raw) > 0 {
		if err := json.Unmarshal(out.Raw, &out.Body); err != nil {
			return Response{}, fmt.Errorf("answer is not JSON (%d): %s", resp.StatusCode, out.Raw)
		}
	}
	return out, nil
}

// Main is TestMain for packages that run the server: it builds the binary
// from pkgDir (with the race detector, or as shipped when optimized), runs
// the tests and returns the exit code for os.Exit.
func Main(m *testing.M, pkgDir string, optimized bool) int {
	b := Build
	if optimized {
		b = BuildOptimized
	}
	cleanup, err := b(pkgDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	return m.Run()
}
