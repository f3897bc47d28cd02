package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/signin"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// APIError is an error as the AmplifyBackend API puts it on the wire: one
// entry of the catalog (catalog.go) with its message filled in. Handlers
// make one with a code's with for what they check themselves, or return
// the error they met; the error handler turns either into one of these.
type APIError struct {
	Status  int
	Type    string
	Message string
	// ResourceType is set on NotFoundException.
	ResourceType string
	// LimitType is set on TooManyRequestsException.
	LimitType string
}

func (e *APIError) Error() string { return e.Type + ": " + e.Message }

// targetError is a failed call to the storage target made while
// answering (callTarget: ListS3Buckets and the file browser's routes).
// Mostly it is neither the client's mistake nor the server's: it is
// answered 504, or 429 when the target throttles, which clients retry, and
// the log keeps the target's own words. When the target refused what the
// client asked for (s3iam.Refused: a part too small, a key too long), it
// is the client's mistake, answered 400 with the target's words.
type targetError struct{ err error }

func (e *targetError) Error() string { return "storage target: " + e.err.Error() }
func (e *targetError) Unwrap() error { return e.err }

// What a failure is besides its answer, for the log: a client's mistake is
// not logged, the others are.
type fault int

const (
	clientFault fault = iota
	targetFault
	storeFault
	serverFault
)

// toAPIError finds the catalog entry for any error a handler returns and
// fills in its message from the error's fields. Only the types below are
// phrased; anything else is an internal failure whose text stays in the
// log, never in the answer.
func toAPIError(err error) (*APIError, fault) {
	var (
		api      *APIError
		refused  *caller.Error
		denied   *accessDeniedError
		target   *targetError
		notFound *store.NotFoundError
		exists   *store.ResourceExistsError
		taken    *store.BucketTakenError
		pending  *jobs.PendingJobError
		envExist *store.EnvironmentExistsError
		busy     *jobs.EnvironmentBusyError
		tooMany  *jobs.TooManyEnvironmentsError
		tooBig   *jobs.TooManyResourcesError
		settled  *jobs.NotRunningError
		perm     *jobs.PermissionError
		bucket   *jobs.BucketNameError
		mismatch *jobs.OperationMismatchError
		status   *jobs.StatusNotSettableError
		routing  *echo.HTTPError
		signIn   *signin.Error
		deep     *signin.DepthError
	)
	switch {
	case errors.As(err, &api):
		return api, clientFault
	case errors.Is(err, store.ErrUnavailable):
		return errStoreUnavailable.with(), storeFault
	case errors.As(err, &refused) && refused.Check == caller.KeyLookupFailed:
		// The store holding sign-in sessions failed under the lookup in a
		// way that is not an outage (damage): the server's fault, never
		// the client's key.
		return errInternal.with(), serverFault
	case errors.As(err, &refused):
		return refusedAnswer(refused), clientFault
	case errors.As(err, &denied):
		how := ""
		if denied.Explicit {
			how = explicitDeny
		}
		return errAccessDenied.with(denied.AccessKeyID, access.Action(denied.Operation), denied.Resource, how), clientFault
	case errors.As(err, &target):
		if s3iam.Throttled(target.err) {
			return errTargetThrottled.with(), targetFault
		}
		if s3iam.Refused(target.err) {
			// The catalog's message ends the sentence; most targets'
			// messages end their own.
			return errTargetRefused.with(strings.TrimRight(s3iam.APIMessage(target.err), ". ")), clientFault
		}
		return errTargetFailed.with(), targetFault
	case errors.As(err, &notFound):
		return notFoundAnswer(notFound), clientFault
	case errors.As(err, &exists):
		k := exists.Resource
		return errResourceExists.with(k.Name, k.Env, k.AppID), clientFault
	case errors.As(err, &taken):
		return errBucketTaken.with(taken.Bucket, taken.Owner.Name, taken.Owner.Env, taken.Owner.AppID), clientFault
	case errors.As(err, &pending):
		k := pending.Resource
		return errPendingJob.with(k.Name, k.Env, k.AppID, pending.Job), clientFault
	case errors.As(err, &envExist):
		return errEnvExists.with(envExist.Env, envExist.AppID), clientFault
	case errors.As(err, &busy) && busy.Env == "":
		return errAppBusy.with(busy.AppID, busy.Job), clientFault
	case errors.As(err, &busy):
		return errEnvBusy.with(busy.Env, busy.AppID, busy.Job), clientFault
	case errors.As(err, &tooMany):
		return errTooManyEnvs.with(tooMany.AppID, tooMany.Count, tooMany.Max), clientFault
	case errors.As(err, &tooBig):
		return errTooManyToClone.with(tooBig.Env, tooBig.AppID, tooBig.Count, tooBig.Max), clientFault
	case errors.As(err, &settled):
		return errJobNotRunning.with(settled.Job, settled.Status), clientFault
	case errors.As(err, &perm):
		return errPermission.with(perm.Value, perm.Field), clientFault
	case errors.As(err, &bucket):
		return errBucketName.with(bucket.Name, bucket.Rule), clientFault
	case errors.As(err, &mismatch):
		return errJobOperation.with(mismatch.Operation, mismatch.Job, mismatch.JobOperation), clientFault
	case errors.As(err, &status):
		return errStatusNotSettable.with(status.Status), clientFault
	case errors.As(err, &signIn):
		return errSignInRefused.with(signIn.SessionID, signIn.AppID, signIn.Why()), clientFault
	case errors.As(err, &deep):
		return errInvitationTooDeep.with(signin.MaxInvitationDepth), clientFault
	case errors.As(err, &routing):
		// Echo's router answers a path or method it has no route for; no
		// other part of Echo the server uses makes one of these.
		switch routing.Code {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return errNoOperation.with(), clientFault
		case http.StatusRequestEntityTooLarge:
			return errBodyTooLarge.with(), clientFault
		}
	}
	return errInternal.with(), serverFault
}

// explicitDeny ends the message of a call a Deny statement refused, in
// AWS's words.
const explicitDeny = " with an explicit deny in an identity-based policy"

// checkAnswers are the entries for the caller package's checks whose
// messages quote nothing.
var checkAnswers = [...]code{
	caller.NoAuthorization:        errUnsigned,
	caller.MalformedAuthorization: errMalformedAuthorization,
	caller.UnknownKey:             errUnknownKey,
	caller.KeyExpired:             errKeyExpired,
	caller.BadDate:                errBadDate,
	caller.WrongScopeDate:         errWrongScopeDate,
	caller.PayloadHashMismatch:    errPayloadHash,
	caller.BodyTooLarge:           errBodyTooLarge,
	caller.BodyUnreadable:         errBodyUnreadable,
	caller.SignatureMismatch:      errSignature,
}

// refusedAnswer phrases a request the caller package refused.
func refusedAnswer(e *caller.Error) *APIError {
	at := func(offset int) string {
		return e.Now.Add(time.Duration(offset) * caller.ClockSkew).UTC().Format(caller.AmzDateLayout)
	}
	switch e.Check {
	case caller.WrongService:
		return errWrongService.with(caller.SigningName)
	case caller.Expired:
		return errExpired.with(e.Stamp, at(-1), at(0))
	case caller.NotYetValid:
		return errNotYetValid.with(e.Stamp, at(1), at(0))
	case caller.BodyBudgetSpent:
		return errBodyBudget.with(e.Budget)
	}
	if int(e.Check) < len(checkAnswers) && checkAnswers[e.Check] != 0 {
		return checkAnswers[e.Check].with()
	}
	return errSignature.with()
}

// notFoundAnswer phrases what is missing.
func notFoundAnswer(e *store.NotFoundError) *APIError {
	switch e.Kind {
	case store.KindApp:
		return errAppNotFound.with(e.AppID)
	case store.KindEnv:
		return errEnvNotFound.with(e.Env, e.AppID)
	case store.KindResource:
		return errResourceNotFound.with(e.Name, e.Env, e.AppID)
	}
	return errJobNotFound.with(e.Name)
}

// errorBody is the JSON error document; the JS and Go clients read __type
// from it, so it is always JSON, whatever went wrong.
type errorBody struct {
	Type         string `json:"__type"`
	Message      string `json:"message"`
	ResourceType string `json:"resourceType,omitempty"`
	LimitType    string `json:"limitType,omitempty"`
}

// handleError is Echo's error handler: the one place an error becomes an
// answer.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var taken *store.BucketTakenError
	if errors.As(err, &taken) && !callerOf(c).Policy.Allows(access.Action("GetBackendStorage"), s.Scope.Environment(taken.Owner.AppID, taken.Owner.Env)) {
		err = errBucketTakenElsewhere.with(taken.Bucket)
	}
	api, f := toAPIError(err)
	if f != clientFault {
		level, msg := slog.LevelError, "internal error"
		switch f {
		case targetFault:
			level, msg = slog.LevelWarn, "storage target failed"
		case storeFault:
			level, msg = slog.LevelWarn, "store unavailable"
		}
		r := c.Request()
		s.log.Log(r.Context(), level, msg, "request_id", requestID(c), "method", r.Method, "path", r.URL.EscapedPath(), "error", err)
	}
	writeError(c.Response(), api)
}

func writeError(w http.ResponseWriter, api *APIError) {
	body, _ := json.Marshal(errorBody{Type: api.Type, Message: api.Message, ResourceType: api.ResourceType, LimitType: api.LimitType})
	h := w.Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set("X-Amzn-ErrorType", api.Type)
	w.WriteHeader(api.Status)
	_, _ = w.Write(body)
}

// callTarget runs a call to the storage target made while answering, with
// the deadline a client waits for it (Config.TargetTimeout); its failure
// is a targetError.
func (s *Server) callTarget(ctx context.Context, call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.TargetTimeout)
	defer cancel()
	if err := call(ctx); err != nil {
		return &targetError{err}
	}
	return nil
}
