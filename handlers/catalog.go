package handlers

import (
	"fmt"
	"net/http"
)

// The error catalog: every error the API answers with, in one table. An
// entry fixes the AWS error type (X-Amzn-ErrorType and __type), the HTTP
// status, the message template and the extra members the service model
// gives that type. Handlers return errors; the error handler (errors.go)
// finds the entry for each one and renders it, and nothing else writes an
// error answer. A test walks the table: every entry renders the AWS shape,
// and every entry is produced by some code.

// The AWS error types. The first four are the AmplifyBackend service
// model's; the 403s are what AWS front ends answer for authentication and
// authorization;
// InternalFailure and UnknownOperationException are AWS's generic ones.
const (
	BadRequest            = "BadRequestException"
	NotFound              = "NotFoundException"
	TooManyRequests       = "TooManyRequestsException"
	GatewayTimeout        = "GatewayTimeoutException"
	MissingAuthentication = "MissingAuthenticationTokenException"
	UnrecognizedClient    = "UnrecognizedClientException"
	InvalidSignature      = "InvalidSignatureException"
	ExpiredToken          = "ExpiredTokenException"
	AccessDenied          = "AccessDeniedException"
	InternalFailure       = "InternalFailure"
	UnknownOperation      = "UnknownOperationException"
)

// The limitType values of TooManyRequestsException: which limit was met.
const (
	// BodyBudgetLimit: the bytes of request bodies all requests together
	// may hold.
	BodyBudgetLimit = "RequestBodyMemory"
	// TargetRateLimit: the storage target's request rate; it asked the
	// server to slow down.
	TargetRateLimit = "TargetRequestRate"
)

// code names one entry of the catalog.
type code int

const (
	_ code = iota

	// Authentication (the caller package's checks).
	errUnsigned
	errMalformedAuthorization
	errUnknownKey
	errKeyExpired
	errWrongService
	errBadDate
	errExpired
	errNotYetValid
	errWrongScopeDate
	errPayloadHash
	errSignature

	// Authorization (the caller's policy).
	errAccessDenied

	// The request's body and fields.
	errBodyTooLarge
	errSignInBodyTooLarge
	errBodyUnreadable
	errBodyBudget
	errNotJSON
	errBodyNotObject
	errFieldType
	errMissingField
	errBadEscape
	errNameTooLong
	errNameNotUTF8
	errNameControl
	errNameDots
	errServiceName
	errPermission
	errBucketName
	errEmptyBucketName
	errImportWithoutBucket
	errNextToken
	errMaxResults
	errStatus
	errOperation
	errJobOperation
	errStatusNotSettable
	errFieldValue
	errFieldRule
	errFieldRange

	// The state of what the request names.
	errResourceExists
	errBucketTaken
	errBucketTakenElsewhere
	errPendingJob
	errEnvExists
	errEnvBusy
	errAppBusy
	errTooManyEnvs
	errTooManyToClone
	errJobNotRunning
	errAppNotFound
	errEnvNotFound
	errResourceNotFound
	errJobNotFound
	errTokenNotFound
	errSignInRefused
	errInvitationTooDeep
	errNoOperation
	errUnsupportedOperation
	errObjectNotFound
	errBackupInEtcd

	// Failures of the server, of its store, or of the target it calls.
	errBackupNoRoom
	errStoreUnavailable
	errTargetFailed
	errTargetThrottled
	errTargetRefused
	errInternal
)

// entry is one error the API can answer.
type entry struct {
	status int
	typ    string
	// message is a fmt template of what the client reads; the producer of
	// the code passes its verbs' values, in order.
	message string
	// resourceType is NotFoundException's: what is missing.
	resourceType string
	// limitType is TooManyRequestsException's: which limit was met.
	limitType string
}

var catalog = [...]entry{
	errUnsigned:               {http.StatusForbidden, MissingAuthentication, "Missing Authentication Token", "", ""},
	errMalformedAuthorization: {http.StatusForbidden, InvalidSignature, "The Authorization header is not a well-formed AWS4-HMAC-SHA256 signature.", "", ""},
	errUnknownKey:             {http.StatusForbidden, UnrecognizedClient, "The security token included in the request is invalid.", "", ""},
	errKeyExpired:             {http.StatusForbidden, ExpiredToken, "The security token included in the request is expired", "", ""},
	errWrongService:           {http.StatusForbidden, InvalidSignature, "Credential should be scoped to correct service: '%s'.", "", ""},
	errBadDate:                {http.StatusForbidden, InvalidSignature, "The request must carry a valid X-Amz-Date header.", "", ""},
	errExpired:                {http.StatusForbidden, InvalidSignature, "Signature expired: %s is now earlier than %s (%s - 5 min.)", "", ""},
	errNotYetValid:            {http.StatusForbidden, InvalidSignature, "Signature not yet current: %s is still later than %s (%s + 5 min.)", "", ""},
	errWrongScopeDate:         {http.StatusForbidden, InvalidSignature, "Credential should be scoped to a valid date matching X-Amz-Date.", "", ""},
	errPayloadHash:            {http.StatusForbidden, InvalidSignature, "The provided x-amz-content-sha256 header does not match the request body.", "", ""},
	errSignature: {http.StatusForbidden, InvalidSignature, "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.", "", ""},
	// The last verb is empty for an implicit deny and explicitDeny for an
	// explicit one: AWS's two wordings.
	errAccessDenied: {http.StatusForbidden, AccessDenied, "User: %s is not authorized to perform: %s on resource: %s%s", "", ""},

	errBodyTooLarge:        {http.StatusBadRequest, BadRequest, "The request body is larger than 1 MiB.", "", ""},
	errSignInBodyTooLarge:  {http.StatusBadRequest, BadRequest, "The sign-in request body is larger than %d bytes.", "", ""},
	errBodyUnreadable:      {http.StatusBadRequest, BadRequest, "The request body could not be read.", "", ""},
	errBodyBudget:          {http.StatusTooManyRequests, TooManyRequests, "The server holds as many request bodies as it may (%d bytes in all); retry shortly.", "", BodyBudgetLimit},
	errNotJSON:             {http.StatusBadRequest, BadRequest, "The request body is not valid JSON: %s.", "", ""},
	errBodyNotObject:       {http.StatusBadRequest, BadRequest, "The request body must be a JSON object.", "", ""},
	errFieldType:           {http.StatusBadRequest, BadRequest, "Invalid %s: must be %s.", "", ""},
	errMissingField:        {http.StatusBadRequest, BadRequest, "Missing required field %s.", "", ""},
	errBadEscape:           {http.StatusBadRequest, BadRequest, "Invalid %s: bad percent-encoding.", "", ""},
	errNameTooLong:         {http.StatusBadRequest, BadRequest, "Invalid %s: must be at most 255 bytes long.", "", ""},
	errNameNotUTF8:         {http.StatusBadRequest, BadRequest, "Invalid %s: must be valid UTF-8.", "", ""},
	errNameControl:         {http.StatusBadRequest, BadRequest, "Invalid %s: must not contain control characters.", "", ""},
	errNameDots:            {http.StatusBadRequest, BadRequest, "Invalid %s %q: a name must not be \".\" or \"..\".", "", ""},
	errServiceName:         {http.StatusBadRequest, BadRequest, "Invalid %s %q: the only supported value is S3.", "", ""},
	errPermission:          {http.StatusBadRequest, BadRequest, "Invalid value %q in %s: each element must be one of READ, CREATE_AND_UPDATE, DELETE.", "", ""},
	errBucketName:          {http.StatusBadRequest, BadRequest, "Invalid bucketName %q: %s.", "", ""},
	errEmptyBucketName:     {http.StatusBadRequest, BadRequest, "Invalid bucketName: must not be empty; omit it to have a name generated.", "", ""},
	errImportWithoutBucket: {http.StatusBadRequest, BadRequest, "Missing required field bucketName: name the existing bucket to import.", "", ""},
	errNextToken:           {http.StatusBadRequest, BadRequest, "Invalid nextToken: it was not issued by this server for this request.", "", ""},
	errMaxResults:          {http.StatusBadRequest, BadRequest, "Invalid maxResults %d: must be between 1 and 25.", "", ""},
	errStatus:              {http.StatusBadRequest, BadRequest, "Invalid status %q: must be one of RUNNING, COMPLETED, FAILED, CANCELLED.", "", ""},
	errOperation: {http.StatusBadRequest, BadRequest,
		"Invalid operation %q: must be an AmplifyBackend operation name; the jobs this server runs are CreateBackendStorage, " +
			"ImportBackendStorage, UpdateBackendStorage, DeleteBackendStorage, CreateBackend, CloneBackend, DeleteBackend, RemoveAllBackends.", "", ""},
	errJobOperation:      {http.StatusBadRequest, BadRequest, "Invalid operation %q: job %s is a %s job.", "", ""},
	errStatusNotSettable: {http.StatusBadRequest, BadRequest, "Invalid status %q: the only status a client can set is CANCELLED.", "", ""},
	errFieldValue:        {http.StatusBadRequest, BadRequest, "Invalid %s %q: %s.", "", ""},
	errFieldRule:         {http.StatusBadRequest, BadRequest, "Invalid %s: %s.", "", ""},
	errFieldRange:        {http.StatusBadRequest, BadRequest, "Invalid %s %d: must be between %d and %d.", "", ""},

	errResourceExists: {http.StatusBadRequest, BadRequest, "A storage resource named %q already exists in environment %q of app %q.", "", ""},
	errBucketTaken:    {http.StatusBadRequest, BadRequest, "Bucket %q is already used by storage resource %q in environment %q of app %q.", "", ""},
	// errBucketTakenElsewhere is errBucketTaken for a caller who may not
	// read the resource that uses the bucket: it is not told whose it is.
	errBucketTakenElsewhere: {http.StatusBadRequest, BadRequest, "Bucket %q is already used by another storage resource.", "", ""},
	errPendingJob: {http.StatusBadRequest, BadRequest,
		"There is already a pending job for resource %q in environment %q of app %q (job %s); wait for it to complete.", "", ""},
	errEnvExists: {http.StatusBadRequest, BadRequest, "Backend environment %q already exists in app %q.", "", ""},
	errEnvBusy: {http.StatusBadRequest, BadRequest,
		"There is already a pending job for backend environment %q of app %q (job %s); wait for it to complete.", "", ""},
	errAppBusy: {http.StatusBadRequest, BadRequest, "There is already a pending job for app %q (job %s); wait for it to complete.", "", ""},
	errTooManyEnvs: {http.StatusBadRequest, BadRequest,
		"App %q has %d backend environments; RemoveAllBackends removes at most %d at once when the store is kept in etcd: delete some with DeleteBackend first.", "", ""},
	errTooManyToClone: {http.StatusBadRequest, BadRequest,
		"Backend environment %q of app %q has %d storage resources; CloneBackend copies at most %d at once when the store is kept in etcd.", "", ""},
	errJobNotRunning:        {http.StatusBadRequest, BadRequest, "Job %s is %s; only a RUNNING job can be cancelled.", "", ""},
	errAppNotFound:          {http.StatusNotFound, NotFound, "App %q not found.", "app", ""},
	errEnvNotFound:          {http.StatusNotFound, NotFound, "Backend environment %q not found in app %q.", "backendEnvironment", ""},
	errResourceNotFound:     {http.StatusNotFound, NotFound, "No storage resource named %q in environment %q of app %q.", "storage", ""},
	errJobNotFound:          {http.StatusNotFound, NotFound, "Job %q not found.", "job", ""},
	errTokenNotFound:        {http.StatusNotFound, NotFound, "Sign-in challenge %q of app %q %s.", "token", ""},
	errSignInRefused:        {http.StatusForbidden, AccessDenied, "Sign-in refused: challenge %q of app %q %s.", "", ""},
	errNoOperation:          {http.StatusNotFound, UnknownOperation, "No operation matches this method and path.", "", ""},
	errUnsupportedOperation: {http.StatusBadRequest, BadRequest, "This server does not support the %s operation.", "", ""},
	errObjectNotFound:       {http.StatusNotFound, NotFound, "No object %q in bucket %q.", "object", ""},
	errBackupInEtcd: {http.StatusBadRequest, BadRequest,
		"This server keeps its store in etcd (--store etcd), not in a file to copy: back it up with etcd's snapshots (etcdctl snapshot save FILE).", "", ""},
	errInvitationTooDeep: {http.StatusBadRequest, BadRequest,
		"These credentials come from a chain of %d sign-in invitations, the most there may be: they cannot create another challenge; ask the holder of an API key to invite.", "", ""},

	errTargetFailed: {http.StatusGatewayTimeout, GatewayTimeout,
		"The storage target did not answer, or failed; retry later. The request ID identifies the failure in the server log.", "", ""},
	errStoreUnavailable: {http.StatusGatewayTimeout, GatewayTimeout,
		"The store did not answer in time; retry. The request ID identifies the failure in the server log.", "", ""},
	errTargetThrottled: {http.StatusTooManyRequests, TooManyRequests, "The storage target asks for fewer requests; retry shortly.", "", TargetRateLimit},
	errTargetRefused:   {http.StatusBadRequest, BadRequest, "The storage target refused the request: %s.", "", ""},
	errBackupNoRoom: {http.StatusInternalServerError, InternalFailure,
		"The server has no room beside its store for the copy a backup is staged in (%s): it needs about the store's size, %d bytes, free in its data directory. Free space there and retry.", "", ""},
	errInternal: {http.StatusInternalServerError, InternalFailure, "An internal error occurred; the request ID identifies it in the server log.", "", ""},
}

// with is the error of entry c, its message quoting args.
func (c code) with(args ...any) *APIError {
	e := catalog[c]
	msg := e.message
	if len(args) > 0 {
		msg = fmt.Sprintf(msg, args...)
	}
	return &APIError{Status: e.status, Type: e.typ, Message: msg, ResourceType: e.resourceType, LimitType: e.limitType}
}
