package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// listS3Buckets answers the buckets the caller may see: every bucket the
// target lists for a caller allowed ListS3Buckets on "*", and for any
// other the buckets of the storage resources in environments where it may
// GetBackendStorage. The answer is filtered, never refused.
func (s *Server) listS3Buckets(c echo.Context) error {
	var req listS3BucketsRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.NextToken != nil && *req.NextToken != "" {
		// Every bucket comes in one page, so no token was ever issued.
		return invalidToken()
	}
	policy := callerOf(c).Policy
	var visible map[string]bool
	if !policy.Allows(access.Action("ListS3Buckets"), access.AnyResource) {
		var err error
		if visible, err = s.readableBuckets(c.Request().Context(), policy); err != nil {
			return err
		}
	}
	resp := listS3BucketsResponse{Buckets: []s3BucketWire{}}
	if visible != nil && len(visible) == 0 {
		return c.JSON(http.StatusOK, resp)
	}
	var buckets []s3iam.Bucket
	err := s.callTarget(c.Request().Context(), func(ctx context.Context) (err error) {
		buckets, err = s.Buckets.ListBuckets(ctx)
		return err
	})
	if err != nil {
		return err
	}
	resp.Buckets = make([]s3BucketWire, 0, len(buckets))
	for _, b := range buckets {
		if visible == nil || visible[b.Name] {
			resp.Buckets = append(resp.Buckets, s3BucketWire{Name: b.Name, CreationDate: wireTime(b.CreationDate)})
		}
	}
	return c.JSON(http.StatusOK, resp)
}

// readableBuckets is the set of buckets of the storage resources in the
// environments where policy allows GetBackendStorage (never nil).
func (s *Server) readableBuckets(ctx context.Context, policy *access.Policy) (map[string]bool, error) {
	visible := map[string]bool{}
	action := access.Action("GetBackendStorage")
	err := s.Store.View(ctx, func(tx *store.Tx) error {
		scopes, err := tx.Scopes()
		if err != nil {
			return err
		}
		for _, sc := range scopes {
			if !policy.Allows(action, s.Scope.Environment(sc.AppID, sc.Env)) {
				continue
			}
			rs, err := tx.Resources(sc.AppID, sc.Env)
			if err != nil {
				return err
			}
			for _, r := range rs {
				if r.Visible() && r.Bucket != "" {
					visible[r.Bucket] = true
				}
			}
		}
		return nil
	})
	return visible, err
}

// amplifyMeta is the storage part of amplify-meta.json, the document the
// Amplify CLI and front ends read resource outputs from.
type amplifyMeta struct {
	Storage map[string]amplifyMetaStorage `json:"storage"`
}

type amplifyMetaStorage struct {
	Service        string            `json:"service"`
	ProviderPlugin string            `json:"providerPlugin"`
	Output         map[string]string `json:"output"`
}

// amplifyFeatureFlags is what GetBackend reports as the project's Amplify CLI
// feature flags: the features section of the amplify/cli.json a new Amplify
// CLI (Gen1) project writes, for the categories a project on this backend
// uses (storage needs auth; the rest are the project-wide defaults).
const amplifyFeatureFlags = `{"features":{"project":{"overrides":true},` +
	`"auth":{"enablecaseinsensitivity":true,"useinclusiveterminology":true,"breakcirculardependency":true,"forcealiasattributes":false,"useenabledmfas":true},` +
	`"frontend-ios":{"enablexcodeintegration":true},` +
	`"codegen":{"useappsyncmodelgenplugin":true,"usedocsgeneratorplugin":true,"usetypesgeneratorplugin":true,"cleangeneratedmodelsdirectory":true,"retaincasestyle":true,"addtimestampfields":true,"handlelistnullabilitytransparently":true,"emitauthprovider":true,"generateindexrules":true,"enabledartnullsafety":true},` +
	`"appsync":{"generategraphqlpermissions":true},` +
	`"latestregionsupport":{"pinpoint":1,"translate":1,"transcribe":1,"rekognition":1,"textract":1,"comprehend":1}}}`

func (s *Server) getBackend(c echo.Context) error {
	appID, err := pathParam(c, "appId")
	if err != nil {
		return err
	}
	var req getBackendRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	env := ""
	if req.BackendEnvironmentName != nil && *req.BackendEnvironmentName != "" {
		if env, err = required("backendEnvironmentName", req.BackendEnvironmentName); err != nil {
			return err
		}
	}
	var all []store.Resource
	var envs []store.Environment
	var app store.App
	err = s.Store.View(c.Request().Context(), func(tx *store.Tx) error {
		if err := tx.CheckScope(appID, env); err != nil {
			return err
		}
		if app, _, err = tx.App(appID); err != nil {
			return err
		}
		if envs, err = tx.Environments(appID); err != nil {
			return err
		}
		all, err = tx.Resources(appID, "")
		return err
	})
	if err != nil {
		return err
	}
	// No app name is recorded for an app known only by its storage; the
	// answer leaves appName out rather than repeat the id as a name.
	resp := getBackendResponse{AppID: appID, AppName: app.Name, BackendEnvironmentName: env, BackendEnvironmentList: []string{}, AmplifyFeatureFlags: amplifyFeatureFlags}
	// The list names only the environments the caller may read, as the
	// console's app list does: a key confined to one environment learns
	// nothing of the app's others.
	policy, getBackend := callerOf(c).Policy, access.Action("GetBackend")
	for _, e := range envs {
		if policy.Allows(getBackend, s.Scope.Environment(appID, e.Env)) {
			resp.BackendEnvironmentList = append(resp.BackendEnvironmentList, e.Env)
		}
	}
	meta := amplifyMeta{Storage: map[string]amplifyMetaStorage{}}
	var warnings []string
	for _, r := range all {
		if !r.Visible() {
			continue
		}
		if r.Env == env {
			for _, w := range r.Warnings {
				warnings = append(warnings, fmt.Sprintf("storage %s: %s", r.Name, w))
			}
			meta.Storage[r.Name] = amplifyMetaStorage{Service: "S3", ProviderPlugin: "awscloudformation",
				Output: map[string]string{"BucketName": r.Bucket, "Region": s.Region}}
		}
	}
	if env != "" {
		b, err := json.Marshal(meta)
		if err != nil {
			return err
		}
		resp.AmplifyMetaConfig = string(b)
		resp.Warnings = warnings
	}
	return c.JSON(http.StatusOK, resp)
}
