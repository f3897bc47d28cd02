package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// The service model's operations. The server implements the storage
// operations, the operations on whole environments (CreateBackend,
// CloneBackend, DeleteBackend, RemoveAllBackends), GetBackend,
// ListS3Buckets, the jobs and the token operations; every other
// operation of the model still has its route, answered with a modeled
// BadRequestException that names it, so an SDK raises a typed error
// saying what is missing rather than UnknownOperationException, which
// the model does not know and which is kept for a method and path that
// match no operation at all.

// modelOperation is one operation of the service model: its name and the
// method and request URI (in the model's {param} form) it is bound to.
type modelOperation struct {
	name, method, uri string
}

// modelOperations is every operation of the AmplifyBackend service model
// (API version 2020-08-11) as botocore 1.43.11 ships it.
// testdata/model-operations.json holds the list as botocore printed it;
// TestModelOperations holds this table to that file and, with the external
// switch on, the file to the installed botocore.
var modelOperations = [...]modelOperation{
	{"CloneBackend", http.MethodPost, "/backend/{appId}/environments/{backendEnvironmentName}/clone"},
	{"CreateBackend", http.MethodPost, "/backend"},
	{"CreateBackendAPI", http.MethodPost, "/backend/{appId}/api"},
	{"CreateBackendAuth", http.MethodPost, "/backend/{appId}/auth"},
	{"CreateBackendConfig", http.MethodPost, "/backend/{appId}/config"},
	{"CreateBackendStorage", http.MethodPost, "/backend/{appId}/storage"},
	{"CreateToken", http.MethodPost, "/backend/{appId}/challenge"},
	{"DeleteBackend", http.MethodPost, "/backend/{appId}/environments/{backendEnvironmentName}/remove"},
	{"DeleteBackendAPI", http.MethodPost, "/backend/{appId}/api/{backendEnvironmentName}/remove"},
	{"DeleteBackendAuth", http.MethodPost, "/backend/{appId}/auth/{backendEnvironmentName}/remove"},
	{"DeleteBackendStorage", http.MethodPost, "/backend/{appId}/storage/{backendEnvironmentName}/remove"},
	{"DeleteToken", http.MethodPost, "/backend/{appId}/challenge/{sessionId}/remove"},
	{"GenerateBackendAPIModels", http.MethodPost, "/backend/{appId}/api/{backendEnvironmentName}/generateModels"},
	{"GetBackend", http.MethodPost, "/backend/{appId}/details"},
	{"GetBackendAPI", http.MethodPost, "/backend/{appId}/api/{backendEnvironmentName}/details"},
	{"GetBackendAPIModels", http.MethodPost, "/backend/{appId}/api/{backendEnvironmentName}/getModels"},
	{"GetBackendAuth", http.MethodPost, "/backend/{appId}/auth/{backendEnvironmentName}/details"},
	{"GetBackendJob", http.MethodGet, "/backend/{appId}/job/{backendEnvironmentName}/{jobId}"},
	{"GetBackendStorage", http.MethodPost, "/backend/{appId}/storage/{backendEnvironmentName}/details"},
	{"GetToken", http.MethodGet, "/backend/{appId}/challenge/{sessionId}"},
	{"ImportBackendAuth", http.MethodPost, "/backend/{appId}/auth/{backendEnvironmentName}/import"},
	{"ImportBackendStorage", http.MethodPost, "/backend/{appId}/storage/{backendEnvironmentName}/import"},
	{"ListBackendJobs", http.MethodPost, "/backend/{appId}/job/{backendEnvironmentName}"},
	{"ListS3Buckets", http.MethodPost, "/s3Buckets"},
	{"RemoveAllBackends", http.MethodPost, "/backend/{appId}/remove"},
	{"RemoveBackendConfig", http.MethodPost, "/backend/{appId}/config/remove"},
	{"UpdateBackendAPI", http.MethodPost, "/backend/{appId}/api/{backendEnvironmentName}"},
	{"UpdateBackendAuth", http.MethodPost, "/backend/{appId}/auth/{backendEnvironmentName}"},
	{"UpdateBackendConfig", http.MethodPost, "/backend/{appId}/config/update"},
	{"UpdateBackendJob", http.MethodPost, "/backend/{appId}/job/{backendEnvironmentName}/{jobId}"},
	{"UpdateBackendStorage", http.MethodPost, "/backend/{appId}/storage/{backendEnvironmentName}"},
}

// operationFilter reports whether name may filter or name a job's
// operation (ListBackendJobs, UpdateBackendJob): any operation of the
// model. On AWS the model's other operations (CreateBackendAuth, …) run
// as jobs too, so a client written against it may filter on one; here it
// matches no job, which is what such a filter finds. A name outside the
// model (a typo, another case) is refused: it would list nothing and look
// like an environment without such jobs.
func operationFilter(name string) bool {
	for _, op := range modelOperations {
		if op.name == name {
			return true
		}
	}
	return false
}

// UnsupportedRoutes lists the routes of the model's operations this server
// does not implement (without handlers bound to a server); the OpenAPI
// test compares them with openapi.yaml.
func UnsupportedRoutes() []Route {
	served := map[string]bool{}
	for _, r := range routes(nil) {
		served[r.Operation] = true
	}
	var out []Route
	for _, op := range modelOperations {
		if served[op.name] {
			continue
		}
		name := op.name
		out = append(out, Route{name, op.method, echoPath(op.uri), func(echo.Context) error {
			return errUnsupportedOperation.with(name)
		}})
	}
	return out
}

// echoPath writes a model request URI the way Echo routes take it:
// "{appId}" becomes ":appId".
func echoPath(uri string) string {
	segs := strings.Split(uri, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = ":" + s[1:len(s)-1]
		}
	}
	return strings.Join(segs, "/")
}
