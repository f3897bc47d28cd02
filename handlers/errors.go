package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// APIError is an error as the AmplifyBackend API puts it on the wire. Every
// failure a client sees is one of these; handlers return plain errors and
// the error handler converts them here, in one place.
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

// The error names of the AmplifyBackend service model, plus the
// authentication errors AWS front ends answer with.
const (
	BadRequest            = "BadRequestException"
	NotFound              = "NotFoundException"
	TooManyRequests       = "TooManyRequestsException"
	GatewayTimeout        = "GatewayTimeoutException"
	MissingAuthentication = "MissingAuthenticationTokenException"
	UnrecognizedClient    = "UnrecognizedClientException"
	InvalidSignature      = "InvalidSignatureException"
	InternalFailure       = "InternalFailure"
	UnknownOperation      = "UnknownOperationException"
)

func badRequest(format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: BadRequest, Message: fmt.Sprintf(format, args...)}
}

func forbidden(name, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusForbidden, Type: name, Message: fmt.Sprintf(format, args...)}
}

// toAPIError maps any error to the API error a client should see. Store error
// classes map by class; anything unknown is an internal failure whose text
// stays in the log, never in the answer.
func toAPIError(err error) (*APIError, bool) {
	var api *APIError
	if errors.As(err, &api) {
		return api, true
	}
	var ce *caller.Error
	if errors.As(err, &ce) {
		return refused(ce), true
	}
	var nf *store.NotFoundError
	if errors.As(err, &nf) {
		return &APIError{Status: http.StatusNotFound, Type: NotFound, Message: nf.Message, ResourceType: nf.ResourceType}, true
	}
	var se *store.ClassError
	if errors.As(err, &se) {
		switch se.Class {
		case store.ErrInvalid, store.ErrAlreadyExists, store.ErrConflict:
			return &APIError{Status: http.StatusBadRequest, Type: BadRequest, Message: se.Message}, true
		case store.ErrNotFound:
			return &APIError{Status: http.StatusNotFound, Type: NotFound, Message: se.Message}, true
		}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return &APIError{Status: http.StatusNotFound, Type: UnknownOperation, Message: "No operation matches this method and path."}, true
		case http.StatusRequestEntityTooLarge:
			return refused(&caller.Error{Check: caller.BodyTooLarge}), true
		}
		if he.Code >= 400 && he.Code < 500 {
			return &APIError{Status: he.Code, Type: BadRequest, Message: fmt.Sprint(he.Message)}, true
		}
	}
	return &APIError{Status: http.StatusInternalServerError, Type: InternalFailure, Message: "An internal error occurred; the request ID identifies it in the server log."}, false
}

// BodyBudgetLimit is the limitType of the TooManyRequestsException a
// request gets when the body budget is spent.
const BodyBudgetLimit = "RequestBodyMemory"

// refused is the answer to a request the caller package refused.
func refused(e *caller.Error) *APIError {
	now := func(d time.Duration) string { return e.Now.Add(d).UTC().Format(caller.AmzDateLayout) }
	switch e.Check {
	case caller.NoAuthorization:
		return forbidden(MissingAuthentication, "Missing Authentication Token")
	case caller.MalformedAuthorization:
		return forbidden(InvalidSignature, "The Authorization header is not a well-formed AWS4-HMAC-SHA256 signature.")
	case caller.UnknownKey:
		return forbidden(UnrecognizedClient, "The security token included in the request is invalid.")
	case caller.WrongService:
		return forbidden(InvalidSignature, "Credential should be scoped to correct service: '%s'.", caller.SigningName)
	case caller.BadDate:
		return forbidden(InvalidSignature, "The request must carry a valid X-Amz-Date header.")
	case caller.Expired:
		return forbidden(InvalidSignature, "Signature expired: %s is now earlier than %s (%s - 5 min.)", e.Stamp, now(-caller.ClockSkew), now(0))
	case caller.NotYetValid:
		return forbidden(InvalidSignature, "Signature not yet current: %s is still later than %s (%s + 5 min.)", e.Stamp, now(caller.ClockSkew), now(0))
	case caller.WrongScopeDate:
		return forbidden(InvalidSignature, "Credential should be scoped to a valid date matching X-Amz-Date.")
	case caller.PayloadHashMismatch:
		return forbidden(InvalidSignature, "The provided x-amz-content-sha256 header does not match the request body.")
	case caller.BodyTooLarge:
		return badRequest("The request body is larger than 1 MiB.")
	case caller.BodyBudgetSpent:
		return &APIError{Status: http.StatusTooManyRequests, Type: TooManyRequests, LimitType: BodyBudgetLimit,
			Message: fmt.Sprintf("The server holds as many request bodies as it may (%d bytes in all); retry shortly.", e.Budget)}
	case caller.BodyUnreadable:
		return badRequest("The request body could not be read.")
	}
	return forbidden(InvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
}

// errorBody is the JSON error document; the JS and Go clients read __type
// from it, so it is always JSON, whatever went wrong.
type errorBody struct {
	Type         string `json:"__type"`
	Message      string `json:"message"`
	ResourceType string `json:"resourceType,omitempty"`
	LimitType    string `json:"limitType,omitempty"`
}

func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	api, known := toAPIError(err)
	if !known {
		s.log.Error("internal error", "request_id", requestID(c), "method", c.Request().Method, "path", c.Request().URL.EscapedPath(), "error", err)
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
