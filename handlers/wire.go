package handlers

import (
	"time"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// Wire types: the exact JSON shapes of the AmplifyBackend service model
// (lowerCamel keys). Optional fields are pointers or omitempty so absent
// values are omitted, never sent as null. openapi.yaml describes the same
// shapes.

// permissionsWire is BackendStoragePermissions. Authenticated is a pointer
// to a slice so a missing list can be told from an empty one.
type permissionsWire struct {
	Authenticated   *[]string `json:"authenticated,omitempty"`
	UnAuthenticated []string  `json:"unAuthenticated,omitempty"`
}

// createResourceConfigWire is CreateBackendStorageResourceConfig.
type createResourceConfigWire struct {
	BucketName  *string          `json:"bucketName,omitempty"`
	Permissions *permissionsWire `json:"permissions,omitempty"`
	ServiceName *string          `json:"serviceName,omitempty"`
}

type createStorageRequest struct {
	BackendEnvironmentName *string                   `json:"backendEnvironmentName"`
	ResourceConfig         *createResourceConfigWire `json:"resourceConfig"`
	ResourceName           *string                   `json:"resourceName"`
}

type importStorageRequest struct {
	BucketName  *string `json:"bucketName"`
	ServiceName *string `json:"serviceName"`
}

// updateResourceConfigWire is UpdateBackendStorageResourceConfig.
type updateResourceConfigWire struct {
	Permissions *permissionsWire `json:"permissions"`
	ServiceName *string          `json:"serviceName"`
}

type updateStorageRequest struct {
	ResourceConfig *updateResourceConfigWire `json:"resourceConfig"`
	ResourceName   *string                   `json:"resourceName"`
}

type getStorageRequest struct {
	ResourceName *string `json:"resourceName"`
}

type deleteStorageRequest struct {
	ResourceName *string `json:"resourceName"`
	ServiceName  *string `json:"serviceName"`
}

// jobAcceptedResponse answers every call that starts a job.
type jobAcceptedResponse struct {
	AppID                  string `json:"appId"`
	BackendEnvironmentName string `json:"backendEnvironmentName"`
	JobID                  string `json:"jobId"`
	Status                 string `json:"status"`
}

type createBackendRequest struct {
	AppID                  *string `json:"appId"`
	AppName                *string `json:"appName"`
	BackendEnvironmentName *string `json:"backendEnvironmentName"`
	// ResourceConfig is an empty structure in the service model: it must
	// be an object, and its members are ignored.
	ResourceConfig *struct{} `json:"resourceConfig"`
	ResourceName   *string   `json:"resourceName"`
}

type cloneBackendRequest struct {
	TargetEnvironmentName *string `json:"targetEnvironmentName"`
}

type removeAllBackendsRequest struct {
	CleanAmplifyApp *bool `json:"cleanAmplifyApp"`
}

// wholeJobResponse answers CreateBackend, CloneBackend, DeleteBackend and
// RemoveAllBackends; RemoveAllBackends' names no environment.
type wholeJobResponse struct {
	AppID                  string `json:"appId"`
	BackendEnvironmentName string `json:"backendEnvironmentName,omitempty"`
	JobID                  string `json:"jobId"`
	Operation              string `json:"operation"`
	Status                 string `json:"status"`
}

// getStorageResourceConfigWire is GetBackendStorageResourceConfig.
type getStorageResourceConfigWire struct {
	BucketName  string          `json:"bucketName,omitempty"`
	Imported    bool            `json:"imported"`
	Permissions permissionsWire `json:"permissions"`
	ServiceName string          `json:"serviceName"`
}

type getStorageResponse struct {
	AppID                  string                       `json:"appId"`
	BackendEnvironmentName string                       `json:"backendEnvironmentName"`
	ResourceConfig         getStorageResourceConfigWire `json:"resourceConfig"`
	ResourceName           string                       `json:"resourceName"`
}

type s3BucketWire struct {
	CreationDate string `json:"creationDate,omitempty"`
	Name         string `json:"name"`
}

type listS3BucketsRequest struct {
	NextToken *string `json:"nextToken"`
}

type listS3BucketsResponse struct {
	Buckets   []s3BucketWire `json:"buckets"`
	NextToken string         `json:"nextToken,omitempty"`
}

// jobWire is BackendJobRespObj, also the body of GetBackendJob and
// UpdateBackendJob answers.
type jobWire struct {
	AppID string `json:"appId"`
	// BackendEnvironmentName is left out for RemoveAllBackends' job, which
	// belongs to the app: an empty string would name an environment "".
	BackendEnvironmentName string `json:"backendEnvironmentName,omitempty"`
	CreateTime             string `json:"createTime,omitempty"`
	Error                  string `json:"error,omitempty"`
	JobID                  string `json:"jobId"`
	Operation              string `json:"operation,omitempty"`
	Status                 string `json:"status,omitempty"`
	UpdateTime             string `json:"updateTime,omitempty"`
	// Warnings say what a COMPLETED job could not do (an optional setting
	// the target lacks); a member beyond the service model, which says
	// error is only what a failed request returns.
	Warnings []string `json:"warnings,omitempty"`
}

type listJobsRequest struct {
	JobID      *string `json:"jobId"`
	MaxResults *int    `json:"maxResults"`
	NextToken  *string `json:"nextToken"`
	Operation  *string `json:"operation"`
	Status     *string `json:"status"`
}

type listJobsResponse struct {
	Jobs      []jobWire `json:"jobs"`
	NextToken string    `json:"nextToken,omitempty"`
}

type updateJobRequest struct {
	Operation *string `json:"operation"`
	Status    *string `json:"status"`
}

type getBackendRequest struct {
	BackendEnvironmentName *string `json:"backendEnvironmentName"`
}

type getBackendResponse struct {
	AmplifyFeatureFlags    string   `json:"amplifyFeatureFlags,omitempty"`
	AmplifyMetaConfig      string   `json:"amplifyMetaConfig,omitempty"`
	AppID                  string   `json:"appId"`
	AppName                string   `json:"appName,omitempty"`
	BackendEnvironmentList []string `json:"backendEnvironmentList"`
	BackendEnvironmentName string   `json:"backendEnvironmentName,omitempty"`
	// Warnings are the environment's storage resources' warnings (settings
	// or role policies the target could not take, a failed update to run
	// again): a member beyond the service model, whose error member is only
	// for a failed request.
	Warnings []string `json:"warnings,omitempty"`
}

// tokenResponse answers CreateToken and GetToken.
type tokenResponse struct {
	AppID string `json:"appId"`
	// ChallengeCode is left out of GetToken's answer to a key other than
	// the one that created the challenge.
	ChallengeCode string `json:"challengeCode,omitempty"`
	SessionID     string `json:"sessionId"`
	// TTL is how many seconds the challenge stays valid, in decimal, as
	// the service model's string member has it.
	TTL string `json:"ttl"`
}

type deleteTokenResponse struct {
	IsSuccess bool `json:"isSuccess"`
}

// signInRequest is the console's exchange of a challenge (POST
// /console-api/sign-in, unsigned; not in the service model).
type signInRequest struct {
	AppID         *string `json:"appId"`
	SessionID     *string `json:"sessionId"`
	ChallengeCode *string `json:"challengeCode"`
}

// signInResponse is the temporary credentials an exchange issues.
type signInResponse struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	Expiration      string `json:"expiration"`
	AppID           string `json:"appId"`
}

func wireTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// jobError is a job's error as the wire shows it: none for a COMPLETED job,
// including the "Completed with warnings: ..." that earlier releases stored
// (its warnings are in Job.Warnings too).
func jobError(j store.Job) string {
	if j.Status == store.StatusCompleted {
		return ""
	}
	return j.Error
}

func toJobWire(j store.Job) jobWire {
	return jobWire{
		AppID: j.AppID, BackendEnvironmentName: j.Env, JobID: j.ID,
		Operation: string(j.Operation), Status: string(j.Status), Error: jobError(j),
		CreateTime: wireTime(j.CreateTime), UpdateTime: wireTime(j.UpdateTime), Warnings: j.Warnings,
	}
}

func toPermissionsWire(p store.Permissions) permissionsWire {
	auth := p.Authenticated
	if auth == nil {
		auth = []string{}
	}
	return permissionsWire{Authenticated: &auth, UnAuthenticated: p.Unauthenticated}
}

// Console extension routes (not part of the AmplifyBackend service model;
// described in openapi.yaml under the console tag).

// consoleAppsResponse answers GET /console-api/apps.
type consoleAppsResponse struct {
	Apps []consoleAppWire `json:"apps"`
}

// consoleAppWire is an app with jobs, its environments newest activity first.
type consoleAppWire struct {
	AppID        string   `json:"appId"`
	Environments []string `json:"environments"`
	// LastActivity is the creation time of the app's newest job.
	LastActivity string `json:"lastActivity,omitempty"`
	// AllowedActions are the app-level operations the caller may take on
	// the app.
	AllowedActions []string `json:"allowedActions"`
	// EnvironmentAllowedActions holds, for each environment listed, the
	// operations the caller may take on it. It sits beside Environments,
	// which stays a list of names for the clients that read it.
	EnvironmentAllowedActions map[string][]string `json:"environmentAllowedActions"`
}

// consoleCallerResponse answers GET /console-api/caller: who signed the
// request.
type consoleCallerResponse struct {
	AccessKeyID string `json:"accessKeyId"`
	Name        string `json:"name"`
	// Administrator says the key may take every action on every resource.
	Administrator bool `json:"administrator"`
	// ExpiresAt is when temporary credentials stop working.
	ExpiresAt string `json:"expiresAt,omitempty"`
	// AppID is the app a sign-in session is scoped to.
	AppID string `json:"appId,omitempty"`
}

// consolePoliciesResponse answers GET /console-api/.../policies: what
// policy.Translate makes of a resource's desired permissions.
type consolePoliciesResponse struct {
	AppID                  string          `json:"appId"`
	BackendEnvironmentName string          `json:"backendEnvironmentName"`
	ResourceName           string          `json:"resourceName"`
	BucketName             string          `json:"bucketName"`
	Permissions            permissionsWire `json:"permissions"`
	SidPrefix              string          `json:"sidPrefix"`
	// AuthRole and UnauthRole are omitted when the role is granted nothing.
	AuthRole   *consoleRolePolicyWire `json:"authRole,omitempty"`
	UnauthRole *consoleRolePolicyWire `json:"unauthRole,omitempty"`
	// BucketPolicyStatements is a JSON array of our bucket policy
	// statements (public guest access only), merged with foreign ones.
	BucketPolicyStatements string `json:"bucketPolicyStatements,omitempty"`
}

// consoleRolePolicyWire is one inline role policy; the document is JSON
// text, as IAM itself hands documents out.
type consoleRolePolicyWire struct {
	RoleName       string `json:"roleName"`
	PolicyName     string `json:"policyName"`
	PolicyDocument string `json:"policyDocument"`
}

// consoleSystemResponse is GET /console-api/system: the server, its target
// and its RUNNING jobs, for the console's System page.
type consoleSystemResponse struct {
	Target        consoleTargetWire `json:"target"`
	Version       string            `json:"version"`
	Started       string            `json:"started,omitempty"`
	UptimeSeconds int64             `json:"uptimeSeconds"`
	JobsRunning   int               `json:"jobsRunning"`
	// OldestRunning is the RUNNING job created first; omitted when none runs.
	OldestRunning *jobWire `json:"oldestRunning,omitempty"`
	// Warnings are the gaps of the target known at start-up.
	Warnings []string `json:"warnings,omitempty"`
}

type consoleTargetWire struct {
	Kind              string `json:"kind"`
	S3Endpoint        string `json:"s3Endpoint,omitempty"`
	IAMEndpoint       string `json:"iamEndpoint,omitempty"`
	IAM               bool   `json:"iam"`
	PublicGuestAccess bool   `json:"publicGuestAccess"`
}
