package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/load"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// shortTimeouts are the flags of a server whose listeners give up on a
// client within seconds, so the tests see them do it.
var shortTimeouts = []string{"--read-header-timeout", "1s", "--read-timeout", "2s", "--write-timeout", "5s", "--idle-timeout", "1s",
	"--embedded-s3-read-timeout", "2s", "--embedded-s3-write-timeout", "5s"}

// hangGuard ends a wait for the server to close a connection: far longer
// than any timeout under test, it only keeps a broken server from hanging
// the test.
const hangGuard = time.Minute

// closedByServer reads what the server still sends on c until it closes
// the connection, and says how many bytes that was.
func closedByServer(t *testing.T, c net.Conn, r io.Reader) (answered int64) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(hangGuard)); err != nil {
		t.Fatal(err)
	}
	answered, err := io.Copy(io.Discard, r)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s", hangGuard)
	}
	return answered
}

func dial(t *testing.T, endpoint string) net.Conn {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return testserver.Dial(t, u.Host)
}

// head is r's request line and headers, announcing length body bytes, as
// they go on the wire; r's body is left to the caller to send, or not.
func head(r *http.Request, length int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.Method, r.URL.RequestURI(), r.Host)
	_ = r.Header.Write(&b)
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", length)
	return b.String()
}

// TestListenersCloseStalledAndIdleConnections holds connections to the
// API and the embedded S3 and IAM endpoints the ways a careless or hostile
// client does, and checks the server closes each of them: one that sends
// nothing, one that stops inside its headers, one left idle after an
// answer, and a signed upload that stops inside its body.
func TestListenersCloseStalledAndIdleConnections(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, shortTimeouts...)
	listeners := map[string]string{"API": s.API, "S3": s.S3, "IAM": s.IAM}
	for name, endpoint := range listeners {
		for what, sent := range map[string]string{"silent": "", "inside the headers": "GET /healthz HTTP/1.1\r\nHost: x\r\n"} {
			t.Run(name+" "+what, func(t *testing.T) {
				t.Parallel()
				c := dial(t, endpoint)
				if _, err := io.WriteString(c, sent); err != nil {
					t.Fatal(err)
				}
				// A connection that sent nothing gets no answer: one a
				// client dialed and pooled unused would read an answer
				// sent now as the answer to its next request.
				if n := closedByServer(t, c, c); sent == "" && n > 0 {
					t.Errorf("a connection that sent nothing was answered (%d bytes) before it was closed", n)
				}
			})
		}
		t.Run(name+" idle after an answer", func(t *testing.T) {
			t.Parallel()
			c := dial(t, endpoint)
			br, err := load.KeepIdle(c, "x")
			if err != nil {
				t.Fatalf("the first answer did not leave the connection open: %v", err)
			}
			closedByServer(t, c, br)
		})
	}

	t.Run("API signed upload stalled in its body", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"backendEnvironmentName":"dev","resourceName":"stalled","pad":"` + strings.Repeat("p", 1000) + `"}`)
		req := s.NewRequest("POST", "/backend/limits/storage", body)
		testserver.Sign(t, req, body, s.APICreds, time.Now())
		c := dial(t, s.API)
		if _, err := io.WriteString(c, head(req, len(body))+string(body[:100])); err != nil {
			t.Fatal(err)
		}
		closedByServer(t, c, c)
	})
	t.Run("S3 signed upload stalled in its body", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		if _, err := s.S3Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("stalled-uploads")}); err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest("PUT", s.S3+"/stalled-uploads/object", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 1 << 20
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(ctx, s.S3Creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		c := dial(t, s.S3)
		if _, err := io.WriteString(c, head(req, 1<<20)+strings.Repeat("x", 1000)); err != nil {
			t.Fatal(err)
		}
		closedByServer(t, c, c)
	})

	// The server still serves a client that behaves.
	testserver.MustOK(t, s.Call("POST", "/s3Buckets", map[string]any{}))
}

// TestAttackHeld is the attack behind the README's figure in small: stalled
// unsigned uploads of 1 MiB and idle keep-alive connections against a
// server with short timeouts. The server must close every one of them, and
// a signed client's calls and /healthz must keep succeeding meanwhile.
// Memory and latency are measured by cmd/abattack, not asserted here.
func TestAttackHeld(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, shortTimeouts...)
	rep, err := load.Attack(context.Background(), load.AttackConfig{
		Endpoint: s.API, PID: s.PID(), Credentials: s.APICreds,
		Stalled: 50, Idle: 100, Duration: hangGuard, UntilClosed: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("attack report:\n%s", rep)
	if rep.Stalled.Opened != 50 || rep.Stalled.Closed != 50 || rep.Idle.Opened != 100 || rep.Idle.Closed != 100 {
		t.Errorf("connections: stalled %+v, idle %+v; want all 50 and 100 opened and closed by the server", rep.Stalled, rep.Idle)
	}
	if rep.Signed == 0 || rep.SignedFailed > 0 || rep.Healthz == 0 || rep.HealthzFailed > 0 {
		t.Errorf("during the attack: %d signed calls, %d failed (%v); %d /healthz, %d failed",
			rep.Signed, rep.SignedFailed, rep.SignedFailures, rep.Healthz, rep.HealthzFailed)
	}
}

// TestConnectionsBounded: the API holds at most --max-connections
// connections; the next waits to be accepted until one closes, and is
// then served. Unbounded, one client holding idle connections took every
// file descriptor of the process, and the embedded gateway's S3 requests
// failed with "too many open files".
func TestConnectionsBounded(t *testing.T) {
	t.Parallel()
	const most = 8
	s := testserver.Start(t, "--max-connections", fmt.Sprint(most))
	held := make([]net.Conn, most)
	for i := range held {
		held[i] = dial(t, s.API)
		if _, err := load.KeepIdle(held[i], "x"); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, most, err)
		}
	}
	waiting := dial(t, s.API)
	if _, err := io.WriteString(waiting, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := waiting.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := waiting.Read(make([]byte, 1)); n > 0 || err == nil {
		t.Fatalf("connection %d was served while %d were held", most+1, most)
	}
	held[0].Close()
	if err := waiting.SetReadDeadline(time.Now().Add(hangGuard)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(waiting), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("once a connection closed, the waiting one: %v %v", resp, err)
	}
}

// TestHeadersBounded: the API refuses headers past 64 KiB with 431, so a
// connection still sending its headers holds at most that much; at
// net/http's default (1 MiB) 300 such connections took 235 MiB.
func TestHeadersBounded(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	for size, want := range map[int]int{32 << 10: http.StatusOK, 100 << 10: http.StatusRequestHeaderFieldsTooLarge} {
		c := dial(t, s.API)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("a", size)+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(hangGuard)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != want {
			t.Errorf("a header of %d bytes: %v %v, want %d", size, resp, err, want)
		}
		c.Close()
	}
}

// TestEmbeddedIAMAnswersMalformedRequests: a request the embedded IAM
// endpoint cannot parse is the client's fault, answered 400 (431 for
// headers past its buffer), and nothing of it reaches the server's
// stderr: Versity's own handler answered 500 and printed the client's
// bytes there, outside the log and its format.
func TestEmbeddedIAMAnswersMalformedRequests(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, "--log-format", "json")
	for sent, want := range map[string]int{
		"\x00\x01junk\r\n\r\n": http.StatusBadRequest,
		"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 20000) + "\r\n\r\n": http.StatusRequestHeaderFieldsTooLarge,
	} {
		c := dial(t, s.IAM)
		if _, err := io.WriteString(c, sent); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(hangGuard)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != want {
			t.Errorf("%.20q: %v %v, want %d", sent, resp, err, want)
		}
		c.Close()
	}
	// The IAM endpoint still serves a client that behaves.
	if _, err := s.IAMClient().ListRoles(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(s.Logs.String()) {
		if strings.Contains(line, "junk") || strings.Contains(line, "INTERNAL ERROR") {
			t.Errorf("the server's stderr has a line of the malformed request: %q", line)
		}
	}
}

// TestEmbeddedEndpointsCheckBeforeTheBody holds the embedded endpoints to
// what the API does: a request is judged before its body can hold the
// server. On the S3 endpoint, whose body bound is minutes long for large
// uploads, an unsigned PUT that announces a body and stalls inside its
// first bytes (fasthttp reads up to 8 KiB before any check runs) is closed
// at the header bound, while a signed upload slower than that bound still
// completes; the IAM endpoint refuses a body announced past what any IAM
// request needs at once, rather than allocating and awaiting it.
func TestEmbeddedEndpointsCheckBeforeTheBody(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, "--read-header-timeout", "1s", "--embedded-s3-read-timeout", "2m")
	ctx := context.Background()
	if _, err := s.S3Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("judged-first")}); err != nil {
		t.Fatal(err)
	}

	t.Run("S3 unsigned upload stalled in its first bytes", func(t *testing.T) {
		t.Parallel()
		u, _ := url.Parse(s.S3)
		c := dial(t, s.S3)
		start := time.Now()
		if _, err := io.WriteString(c, "PUT /judged-first/x HTTP/1.1\r\nHost: "+u.Host+"\r\nContent-Length: 1000000\r\n\r\n0123456789"); err != nil {
			t.Fatal(err)
		}
		closedByServer(t, c, c)
		if held := time.Since(start); held > 30*time.Second {
			t.Errorf("an unsigned upload stalled in its first bytes held its connection for %s; the header bound is 1s", held.Round(time.Second))
		}
	})

	t.Run("S3 signed upload slower than the header bound", func(t *testing.T) {
		t.Parallel()
		const size = 16 << 10
		req, err := http.NewRequest("PUT", s.S3+"/judged-first/slow", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = size
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(ctx, s.S3Creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		c := dial(t, s.S3)
		if _, err := io.WriteString(c, head(req, size)+strings.Repeat("x", 9<<10)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2500 * time.Millisecond)
		if _, err := io.WriteString(c, strings.Repeat("x", size-9<<10)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(hangGuard))
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			t.Fatalf("a signed upload that paused past the header bound got no answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("a signed upload that paused past the header bound: %s", resp.Status)
		}
	})

	t.Run("IAM body announced past any IAM request", func(t *testing.T) {
		t.Parallel()
		u, _ := url.Parse(s.IAM)
		c := dial(t, s.IAM)
		if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: "+u.Host+"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000000\r\n\r\nAction="); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("a 4 MB body announced to the IAM endpoint was awaited, not refused: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("a 4 MB body announced to the IAM endpoint: %s, want 413", resp.Status)
		}
	})

	// Jobs still write their role policies through the IAM endpoint.
	r := testserver.MustOK(t, s.Call("POST", "/backend/judged/storage", map[string]any{"backendEnvironmentName": "dev", "resourceName": "r",
		"resourceConfig": map[string]any{"serviceName": "S3", "permissions": map[string]any{"authenticated": []string{"READ", "CREATE_AND_UPDATE", "DELETE"}}}}))
	if j := s.WaitJob("judged", "dev", r.Str("jobId")); j.Str("status") != "COMPLETED" {
		t.Fatalf("create after the checks: %s", j.Raw)
	}
}
