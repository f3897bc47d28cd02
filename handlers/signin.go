package handlers

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/signin"
)

// The token operations (CreateToken, GetToken, DeleteToken) and the
// console's sign-in exchange, all over the signin package. Who may create,
// read or delete a challenge is decided where every call is authorized;
// these handlers only do the work.

// signInPath is the console's unsigned exchange of a challenge.
const signInPath = "/console-api/sign-in"

// MaxSignInBody is the largest body the sign-in exchange reads: three short
// fields. It is unsigned, so it gets far less than a signed call's 1 MiB.
const MaxSignInBody = 4 << 10

// signInService is the configured sign-in service, or the refusal that
// names op when the server runs without one.
func (s *Server) signInService(op string) (*signin.Service, error) {
	if s.SignIn == nil {
		return nil, errUnsupportedOperation.with(op)
	}
	return s.SignIn, nil
}

func toTokenWire(c signin.Challenge) tokenResponse {
	return tokenResponse{AppID: c.AppID, ChallengeCode: c.Code, SessionID: c.SessionID,
		TTL: strconv.FormatInt(int64(c.TTL/time.Second), 10)}
}

func (s *Server) createToken(c echo.Context) error {
	svc, err := s.signInService("CreateToken")
	if err != nil {
		return err
	}
	appID, err := pathParam(c, "appId")
	if err != nil {
		return err
	}
	creator := ""
	if b, ok := c.Request().Body.(*caller.Body); ok {
		creator = b.Caller.AccessKeyID
	}
	ch, err := svc.Create(c.Request().Context(), appID, creator)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, toTokenWire(ch))
}

// tokenScope reads the app id and session id of GetToken and DeleteToken.
func tokenScope(c echo.Context) (appID, sessionID string, err error) {
	if appID, err = pathParam(c, "appId"); err != nil {
		return
	}
	sessionID, err = pathParam(c, "sessionId")
	return
}

// tokenNotFound phrases a challenge GetToken or DeleteToken cannot find
// as the 404 the service model gives both.
func tokenNotFound(err error) error {
	var refused *signin.Error
	if errors.As(err, &refused) {
		return errTokenNotFound.with(refused.SessionID, refused.AppID, refused.Why())
	}
	return err
}

func (s *Server) getToken(c echo.Context) error {
	svc, err := s.signInService("GetToken")
	if err != nil {
		return err
	}
	appID, sessionID, err := tokenScope(c)
	if err != nil {
		return err
	}
	ch, err := svc.Get(c.Request().Context(), appID, sessionID, callerOf(c).AccessKeyID)
	if err != nil {
		return tokenNotFound(err)
	}
	return writeJSON(c, http.StatusOK, toTokenWire(ch))
}

func (s *Server) deleteToken(c echo.Context) error {
	svc, err := s.signInService("DeleteToken")
	if err != nil {
		return err
	}
	appID, sessionID, err := tokenScope(c)
	if err != nil {
		return err
	}
	if err := svc.Delete(c.Request().Context(), appID, sessionID); err != nil {
		return tokenNotFound(err)
	}
	return writeJSON(c, http.StatusOK, deleteTokenResponse{IsSuccess: true})
}

// signIn is the console's exchange of a challenge for temporary
// credentials: unsigned, as the person signing in holds no key yet. The
// challenge code and the secret it returns are never logged: the request
// log has the path only, and refusals name the session id.
func (s *Server) signIn(c echo.Context) error {
	svc, err := s.signInService("ConsoleSignIn")
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, MaxSignInBody+1))
	if err != nil {
		return errBodyUnreadable.with()
	}
	if len(body) > MaxSignInBody {
		return errSignInBodyTooLarge.with(MaxSignInBody)
	}
	var req signInRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	appID, err := required("appId", req.AppID)
	if err != nil {
		return err
	}
	sessionID, err := required("sessionId", req.SessionID)
	if err != nil {
		return err
	}
	code, err := required("challengeCode", req.ChallengeCode)
	if err != nil {
		return err
	}
	cred, err := svc.Exchange(c.Request().Context(), appID, sessionID, code)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, signInResponse{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey,
		Expiration: wireTime(cred.Expiration), AppID: cred.AppID})
}
