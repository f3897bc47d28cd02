package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/store"
)

func (s *Server) createStorage(c echo.Context) error {
	appID, err := pathParam(c, "appId")
	if err != nil {
		return err
	}
	var req createStorageRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	env, err := required("backendEnvironmentName", req.BackendEnvironmentName)
	if err != nil {
		return err
	}
	name, err := required("resourceName", req.ResourceName)
	if err != nil {
		return err
	}
	if req.ResourceConfig == nil {
		return errMissingField.with("resourceConfig")
	}
	perms, err := resourceConfig(req.ResourceConfig.ServiceName, req.ResourceConfig.Permissions)
	if err != nil {
		return err
	}
	in := jobs.CreateInput{Key: store.ResourceKey{AppID: appID, Env: env, Name: name}, Permissions: perms}
	if b := req.ResourceConfig.BucketName; b != nil {
		if *b == "" {
			return errEmptyBucketName.with()
		}
		in.Bucket = *b
	}
	j, err := s.Runner.Create(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return accepted(c, j)
}

func (s *Server) importStorage(c echo.Context) error {
	appID, env, err := s.scope(c)
	if err != nil {
		return err
	}
	var req importStorageRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := serviceName("serviceName", req.ServiceName); err != nil {
		return err
	}
	if req.BucketName == nil || *req.BucketName == "" {
		return errImportWithoutBucket.with()
	}
	j, err := s.Runner.Import(c.Request().Context(), appID, env, *req.BucketName)
	if err != nil {
		return err
	}
	return accepted(c, j)
}

func (s *Server) updateStorage(c echo.Context) error {
	appID, env, err := s.scope(c)
	if err != nil {
		return err
	}
	var req updateStorageRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	name, err := required("resourceName", req.ResourceName)
	if err != nil {
		return err
	}
	if req.ResourceConfig == nil {
		return errMissingField.with("resourceConfig")
	}
	perms, err := resourceConfig(req.ResourceConfig.ServiceName, req.ResourceConfig.Permissions)
	if err != nil {
		return err
	}
	j, err := s.Runner.Update(c.Request().Context(), store.ResourceKey{AppID: appID, Env: env, Name: name}, perms)
	if err != nil {
		return err
	}
	return accepted(c, j)
}

func (s *Server) deleteStorage(c echo.Context) error {
	appID, env, err := s.scope(c)
	if err != nil {
		return err
	}
	var req deleteStorageRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	name, err := required("resourceName", req.ResourceName)
	if err != nil {
		return err
	}
	if err := serviceName("serviceName", req.ServiceName); err != nil {
		return err
	}
	j, err := s.Runner.Delete(c.Request().Context(), store.ResourceKey{AppID: appID, Env: env, Name: name})
	if err != nil {
		return err
	}
	return accepted(c, j)
}

func (s *Server) getStorage(c echo.Context) error {
	appID, env, err := s.scope(c)
	if err != nil {
		return err
	}
	var req getStorageRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	name, err := required("resourceName", req.ResourceName)
	if err != nil {
		return err
	}
	return answerRead(s, c, readKey{op: "GetBackendStorage", app: appID, env: env, name: name}, func() (getStorageResponse, error) {
		var res store.Resource
		err := s.viewInScope(c, appID, env, func(tx *store.Tx) (err error) {
			res, err = tx.VisibleResource(store.ResourceKey{AppID: appID, Env: env, Name: name})
			return err
		})
		return getStorageResponse{
			AppID: appID, BackendEnvironmentName: env, ResourceName: name,
			ResourceConfig: getStorageResourceConfigWire{
				BucketName: res.Bucket, Imported: res.Imported, ServiceName: "S3",
				Permissions: toPermissionsWire(res.Desired),
			},
		}, err
	})
}

func accepted(c echo.Context, j store.Job) error {
	return writeJSON(c, http.StatusOK, jobAcceptedResponse{AppID: j.AppID, BackendEnvironmentName: j.Env, JobID: j.ID, Status: string(j.Status)})
}

// resourceConfig checks the parts Create and Update resource configs share.
func resourceConfig(service *string, perms *permissionsWire) (store.Permissions, error) {
	if err := serviceName("resourceConfig.serviceName", service); err != nil {
		return store.Permissions{}, err
	}
	return permissions("resourceConfig.permissions", perms)
}
