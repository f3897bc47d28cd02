package handlers

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// Authorization: what each operation is authorized on, decided in one
// place for every signed route, right after the signature is verified and
// before the handler decodes the body, reads the store or calls the
// target. A refused caller so learns nothing from the answer: a malformed
// body or a missing app is answered 403 like any other call it may not
// make, and nothing changes. The access package makes the decision; this
// file names, per operation, the action (amplifybackend:<Operation>) and
// the ARNs of what the call touches.

// resourceKind is what kind of ARN an operation is authorized on.
type resourceKind int

const (
	// onAnyResource: "*", for operations on the server as a whole.
	onAnyResource resourceKind = iota
	// onApp: the app's ARN.
	onApp
	// onEnvironment: the environment's ARN, or the app's when the request
	// names no environment.
	onEnvironment
	// onJob: the job's ARN.
	onJob
	// onToken: the sign-in challenge's ARN.
	onToken
	// filtered: never refused; the answer holds only what the caller may
	// see (ListS3Buckets, ListConsoleApps).
	filtered
	// unchecked: any verified caller may ask (GetConsoleCaller).
	unchecked
)

// authRule is one row of the authorization table: where the names of the
// resources a call touches come from. App and environment come from the
// path unless a body field is named.
type authRule struct {
	resource resourceKind
	// appField is the body field holding the app id (CreateBackend).
	appField string
	// envField is the body field holding the environment.
	envField string
	// alsoEnvField is a body field naming a second environment the call
	// touches (CloneBackend's target).
	alsoEnvField string
	// everyEnvironment: the call also touches every environment the app
	// has (RemoveAllBackends); the store is asked which.
	everyEnvironment bool
	// bucketUsersField is a body field naming a bucket whose every user's
	// environment the call also touches (ImportBackendStorage: importing a
	// bucket another environment uses reaches that environment's objects
	// and bucket policy), or, when no environment uses it, the bucket's
	// own ARN.
	bucketUsersField string
	// importedBucketUsers: the call also touches every other environment
	// using a bucket the environment imported (CloneBackend: the clone
	// imports those buckets again, which reaches their users' objects and
	// bucket policy as an ImportBackendStorage of them would).
	importedBucketUsers bool
	// heldEnvironments: the call also touches every environment the job
	// holds (UpdateBackendJob: cancelling a clone undoes its target), and
	// the app when the job holds it or is the app's (RemoveAllBackends,
	// settled or not).
	heldEnvironments bool
	// offered is where the console offers the operation: on an app's
	// entry, an environment's, or neither (ListConsoleApps'
	// allowedActions).
	offered offer
}

// offer says on which entries of ListConsoleApps an operation is listed
// among the caller's allowedActions.
type offer int

const (
	offeredNowhere offer = iota
	offeredOnEnvironment
	offeredOnApp
	offeredOnBoth
)

// authRules is the authorization table, keyed by operation name. A
// served route without a row here is refused by TestEveryRouteIsAuthorized;
// the model's unsupported operations without one are authorized on what
// their path names (ruleFromPath).
var authRules = map[string]authRule{
	"CreateBackendStorage":      {resource: onEnvironment, envField: "backendEnvironmentName", offered: offeredOnEnvironment},
	"ImportBackendStorage":      {resource: onEnvironment, bucketUsersField: "bucketName", offered: offeredOnEnvironment},
	"GetBackendStorage":         {resource: onEnvironment, offered: offeredOnEnvironment},
	"UpdateBackendStorage":      {resource: onEnvironment, offered: offeredOnEnvironment},
	"DeleteBackendStorage":      {resource: onEnvironment, offered: offeredOnEnvironment},
	"GetConsoleStoragePolicies": {resource: onEnvironment, offered: offeredOnEnvironment},
	"ListBackendJobs":           {resource: onEnvironment, offered: offeredOnEnvironment},
	"GetBackendJob":             {resource: onJob, offered: offeredOnEnvironment},
	"UpdateBackendJob":          {resource: onJob, heldEnvironments: true, offered: offeredOnEnvironment},
	"GetBackend":                {resource: onEnvironment, envField: "backendEnvironmentName", offered: offeredOnBoth},
	"CreateToken":               {resource: onApp, offered: offeredOnApp},
	"GetToken":                  {resource: onToken},
	"DeleteToken":               {resource: onToken},
	"CreateBackend":             {resource: onEnvironment, appField: "appId", envField: "backendEnvironmentName", offered: offeredOnApp},
	"CloneBackend":              {resource: onEnvironment, alsoEnvField: "targetEnvironmentName", importedBucketUsers: true, offered: offeredOnEnvironment},
	"DeleteBackend":             {resource: onEnvironment, offered: offeredOnEnvironment},
	"RemoveAllBackends":         {resource: onApp, everyEnvironment: true, offered: offeredOnApp},
	"ListS3Buckets":             {resource: filtered},
	"ListConsoleApps":           {resource: filtered},
	"GetConsoleSystem":          {resource: onAnyResource},
	"BackupStore":               {resource: onAnyResource},
	"GetConsoleCaller":          {resource: unchecked},
	// The file browser acts on one storage resource of an environment.
	"ListConsoleObjects":             {resource: onEnvironment, offered: offeredOnEnvironment},
	"PresignConsoleObjectUpload":     {resource: onEnvironment, offered: offeredOnEnvironment},
	"PresignConsoleObjectDownload":   {resource: onEnvironment, offered: offeredOnEnvironment},
	"CreateConsoleMultipartUpload":   {resource: onEnvironment, offered: offeredOnEnvironment},
	"PresignConsoleUploadParts":      {resource: onEnvironment, offered: offeredOnEnvironment},
	"CompleteConsoleMultipartUpload": {resource: onEnvironment, offered: offeredOnEnvironment},
	"AbortConsoleMultipartUpload":    {resource: onEnvironment, offered: offeredOnEnvironment},
	"DeleteConsoleObjects":           {resource: onEnvironment, offered: offeredOnEnvironment},
}

// ruleFromPath is the rule of a model operation the table has no row for:
// the environment its path names, or else the app.
func ruleFromPath(path string) authRule {
	if strings.Contains(path, "/:backendEnvironmentName") {
		return authRule{resource: onEnvironment}
	}
	return authRule{resource: onApp}
}

// routeAuth is what authorize needs of one route, fixed when the route is
// registered.
type routeAuth struct {
	operation string
	// action is access.Action(operation) in lower case, the form the
	// access package compares in, so deciding does not lower it anew.
	action string
	rule   authRule
}

func newRouteAuth(r Route) routeAuth {
	rule, ok := authRules[r.Operation]
	if !ok {
		rule = ruleFromPath(r.Path)
	}
	return routeAuth{operation: r.Operation, action: strings.ToLower(access.Action(r.Operation)), rule: rule}
}

// accessDeniedError is a call the caller's policy does not allow; the
// error handler answers it 403 AccessDeniedException.
type accessDeniedError struct {
	// AccessKeyID is the caller's key.
	AccessKeyID string
	// Operation is the operation refused.
	Operation string
	// Resource is the first ARN the policy does not allow the operation on.
	Resource string
	// Explicit says a Deny statement refused it (rather than no Allow).
	Explicit bool
}

func (e *accessDeniedError) Error() string {
	return "access denied: " + access.Action(e.Operation) + " on " + e.Resource
}

// authorize runs next only for a caller whose policy allows the route's
// action on every resource the call touches.
func (s *Server) authorize(ra routeAuth, next echo.HandlerFunc) echo.HandlerFunc {
	if ra.rule.resource == filtered || ra.rule.resource == unchecked {
		return next
	}
	return func(c echo.Context) error {
		who := callerOf(c)
		var arns [2]string
		resources, err := s.resourcesOf(c, ra.rule, arns[:0])
		if err != nil {
			return err
		}
		if err := who.Policy.Authorize(ra.action, resources...); err != nil {
			var denied *access.DeniedError
			if !errors.As(err, &denied) {
				return err
			}
			s.Metrics.AccessDenied(ra.operation)
			resource := denied.Resource
			if ra.rule.bucketUsersField != "" && resource != resources[0] {
				resource = s.Scope.Bucket(bodyString(bodyOf(c.Request()), ra.rule.bucketUsersField))
			}
			if ra.rule.importedBucketUsers && !slices.Contains(resources[:min(2, len(resources))], resource) {
				// As for an import: the refusal names the bucket, not whose
				// it is.
				if bucket, err := s.importedBucketUsedBy(c, resource); err != nil {
					return err
				} else if bucket != "" {
					resource = s.Scope.Bucket(bucket)
				}
			}
			return &accessDeniedError{AccessKeyID: who.AccessKeyID, Operation: ra.operation,
				Resource: resource, Explicit: denied.Decision.Effect == access.ExplicitDeny}
		}
		return next(c)
	}
}

// resourcesOf appends to out the ARNs a call under rule touches. Names
// are read leniently: a path segment that does not unescape is taken as
// sent, and a body field that is absent, not a string, or in a body that
// is not JSON counts as not named. The handler refuses such a request
// for a caller allowed to make it; a caller who is not gets 403 whatever
// the request's flaws.
func (s *Server) resourcesOf(c echo.Context, rule authRule, out []string) ([]string, error) {
	if rule.resource == onAnyResource {
		return append(out, access.AnyResource), nil
	}
	field := func(name string) string { return bodyString(bodyOf(c.Request()), name) }
	app := lenientParam(c, "appId")
	if rule.appField != "" {
		app = field(rule.appField)
	}
	env := lenientParam(c, "backendEnvironmentName")
	if rule.envField != "" {
		env = field(rule.envField)
	}
	sc := s.Scope
	envOrApp := func(env string) string {
		if env == "" {
			return sc.App(app)
		}
		return sc.Environment(app, env)
	}
	switch rule.resource {
	case onApp:
		out = append(out, sc.App(app))
	case onEnvironment:
		out = append(out, envOrApp(env))
	case onJob:
		out = append(out, sc.Job(app, env, lenientParam(c, "jobId")))
	case onToken:
		out = append(out, sc.Token(app, lenientParam(c, "sessionId")))
	}
	if rule.alsoEnvField != "" {
		out = append(out, envOrApp(field(rule.alsoEnvField)))
	}
	if rule.everyEnvironment {
		envs, err := s.appEnvironments(c.Request().Context(), app)
		if err != nil {
			return nil, err
		}
		for _, e := range envs {
			out = append(out, sc.Environment(app, e))
		}
	}
	if rule.importedBucketUsers && s.Store != nil && env != "" {
		err := s.importedBuckets(c, func(_ string, user store.ResourceKey) {
			out = append(out, sc.Environment(user.AppID, user.Env))
		})
		if err != nil {
			return nil, err
		}
	}
	if rule.heldEnvironments && s.Store != nil {
		job := lenientParam(c, "jobId")
		err := s.Store.View(c.Request().Context(), func(tx *store.Tx) error {
			// A job that holds the app (RemoveAllBackends) is found under
			// any environment name of it, and a cancel keeps the app's
			// name and what is left of it: that touches the app, however
			// few environments the job still holds.
			a, ok, err := tx.App(app)
			if err != nil {
				return err
			}
			// A finished one no longer holds the app, but the answer
			// (UpdateBackendJob without a status returns the job) is
			// still the app's job, which GetBackendJob shows only to a
			// key allowed on the app.
			if j, err := tx.JobIn(app, env, job); err == nil && j.Env == "" || ok && a.ActiveJob == job {
				out = append(out, sc.App(app))
			}
			envs, err := tx.Environments(app)
			for _, e := range envs {
				if e.ActiveJob == job && e.Env != env {
					out = append(out, sc.Environment(app, e.Env))
				}
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if rule.bucketUsersField != "" {
		if bucket := field(rule.bucketUsersField); bucket != "" && s.Store != nil {
			err := s.Store.View(c.Request().Context(), func(tx *store.Tx) error {
				users := tx.BucketUsers(bucket)
				for _, u := range users {
					out = append(out, sc.Environment(u.AppID, u.Env))
				}
				// A bucket no environment uses is still someone's (on AWS,
				// any bucket of the account), and an import hands its
				// objects to the file browser and its policy to the
				// environment's roles: the key must be allowed on the
				// bucket itself, as ListS3Buckets shows such buckets only
				// to a key allowed on every resource.
				if len(users) == 0 {
					out = append(out, sc.Bucket(bucket))
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// lenientParam is a path parameter unescaped once, or as sent when it
// does not unescape.
func lenientParam(c echo.Context, name string) string {
	raw := c.Param(name)
	if v, err := url.PathUnescape(raw); err == nil {
		return v
	}
	return raw
}

// appEnvironments lists the environments app has (none for a server
// built without a store, which serves no app): the records of every
// environment that exists, whether or not any job of it is still kept.
func (s *Server) appEnvironments(ctx context.Context, app string) ([]string, error) {
	var envs []string
	if s.Store == nil {
		return nil, nil
	}
	err := s.Store.View(ctx, func(tx *store.Tx) error {
		recs, err := tx.Environments(app)
		for _, e := range recs {
			envs = append(envs, e.Env)
		}
		return err
	})
	return envs, err
}

// importedBuckets calls fn with each bucket the path's environment imported
// and each resource of another environment that uses it.
func (s *Server) importedBuckets(c echo.Context, fn func(bucket string, user store.ResourceKey)) error {
	app, env := lenientParam(c, "appId"), lenientParam(c, "backendEnvironmentName")
	return s.Store.View(c.Request().Context(), func(tx *store.Tx) error {
		resources, err := tx.Resources(app, env)
		if err != nil {
			return err
		}
		for _, r := range resources {
			if !r.Imported {
				continue
			}
			for _, u := range tx.BucketUsers(r.Bucket) {
				if u.AppID != app || u.Env != env {
					fn(r.Bucket, u)
				}
			}
		}
		return nil
	})
}

// importedBucketUsedBy returns the bucket the path's environment imported
// that the environment with ARN arn also uses; "" if none does.
func (s *Server) importedBucketUsedBy(c echo.Context, arn string) (string, error) {
	var bucket string
	err := s.importedBuckets(c, func(b string, user store.ResourceKey) {
		if bucket == "" && s.Scope.Environment(user.AppID, user.Env) == arn {
			bucket = b
		}
	})
	return bucket, err
}
