package s3iam_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
)

// answer builds an error shaped like the SDK's for an HTTP answer.
func answer(status int, code, msg string) error {
	var inner error = &smithy.GenericAPIError{Code: code, Message: msg}
	if code == "" {
		inner = errors.New("http error")
	}
	return fmt.Errorf("operation error S3: Op: %w", &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      inner,
	})
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want s3iam.Class
	}{
		{"nil", nil, 0},
		{"no IAM", fmt.Errorf("iam GetRole: %w", s3iam.ErrNoIAM), s3iam.NotImplemented},
		{"SlowDown 503", answer(503, "SlowDown", "slow"), s3iam.Transient},
		{"IAM Throttling 400", answer(400, "Throttling", "Rate exceeded"), s3iam.Transient},
		{"RequestLimitExceeded 400", answer(400, "RequestLimitExceeded", ""), s3iam.Transient},
		{"ThrottlingException 400", answer(400, "ThrottlingException", ""), s3iam.Transient},
		{"TooManyRequests 429", answer(429, "TooManyRequests", ""), s3iam.Transient},
		{"bare 429", answer(429, "", ""), s3iam.Transient},
		{"RequestTimeout 400", answer(400, "RequestTimeout", ""), s3iam.Transient},
		{"OperationAborted 409", answer(409, "OperationAborted", ""), s3iam.Transient},
		{"IAM ConcurrentModification 409", answer(409, "ConcurrentModification", ""), s3iam.Transient},
		{"InternalError 500", answer(500, "InternalError", ""), s3iam.Transient},
		{"bare 502", answer(502, "", ""), s3iam.Transient},
		{"ServiceUnavailable 503", answer(503, "ServiceUnavailable", ""), s3iam.Transient},
		{"NotImplemented 501", answer(501, "NotImplemented", "A header you provided implies functionality that is not implemented."), s3iam.NotImplemented},
		{"bare 501", answer(501, "", ""), s3iam.NotImplemented},
		{"NotImplemented without status", &smithy.GenericAPIError{Code: "NotImplemented"}, s3iam.NotImplemented},
		{"IAM InvalidAction 400", answer(400, "InvalidAction", ""), s3iam.NotImplemented},
		{"AccessDenied 403", answer(403, "AccessDenied", "Access Denied"), s3iam.Permanent},
		{"HEAD Forbidden 403", answer(403, "Forbidden", "Forbidden"), s3iam.Permanent},
		{"BucketAlreadyExists 409", answer(409, "BucketAlreadyExists", ""), s3iam.Permanent},
		{"MalformedPolicy 400", answer(400, "MalformedPolicy", ""), s3iam.Permanent},
		{"NoSuchEntity 404", answer(404, "NoSuchEntity", ""), s3iam.Permanent},
		{"API error without status", &smithy.GenericAPIError{Code: "Weird"}, s3iam.Permanent},
		{"canceled", fmt.Errorf("s3 ListBuckets: %w", context.Canceled), s3iam.Transient},
		{"deadline", fmt.Errorf("s3 ListBuckets: %w", context.DeadlineExceeded), s3iam.Transient},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, s3iam.Transient},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, s3iam.Transient},
		{"EOF", fmt.Errorf("read body: %w", io.EOF), s3iam.Transient},
		{"unexpected EOF", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), s3iam.Transient},
		{"timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, s3iam.Transient},
		{"send error", &smithyhttp.RequestSendError{Err: errors.New("tls: handshake failure")}, s3iam.Transient},
		{"closed connection", fmt.Errorf("s3 ListBuckets: %w", &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}), s3iam.Transient},
		{"400 whose body broke off", fmt.Errorf("operation error IAM: PutRolePolicy: %w", &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 400}},
			Err: &smithy.DeserializationError{Err: fmt.Errorf("failed to copy error response body, %w",
				&net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed})},
		}), s3iam.Transient},
		{"PutBucketEncryption InvalidArgument", &smithy.OperationError{ServiceID: "S3", OperationName: "PutBucketEncryption",
			Err: answer(400, "InvalidArgument", "")}, s3iam.NotImplemented},
		{"ListAttachedRolePolicies MethodNotAllowed (Ceph RGW 16)", &smithy.OperationError{ServiceID: "IAM", OperationName: "ListAttachedRolePolicies",
			Err: answer(405, "MethodNotAllowed", "")}, s3iam.NotImplemented},
		{"PutRolePolicy MethodNotAllowed", &smithy.OperationError{ServiceID: "IAM", OperationName: "PutRolePolicy",
			Err: answer(405, "MethodNotAllowed", "")}, s3iam.Permanent},
		{"PutBucketTagging InvalidArgument", &smithy.OperationError{ServiceID: "S3", OperationName: "PutBucketTagging",
			Err: answer(400, "InvalidArgument", "")}, s3iam.Permanent},
		{"anything else", errors.New("no EC2 IMDS role found"), s3iam.Permanent},
	}
	for _, c := range cases {
		if got := s3iam.Classify(c.err); got != c.want {
			t.Errorf("%s: Classify(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// TestThrottled: throttling codes and 429 are the target asking for fewer
// requests, and always Transient; other failures, transient ones included,
// are not. Overloaded, on which job concurrency falls, adds any 503.
func TestThrottled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                  string
		err                   error
		throttled, overloaded bool
	}{
		{"SlowDown 503", answer(503, "SlowDown", "slow"), true, true},
		{"IAM Throttling 400", answer(400, "Throttling", "Rate exceeded"), true, true},
		{"429 without a code", answer(429, "", ""), true, true},
		{"wrapped", fmt.Errorf("s3 ListBuckets: %w", answer(400, "RequestLimitExceeded", "")), true, true},
		{"ServiceUnavailable 503", answer(503, "ServiceUnavailable", ""), false, true},
		{"InternalError 500", answer(500, "InternalError", ""), false, false},
		{"AccessDenied 403", answer(403, "AccessDenied", ""), false, false},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, false, false},
		{"nil", nil, false, false},
	}
	for _, c := range cases {
		if got := s3iam.Throttled(c.err); got != c.throttled {
			t.Errorf("%s: Throttled(%v) = %v, want %v", c.name, c.err, got, c.throttled)
		}
		if got := s3iam.Overloaded(c.err); got != c.overloaded {
			t.Errorf("%s: Overloaded(%v) = %v, want %v", c.name, c.err, got, c.overloaded)
		}
		if c.throttled && s3iam.Classify(c.err) != s3iam.Transient {
			t.Errorf("%s: throttled but classified %v", c.name, s3iam.Classify(c.err))
		}
	}
}

func TestClassString(t *testing.T) {
	t.Parallel()
	for c, want := range map[s3iam.Class]string{
		s3iam.Transient: "transient", s3iam.Permanent: "permanent", s3iam.NotImplemented: "not-implemented", 0: "none",
	} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(c), c.String(), want)
		}
	}
}

func TestAPIMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{answer(409, "BucketAlreadyExists", "The requested bucket name is not available."), "BucketAlreadyExists: The requested bucket name is not available."},
		{answer(403, "Forbidden", "Forbidden"), "Forbidden"},
		{answer(404, "NotFound", ""), "NotFound"},
		{errors.New("dial tcp: connection refused"), "dial tcp: connection refused"},
	}
	for _, c := range cases {
		if got := s3iam.APIMessage(c.err); got != c.want {
			t.Errorf("APIMessage(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
