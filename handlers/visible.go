package handlers

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/caller"
)

// What a caller may see and do, for the answers that are filtered rather
// than refused (ListS3Buckets, ListConsoleApps) and for GetConsoleCaller.

// noPolicy allows nothing: the policy of a caller whose key carries none.
var noPolicy = &access.Policy{}

// callerOf is the verified caller of a signed request, with a policy that
// can be asked (a key without one allows nothing).
func callerOf(c echo.Context) caller.Caller {
	b, ok := c.Request().Body.(*caller.Body)
	if !ok {
		return caller.Caller{Policy: noPolicy}
	}
	who := b.Caller
	if who.Policy == nil {
		who.Policy = noPolicy
	}
	return who
}

// offered lists, in name order, the served operations the console offers
// on an entry of kind where (offeredOnApp or offeredOnEnvironment). They
// come from the routes, so an operation lands in allowedActions when its
// route does.
func offered(rs []Route, where offer) []routeAuth {
	var out []routeAuth
	for _, r := range rs {
		ra := newRouteAuth(r)
		if o := ra.rule.offered; o == where || o == offeredOnBoth {
			out = append(out, ra)
		}
	}
	slices.SortFunc(out, func(a, b routeAuth) int { return strings.Compare(a.operation, b.operation) })
	return out
}

// allowedOnApp lists the app-level operations p allows on app, each
// decided on the app's ARN and, for one that touches every environment
// (RemoveAllBackends), on each of envs, the app's environments, too: what
// authorize would decide for the call.
func (s *Server) allowedOnApp(p *access.Policy, app string, envs []string) []string {
	out := []string{}
	arn := s.Scope.App(app)
	for _, ra := range s.appOps {
		ok := p.Allows(ra.action, arn)
		for i := 0; ok && ra.rule.everyEnvironment && i < len(envs); i++ {
			ok = p.Allows(ra.action, s.Scope.Environment(app, envs[i]))
		}
		if ok {
			out = append(out, ra.operation)
		}
	}
	return out
}

// allowedOnEnvironment lists the operations p allows on an environment:
// each decided on the environment's ARN, the job operations on the ARN of
// any job in it.
func (s *Server) allowedOnEnvironment(p *access.Policy, app, env string) []string {
	out := []string{}
	envARN, jobARN := s.Scope.Environment(app, env), s.Scope.Job(app, env, "*")
	for _, ra := range s.envOps {
		arn := envARN
		if ra.rule.resource == onJob {
			arn = jobARN
		}
		if p.Allows(ra.action, arn) {
			out = append(out, ra.operation)
		}
	}
	return out
}

// administrator reports whether p allows every action on every resource.
func administrator(p *access.Policy) bool {
	for _, a := range access.Actions {
		if !p.Allows(access.Action(a), access.AnyResource) {
			return false
		}
	}
	return true
}

// sessionApp is the app a sign-in session's credentials are scoped to,
// read from the name such a session is given ("session:<appId>:<id>"),
// or "" for any other key.
func sessionApp(who caller.Caller) string {
	rest, ok := strings.CutPrefix(who.Name, "session:")
	if !ok || who.Expires.IsZero() {
		return ""
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		return rest[:i]
	}
	return ""
}

// getConsoleCaller answers who signed the request: what the console shows
// and decides from before it lists anything.
func (s *Server) getConsoleCaller(c echo.Context) error {
	who := callerOf(c)
	resp := consoleCallerResponse{AccessKeyID: who.AccessKeyID, Name: who.Name, Administrator: administrator(who.Policy), AppID: sessionApp(who)}
	if !who.Expires.IsZero() {
		resp.ExpiresAt = wireTime(who.Expires)
	}
	return c.JSON(http.StatusOK, resp)
}
