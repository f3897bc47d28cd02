package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// The operations on whole environments and apps. Each starts a job and
// answers as the storage operations do, with the operation's name added,
// as their response shapes in the service model carry it.

func (s *Server) createBackend(c echo.Context) error {
	var req createBackendRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	appID, err := required("appId", req.AppID)
	if err != nil {
		return err
	}
	appName, err := required("appName", req.AppName)
	if err != nil {
		return err
	}
	env, err := required("backendEnvironmentName", req.BackendEnvironmentName)
	if err != nil {
		return err
	}
	// resourceName and resourceConfig (an empty structure in the service
	// model) are accepted and not used: an environment is made without
	// resources, which come through the storage operations.
	if req.ResourceName != nil {
		if err := checkName("resourceName", *req.ResourceName); err != nil {
			return err
		}
	}
	j, err := s.Runner.CreateBackend(c.Request().Context(), appID, appName, env)
	if err != nil {
		return err
	}
	return acceptedWhole(c, j)
}

func (s *Server) cloneBackend(c echo.Context) error {
	appID, env, err := s.scope(c)
	if err != nil {
		return err
	}
	var req cloneBackendRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	target, err := required("targetEnvironmentName", req.TargetEnvironmentName)
	if err != nil {
		return err
	}
	j, err := s.Runner.CloneBackend(c.Request().Context(), appID, env, target)
	if err != nil {
		return err
	}
	return acceptedWhole(c, j)
}

func (s *Server) deleteBackend(c echo.Context) error {
	appID, env, err := s.scope(c)
	if err != nil {
		return err
	}
	if err := decode(c, &struct{}{}); err != nil {
		return err
	}
	j, err := s.Runner.DeleteBackend(c.Request().Context(), appID, env)
	if err != nil {
		return err
	}
	return acceptedWhole(c, j)
}

func (s *Server) removeAllBackends(c echo.Context) error {
	appID, err := pathParam(c, "appId")
	if err != nil {
		return err
	}
	var req removeAllBackendsRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	j, err := s.Runner.RemoveAllBackends(c.Request().Context(), appID, req.CleanAmplifyApp != nil && *req.CleanAmplifyApp)
	if err != nil {
		return err
	}
	return acceptedWhole(c, j)
}

func acceptedWhole(c echo.Context, j store.Job) error {
	return writeJSON(c, 200, wholeJobResponse{AppID: j.AppID, BackendEnvironmentName: j.Env, JobID: j.ID,
		Operation: string(j.Operation), Status: string(j.Status)})
}
