package target

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Class says what a failed S3/IAM call means for the job that made it. The
// job layer maps it to retry, fail, or record a warning; Classify is the only
// place that decides it.
type Class int

const (
	// Transient failures may succeed if retried after a backoff: throttling,
	// server errors other than 501, broken or refused connections, timeouts
	// and cancellation (an interrupted call is retried after a restart).
	Transient Class = iota + 1
	// Permanent failures will fail the same way again: 4xx answers such as
	// AccessDenied, BucketAlreadyExists, MalformedPolicy, and anything not
	// recognised as another class.
	Permanent
	// NotImplemented means the target lacks the feature (501, the
	// NotImplemented code, an unknown IAM action, or IAM disabled in the
	// configuration). Optional settings record a warning instead of failing.
	NotImplemented
)

// String names the class for logs and job error texts.
func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case NotImplemented:
		return "not-implemented"
	default:
		return "none"
	}
}

// ErrNoIAM is returned by the IAM methods of a Target built with NoIAM (for
// example MinIO, which has no IAM API). It classifies as NotImplemented so
// that a job can say clearly that role policies cannot be written there.
var ErrNoIAM = errors.New("IAM is disabled for this target: role policies cannot be read or written")

// throttlingCodes are the error codes AWS services and S3 clones use for
// "slow down"; they come with 400, 429 or 503 depending on the service.
var throttlingCodes = map[string]bool{
	"SlowDown":                               true,
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottled":                       true,
	"RequestThrottledException":              true,
	"RequestLimitExceeded":                   true,
	"TooManyRequests":                        true,
	"TooManyRequestsException":               true,
	"ProvisionedThroughputExceededException": true,
	"BandwidthLimitExceeded":                 true,
	"EC2ThrottledException":                  true,
	"PriorRequestNotComplete":                true,
}

// transientCodes are 4xx codes that nevertheless mean "try again".
var transientCodes = map[string]bool{
	"RequestTimeout":          true, // S3 400: socket not read in time
	"RequestTimeoutException": true,
	"OperationAborted":        true, // S3 409: conflicting operation in progress
	"ConcurrentModification":  true, // IAM 409
	"InternalError":           true,
	"ServiceUnavailable":      true,
	"ServiceFailure":          true, // IAM 500
}

// notImplementedCodes mean the target does not offer the operation at all.
var notImplementedCodes = map[string]bool{
	"NotImplemented":            true, // S3 (AWS, Versity, Ceph, MinIO)
	"XNotImplemented":           true, // S3 clones for unsupported headers
	"UnsupportedOperation":      true,
	"NotSupported":              true,
	"InvalidAction":             true, // IAM query protocol: unknown Action
	"UnknownOperation":          true,
	"UnknownOperationException": true,
}

// Classify sorts an error returned by this package (or by the SDK directly)
// into Transient, Permanent or NotImplemented. Classify(nil) is 0, which is
// none of them.
func Classify(err error) Class {
	if err == nil {
		return 0
	}
	if errors.Is(err, ErrNoIAM) {
		return NotImplemented
	}

	status := httpStatus(err)
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case notImplementedCodes[code]:
			return NotImplemented
		case throttlingCodes[code], transientCodes[code]:
			return Transient
		}
	}
	switch {
	case status == http.StatusNotImplemented:
		return NotImplemented
	case status == http.StatusTooManyRequests, status >= 500:
		return Transient
	case status >= 400:
		return Permanent
	}
	if ae != nil {
		// An API error without a status (or with a strange one) is an
		// answer from the target, not a transport failure.
		return Permanent
	}

	// No answer from the target: the request never completed.
	var sendErr *smithyhttp.RequestSendError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return Transient
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return Transient
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Transient
	case errors.As(err, &netErr) && netErr.Timeout():
		return Transient
	case errors.As(err, &sendErr):
		// The SDK could not send the request or read the answer: a
		// transport problem, which a later attempt may not have.
		return Transient
	}
	return Permanent
}

// httpStatus returns the HTTP status of the answer behind err, or 0.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.HTTPStatusCode()
	}
	return 0
}

// APIMessage returns the target's own words for a failure, "Code: message",
// for error texts shown to users; without an API answer it is err.Error().
func APIMessage(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg := ae.ErrorCode(), ae.ErrorMessage()
		switch {
		case code == "":
			if msg != "" {
				return msg
			}
		case msg == "" || msg == code:
			// HEAD answers have no body; the SDK repeats the status text.
			return code
		default:
			return code + ": " + msg
		}
	}
	return err.Error()
}

// hasCode reports whether err is an API error with one of codes.
func hasCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	c := ae.ErrorCode()
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}
