package target_test

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

	"github.com/amplifybackendd/amplifybackendd/target"
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
		want target.Class
	}{
		{"nil", nil, 0},
		{"no IAM", fmt.Errorf("iam GetRole: %w", target.ErrNoIAM), target.NotImplemented},
		{"SlowDown 503", answer(503, "SlowDown", "slow"), target.Transient},
		{"IAM Throttling 400", answer(400, "Throttling", "Rate exceeded"), target.Transient},
		{"RequestLimitExceeded 400", answer(400, "RequestLimitExceeded", ""), target.Transient},
		{"ThrottlingException 400", answer(400, "ThrottlingException", ""), target.Transient},
		{"TooManyRequests 429", answer(429, "TooManyRequests", ""), target.Transient},
		{"bare 429", answer(429, "", ""), target.Transient},
		{"RequestTimeout 400", answer(400, "RequestTimeout", ""), target.Transient},
		{"OperationAborted 409", answer(409, "OperationAborted", ""), target.Transient},
		{"IAM ConcurrentModification 409", answer(409, "ConcurrentModification", ""), target.Transient},
		{"InternalError 500", answer(500, "InternalError", ""), target.Transient},
		{"bare 502", answer(502, "", ""), target.Transient},
		{"ServiceUnavailable 503", answer(503, "ServiceUnavailable", ""), target.Transient},
		{"NotImplemented 501", answer(501, "NotImplemented", "A header you provided implies functionality that is not implemented."), target.NotImplemented},
		{"bare 501", answer(501, "", ""), target.NotImplemented},
		{"NotImplemented without status", &smithy.GenericAPIError{Code: "NotImplemented"}, target.NotImplemented},
		{"IAM InvalidAction 400", answer(400, "InvalidAction", ""), target.NotImplemented},
		{"AccessDenied 403", answer(403, "AccessDenied", "Access Denied"), target.Permanent},
		{"HEAD Forbidden 403", answer(403, "Forbidden", "Forbidden"), target.Permanent},
		{"BucketAlreadyExists 409", answer(409, "BucketAlreadyExists", ""), target.Permanent},
		{"MalformedPolicy 400", answer(400, "MalformedPolicy", ""), target.Permanent},
		{"NoSuchEntity 404", answer(404, "NoSuchEntity", ""), target.Permanent},
		{"API error without status", &smithy.GenericAPIError{Code: "Weird"}, target.Permanent},
		{"canceled", fmt.Errorf("s3 ListBuckets: %w", context.Canceled), target.Transient},
		{"deadline", fmt.Errorf("s3 ListBuckets: %w", context.DeadlineExceeded), target.Transient},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, target.Transient},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, target.Transient},
		{"EOF", fmt.Errorf("read body: %w", io.EOF), target.Transient},
		{"unexpected EOF", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), target.Transient},
		{"timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, target.Transient},
		{"send error", &smithyhttp.RequestSendError{Err: errors.New("tls: handshake failure")}, target.Transient},
		{"closed connection", fmt.Errorf("s3 ListBuckets: %w", &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}), target.Transient},
		{"400 whose body broke off", fmt.Errorf("operation error IAM: PutRolePolicy: %w", &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 400}},
			Err: &smithy.DeserializationError{Err: fmt.Errorf("failed to copy error response body, %w",
				&net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed})},
		}), target.Transient},
		{"PutBucketEncryption InvalidArgument", &smithy.OperationError{ServiceID: "S3", OperationName: "PutBucketEncryption",
			Err: answer(400, "InvalidArgument", "")}, target.NotImplemented},
		{"PutBucketTagging InvalidArgument", &smithy.OperationError{ServiceID: "S3", OperationName: "PutBucketTagging",
			Err: answer(400, "InvalidArgument", "")}, target.Permanent},
		{"anything else", errors.New("no EC2 IMDS role found"), target.Permanent},
	}
	for _, c := range cases {
		if got := target.Classify(c.err); got != c.want {
			t.Errorf("%s: Classify(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

func TestClassString(t *testing.T) {
	t.Parallel()
	for c, want := range map[target.Class]string{
		target.Transient: "transient", target.Permanent: "permanent", target.NotImplemented: "not-implemented", 0: "none",
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
		if got := target.APIMessage(c.err); got != c.want {
			t.Errorf("APIMessage(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
