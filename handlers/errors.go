package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

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
	var nf *store.NotFoundError
	if errors.As(err, &nf) {
		return &APIError{Status: http.StatusNotFound, Type: NotFound, Message: nf.Message, ResourceType: nf.ResourceType}, true
	}
	var ce *store.ClassError
	if errors.As(err, &ce) {
		switch ce.Class {
		case store.ErrInvalid, store.ErrAlreadyExists, store.ErrConflict:
			return &APIError{Status: http.StatusBadRequest, Type: BadRequest, Message: ce.Message}, true
		case store.ErrNotFound:
			return &APIError{Status: http.StatusNotFound, Type: NotFound, Message: ce.Message}, true
		}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return &APIError{Status: http.StatusNotFound, Type: UnknownOperation, Message: "No operation matches this method and path."}, true
		case http.StatusRequestEntityTooLarge:
			return tooLarge(), true
		}
		if he.Code >= 400 && he.Code < 500 {
			return &APIError{Status: he.Code, Type: BadRequest, Message: fmt.Sprint(he.Message)}, true
		}
	}
	return &APIError{Status: http.StatusInternalServerError, Type: InternalFailure, Message: "An internal error occurred; the request ID identifies it in the server log."}, false
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
