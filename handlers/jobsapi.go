package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// DefaultMaxResults is the page size when maxResults is 0 or absent; 25 is
// also the most a page may hold.
const DefaultMaxResults = 25

// jobScope reads the app, environment and job id of a job route.
func (s *Server) jobScope(c echo.Context) (appID, env, id string, err error) {
	if appID, env, err = s.scope(c); err != nil {
		return
	}
	id, err = pathParam(c, "jobId")
	return
}

func (s *Server) getJob(c echo.Context) error {
	appID, env, id, err := s.jobScope(c)
	if err != nil {
		return err
	}
	// A job that holds the whole app (RemoveAllBackends) is found under
	// any environment name of it, so reading it is reading the app's: the
	// key must be allowed on the app too. The decision is part of the
	// cache key, so an answer kept for one caller never reaches a caller
	// it would be refused to.
	who := callerOf(c)
	onApp := who.Policy.Allows(getBackendJob, s.Scope.App(appID))
	return answerRead(s, c, readKey{op: "GetBackendJob", app: appID, env: env, name: id, onApp: onApp}, func() (jobWire, error) {
		var j store.Job
		err := s.viewInScope(c, appID, env, func(tx *store.Tx) (err error) {
			j, err = tx.JobIn(appID, env, id)
			return err
		})
		if err == nil && j.Env == "" && !onApp {
			s.Metrics.AccessDenied("GetBackendJob")
			return jobWire{}, &accessDeniedError{AccessKeyID: who.AccessKeyID, Operation: "GetBackendJob", Resource: s.Scope.App(appID)}
		}
		return toJobWire(j), err
	})
}

// getBackendJob is GetBackendJob's action, as policies name it.
var getBackendJob = access.Action("GetBackendJob")

func (s *Server) listJobs(c echo.Context) error {
	appID, env, err := s.scope(c)
	if err != nil {
		return err
	}
	var req listJobsRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	limit := DefaultMaxResults
	if req.MaxResults != nil && *req.MaxResults != 0 {
		if *req.MaxResults < 1 || *req.MaxResults > DefaultMaxResults {
			return errMaxResults.with(*req.MaxResults)
		}
		limit = *req.MaxResults
	}
	var jobID, op, status string
	if req.JobID != nil {
		jobID = *req.JobID
	}
	if req.Operation != nil {
		op = *req.Operation
		if op != "" && !operationFilter(op) {
			return errOperation.with(op)
		}
	}
	if req.Status != nil {
		status = *req.Status
		if err := checkStatus(store.Status(status)); err != nil {
			return err
		}
	}
	binding := strings.Join([]string{"ListBackendJobs", appID, env, jobID, op, status}, "\x00")
	var after []byte
	if req.NextToken != nil && *req.NextToken != "" {
		if after, err = decodeToken(s.Store.TokenKey(), *req.NextToken, binding); err != nil {
			return err
		}
	}
	match := func(j store.Job) bool {
		return (jobID == "" || j.ID == jobID) && (op == "" || string(j.Operation) == op) && (status == "" || string(j.Status) == status)
	}
	var page []store.Job
	var next []byte
	err = s.Store.View(c.Request().Context(), func(tx *store.Tx) error {
		if err := tx.CheckScope(appID, env); err != nil {
			return err
		}
		page, next, err = tx.Jobs(appID, env, after, limit, match)
		return err
	})
	if err != nil {
		return err
	}
	resp := listJobsResponse{Jobs: make([]jobWire, 0, len(page)), NextToken: encodeToken(s.Store.TokenKey(), next, binding)}
	for _, j := range page {
		resp.Jobs = append(resp.Jobs, toJobWire(j))
	}
	return writeJSON(c, http.StatusOK, resp)
}

func (s *Server) updateJob(c echo.Context) error {
	appID, env, id, err := s.jobScope(c)
	if err != nil {
		return err
	}
	var req updateJobRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	var op store.Operation
	if req.Operation != nil && *req.Operation != "" {
		op = store.Operation(*req.Operation)
		if !operationFilter(string(op)) {
			return errOperation.with(op)
		}
	}
	var status store.Status
	if req.Status != nil {
		status = store.Status(*req.Status)
		if err := checkStatus(status); err != nil {
			return err
		}
	}
	if err := s.Store.View(c.Request().Context(), func(tx *store.Tx) error { return tx.CheckScope(appID, env) }); err != nil {
		return err
	}
	j, err := s.Runner.UpdateJob(c.Request().Context(), appID, env, id, op, status)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, toJobWire(j))
}

// checkStatus checks a status a request names, as a filter or to set;
// empty names none.
func checkStatus(status store.Status) error {
	if status != "" && !status.Valid() {
		return errStatus.with(status)
	}
	return nil
}
