package handlers

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/console"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// The console is served in two parts. Its static files (GET /console/...)
// are unsigned: they are only the app, and hold no data or key. Everything
// the app shows comes from SigV4-signed calls: the API's own routes, plus two
// read-only extension routes under /console-api/ that the AmplifyBackend
// API has no operation for (listing apps, showing effective policies). Those
// are in routes(), so they pass the same signature check and are kept true
// to openapi.yaml by the same tests.

// consoleContentTypes fixes the type of every file kind the build writes,
// rather than trusting the machine's MIME tables.
var consoleContentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// consoleCSP allows the console to load its own files and call its own
// origin, nothing else: no inline script, no eval, no framing. The one
// other origin is the target's S3 API (s3, empty for none), where the file
// browser's presigned URLs point: connect-src for uploads and downloads,
// img-src for image previews.
func consoleCSP(s3 string) string {
	if s3 != "" {
		s3 = " " + s3
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:" + s3 + "; " +
		"connect-src 'self'" + s3 + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// consoleAsset is one embedded file, read once at start-up.
type consoleAsset struct {
	body        []byte
	contentType string
	etag        string
}

// loadConsoleAssets reads every file of the built console.
func loadConsoleAssets(fsys fs.FS) (map[string]consoleAsset, error) {
	out := map[string]consoleAsset{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		ct, ok := consoleContentTypes[path.Ext(name)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		out[name] = consoleAsset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return out, err
}

// registerConsole adds the unsigned asset routes to e: /console redirects to
// /console/, which is index.html; /console/NAME is a built file.
func (s *Server) registerConsole(e *echo.Echo) error {
	assets, err := loadConsoleAssets(console.Assets())
	if err != nil {
		return err
	}
	s3 := ""
	if s.Objects != nil {
		s3 = s.Objects.BrowserOrigin()
	}
	csp := consoleCSP(s3)
	e.GET("/console", func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, "/console/")
	})
	serve := func(c echo.Context) error {
		name, err := url.PathUnescape(c.Param("*"))
		if err != nil {
			return echo.ErrNotFound
		}
		if name == "" {
			name = "index.html"
		}
		a, ok := assets[name]
		if !ok {
			return echo.ErrNotFound
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, a.contentType)
		h.Set("ETag", a.etag)
		// Revalidate every time: the files change with the binary, and a
		// 304 costs one round trip.
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(a.body))
		return nil
	}
	e.GET("/console/*", serve)
	e.HEAD("/console/*", serve)
	return nil
}

// rootForBrowsers answers GET / from a browser (an unsigned request that
// accepts HTML) with a redirect to the console: someone who opens the
// server's address wants the console, not an authentication error. Any
// other request, signed or from an SDK, goes to next, the check every
// unmatched path gets, so clients still see AWS-shaped errors.
func rootForBrowsers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		signed := r.Header.Get("Authorization") != "" || r.URL.Query().Has("X-Amz-Signature")
		if !signed && strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html") {
			return c.Redirect(http.StatusFound, "/console/")
		}
		return next(c)
	}
}

// listConsoleApps lists the apps and environments the caller may read:
// an environment where it may GetBackend on the environment's ARN, and an
// app where it may GetBackend on the app's ARN or on one of the app's
// environments. Others are left out, never refused.
func (s *Server) listConsoleApps(c echo.Context) error {
	var scopes []store.Scope
	err := s.Store.View(c.Request().Context(), func(tx *store.Tx) (err error) {
		scopes, err = tx.Scopes()
		return err
	})
	if err != nil {
		return err
	}
	// Newest activity first: environments within an app, and apps by their
	// newest environment. Ties fall back to names so the answer is stable.
	slices.SortStableFunc(scopes, func(a, b store.Scope) int {
		return cmp.Or(b.LastJob.Compare(a.LastJob), strings.Compare(a.AppID, b.AppID), strings.Compare(a.Env, b.Env))
	})
	envsOf := map[string][]string{}
	for _, sc := range scopes {
		envsOf[sc.AppID] = append(envsOf[sc.AppID], sc.Env)
	}
	policy := callerOf(c).Policy
	getBackend := access.Action("GetBackend")
	appReadable := map[string]bool{}
	resp := consoleAppsResponse{Apps: []consoleAppWire{}}
	index := map[string]int{}
	for _, sc := range scopes {
		readable, seen := appReadable[sc.AppID]
		if !seen {
			readable = policy.Allows(getBackend, s.Scope.App(sc.AppID))
			appReadable[sc.AppID] = readable
		}
		envReadable := policy.Allows(getBackend, s.Scope.Environment(sc.AppID, sc.Env))
		if !readable && !envReadable {
			continue
		}
		i, ok := index[sc.AppID]
		if !ok {
			i = len(resp.Apps)
			index[sc.AppID] = i
			resp.Apps = append(resp.Apps, consoleAppWire{AppID: sc.AppID, LastActivity: wireTime(sc.LastJob),
				Environments: []string{}, AllowedActions: s.allowedOnApp(policy, sc.AppID, envsOf[sc.AppID]), EnvironmentAllowedActions: map[string][]string{}})
		}
		if envReadable {
			a := &resp.Apps[i]
			a.Environments = append(a.Environments, sc.Env)
			a.EnvironmentAllowedActions[sc.Env] = s.allowedOnEnvironment(policy, sc.AppID, sc.Env)
		}
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) getConsolePolicies(c echo.Context) error {
	appID, env, err := s.scope(c)
	if err != nil {
		return err
	}
	name, err := pathParam(c, "resourceName")
	if err != nil {
		return err
	}
	resp := consolePoliciesResponse{AppID: appID, BackendEnvironmentName: env, ResourceName: name}
	var plan jobs.Planned
	err = s.Store.View(c.Request().Context(), func(tx *store.Tx) error {
		if err := tx.CheckScope(appID, env); err != nil {
			return err
		}
		res, err := tx.VisibleResource(store.ResourceKey{AppID: appID, Env: env, Name: name})
		if err != nil {
			return err
		}
		if plan, err = s.Runner.Plan(tx, res); err != nil {
			return err
		}
		resp.BucketName, resp.Permissions = res.Bucket, toPermissionsWire(res.Desired)
		return nil
	})
	if err != nil {
		return err
	}
	docs := plan.Documents
	resp.SidPrefix = plan.SidPrefix
	role := func(roleName string, doc *policy.Document) (*consoleRolePolicyWire, error) {
		if doc == nil {
			return nil, nil
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, err
		}
		return &consoleRolePolicyWire{RoleName: roleName, PolicyName: plan.PolicyName, PolicyDocument: string(b)}, nil
	}
	if resp.AuthRole, err = role(plan.Roles.Auth, docs.AuthRole); err != nil {
		return err
	}
	if resp.UnauthRole, err = role(plan.Roles.Unauth, docs.UnauthRole); err != nil {
		return err
	}
	if len(docs.Bucket) > 0 {
		b, err := json.MarshalIndent(docs.Bucket, "", "  ")
		if err != nil {
			return err
		}
		resp.BucketPolicyStatements = string(b)
	}
	return c.JSON(http.StatusOK, resp)
}
