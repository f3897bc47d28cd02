package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

func (s *Server) listS3Buckets(c echo.Context) error {
	var req listS3BucketsRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.NextToken != nil && *req.NextToken != "" {
		// Every bucket comes in one page, so no token was ever issued.
		return invalidToken()
	}
	var buckets []s3iam.Bucket
	err := s.callTarget(c.Request().Context(), func(ctx context.Context) (err error) {
		buckets, err = s.Buckets.ListBuckets(ctx)
		return err
	})
	if err != nil {
		return err
	}
	resp := listS3BucketsResponse{Buckets: make([]s3BucketWire, 0, len(buckets))}
	for _, b := range buckets {
		resp.Buckets = append(resp.Buckets, s3BucketWire{Name: b.Name, CreationDate: wireTime(b.CreationDate)})
	}
	return c.JSON(http.StatusOK, resp)
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
	err = s.Store.View(c.Request().Context(), func(tx *store.Tx) error {
		if err := tx.CheckScope(appID, env); err != nil {
			return err
		}
		all, err = tx.Resources(appID, "")
		return err
	})
	if err != nil {
		return err
	}
	resp := getBackendResponse{AppID: appID, AppName: appID, BackendEnvironmentName: env, BackendEnvironmentList: []string{}}
	meta := amplifyMeta{Storage: map[string]amplifyMetaStorage{}}
	var warnings []string
	for _, r := range all {
		if !r.Visible() {
			continue
		}
		if !slices.Contains(resp.BackendEnvironmentList, r.Env) {
			resp.BackendEnvironmentList = append(resp.BackendEnvironmentList, r.Env)
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
		resp.Error = strings.Join(warnings, "; ")
	}
	return c.JSON(http.StatusOK, resp)
}
