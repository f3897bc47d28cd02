package s3iam

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
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

// notImplementedAnswers are codes that, from one operation, mean the target
// did not understand the request at all rather than that our input was
// wrong: we send that operation one fixed, valid document, so an
// "invalid argument" can only be the target's.
var notImplementedAnswers = map[string]map[string]bool{
	// Ceph RGW 16.2 has no ?encryption subresource: it takes PUT
	// ?encryption for a CreateBucket whose body it cannot read (400
	// InvalidArgument, empty message) and GET ?encryption for a ListObjects.
	"PutBucketEncryption": {"InvalidArgument": true},
	// Ceph RGW 16.2 has no managed policies: it answers 405 to their calls.
	"ListAttachedRolePolicies": {"MethodNotAllowed": true},
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

	if brokenAnswer(err) {
		return Transient
	}
	status := httpStatus(err)
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		var oe *smithy.OperationError
		switch {
		case notImplementedCodes[code]:
			return NotImplemented
		case errors.As(err, &oe) && notImplementedAnswers[oe.Operation()][code]:
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
	case errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
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

// Throttled reports whether err is the target asking for fewer requests (a
// throttling code, or 429). Such a failure is Transient to a job; an API
// call that met it tells its own client the same (429) rather than that
// the target failed.
func Throttled(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && throttlingCodes[ae.ErrorCode()] || httpStatus(err) == http.StatusTooManyRequests
}

// refusalCodes are S3's answers to a request that was itself wrong, or
// rather than to a target failing: an upload id that does not exist, parts
// that do not fit, a bucket gone. AccessDenied is not one: it says the
// server's own credentials fall short, which is the target's side.
var refusalCodes = map[string]bool{
	"NoSuchUpload": true, "InvalidPart": true, "InvalidPartOrder": true, "EntityTooSmall": true, "EntityTooLarge": true,
	"InvalidArgument": true, "InvalidRequest": true, "KeyTooLongError": true, "NoSuchBucket": true, "NoSuchKey": true,
}

// Refused reports whether err is the target refusing what it was asked
// (refusalCodes): an API call that met it tells its client what the
// target said, as the client's mistake, not as the target failing.
func Refused(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && refusalCodes[ae.ErrorCode()]
}

// IsNoSuchBucket reports whether err is the target saying the bucket does
// not exist. A class of its own is not needed: it stays Permanent for a
// step that needs the bucket, and a step whose wanted state holds nothing
// in the bucket takes it as that state reached.
func IsNoSuchBucket(err error) bool {
	return hasCode(err, "NoSuchBucket")
}

// brokenAnswer reports whether an answer arrived but its body could not be
// read because the connection broke: its status alone does not tell what the
// target decided, so the call is worth repeating. Measured with Ceph RGW,
// which sends headers and body of an answer in separate segments: Go's
// transport then now and then closes the connection before the body is read
// ("use of closed network connection"; the SDK itself retries it only three
// times).
func brokenAnswer(err error) bool {
	var de *smithy.DeserializationError
	if !errors.As(err, &de) {
		return false
	}
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF)
}

// httpStatus returns the HTTP status of the answer behind err, or 0.
// Overloaded reports whether err says the target has more requests than
// it can take: a throttling answer (Throttled) or a 503, which S3 sends as
// SlowDown or ServiceUnavailable when a prefix or the whole service is
// busy. Job concurrency falls on it; a 500 or a lost connection is a fault,
// not load, and does not count.
func Overloaded(err error) bool {
	return Throttled(err) || httpStatus(err) == http.StatusServiceUnavailable
}

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
		if msg == sdkNoMessage {
			msg = ""
		}
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

// sdkNoMessage is what the SDK puts in an error's message when the answer
// had none (Ceph RGW never sends one).
const sdkNoMessage = "UnknownError"

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

// s3StyleIAMErrors lets the IAM client read error answers written in the S3
// shape, <Error><Code>…</Code></Error>, which is what Ceph RGW sends for its
// IAM API. The SDK only reads the IAM query protocol's
// <ErrorResponse><Error>…</Error></ErrorResponse> and would report every
// such answer as "UnknownError", hiding NoSuchEntity, EntityAlreadyExists,
// MalformedPolicyDocument and the rest. It sits between the transport and
// the SDK's deserializer and rewrites the body of an error answer into the
// query shape; answers already in that shape, and successes, pass untouched.
type s3StyleIAMErrors struct{}

// addS3StyleIAMErrors installs s3StyleIAMErrors on an IAM client's stack.
func addS3StyleIAMErrors(stack *middleware.Stack) error {
	return stack.Deserialize.Insert(s3StyleIAMErrors{}, "OperationDeserializer", middleware.After)
}

func (s3StyleIAMErrors) ID() string { return "amplifybackendd.S3StyleIAMErrors" }

// maxErrorBody bounds what is read of an error answer; IAM error bodies are a
// few hundred bytes.
const maxErrorBody = 64 << 10

func (s3StyleIAMErrors) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if err != nil || !ok || resp.StatusCode < 300 || resp.Body == nil {
		return out, md, err
	}
	rewriteBody(resp, maxErrorBody, func(body []byte) []byte {
		return queryErrorBody(body, resp.Header.Get("X-Amz-Request-Id"))
	})
	return out, md, err
}

// rewriteBody replaces the first limit bytes of resp's body with what fn
// makes of them; the rest is left as it was.
func rewriteBody(resp *smithyhttp.Response, limit int64, fn func([]byte) []byte) {
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, limit))
	var rest io.Reader = resp.Body
	if rerr != nil {
		// The SDK must see the broken read, not a short body it would
		// misread; Classify calls it Transient.
		rest = errReader{rerr}
	} else {
		body = fn(body)
	}
	// The SDK drains and closes the body later; closing ours closes the
	// connection's.
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), rest), resp.Body}
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// queryErrorBody returns body in the IAM query protocol's error shape. Ceph
// RGW answers <Error><Code>NoSuchEntity</Code>…</Error>, and for
// DeleteRolePolicy even prefixes it with a success document; the first
// <Error> element holding a Code is used. Anything else comes back as it was.
func queryErrorBody(body []byte, requestID string) []byte {
	if bytes.Contains(body, []byte("<ErrorResponse")) {
		return body
	}
	start := bytes.Index(body, []byte("<Error>"))
	if start < 0 {
		return body
	}
	end := bytes.Index(body[start:], []byte("</Error>"))
	if end < 0 {
		return body
	}
	var e struct {
		Code      string `xml:"Code"`
		Message   string `xml:"Message"`
		RequestID string `xml:"RequestId"`
	}
	if xml.Unmarshal(body[start:start+end+len("</Error>")], &e) != nil || e.Code == "" {
		return body
	}
	if e.RequestID == "" {
		e.RequestID = requestID
	}
	type queryError struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message,omitempty"`
	}
	out, err := xml.Marshal(struct {
		XMLName   xml.Name   `xml:"ErrorResponse"`
		Error     queryError `xml:"Error"`
		RequestID string     `xml:"RequestId,omitempty"`
	}{Error: queryError{Code: e.Code, Message: e.Message}, RequestID: e.RequestID})
	if err != nil {
		return body
	}
	return out
}
