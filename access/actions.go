package access

// Actions lists every action a policy may name, without the service
// prefix: the operations of the AmplifyBackend service model (those this
// server does not serve too, so a document written for AWS reads the
// same here), then the routes this server adds beside the model, which
// are governed like operations.
var Actions = []string{
	"CloneBackend", "CreateBackend", "CreateBackendAPI", "CreateBackendAuth", "CreateBackendConfig",
	"CreateBackendStorage", "CreateToken", "DeleteBackend", "DeleteBackendAPI", "DeleteBackendAuth",
	"DeleteBackendStorage", "DeleteToken", "GenerateBackendAPIModels", "GetBackend", "GetBackendAPI",
	"GetBackendAPIModels", "GetBackendAuth", "GetBackendJob", "GetBackendStorage", "GetToken",
	"ImportBackendAuth", "ImportBackendStorage", "ListBackendJobs", "ListS3Buckets", "RemoveAllBackends",
	"RemoveBackendConfig", "UpdateBackendAPI", "UpdateBackendAuth", "UpdateBackendConfig",
	"UpdateBackendJob", "UpdateBackendStorage",

	// This server's own routes.
	"ListConsoleApps", "GetConsoleSystem", "GetConsoleStoragePolicies", "BackupStore",

	// The console's file browser, one action per route, so a key may
	// browse and download without being able to upload or delete.
	"ListConsoleObjects", "PresignConsoleObjectUpload", "PresignConsoleObjectDownload",
	"CreateConsoleMultipartUpload", "PresignConsoleUploadParts", "CompleteConsoleMultipartUpload",
	"AbortConsoleMultipartUpload", "DeleteConsoleObjects",
}

// Action returns the policy name of an operation: "amplifybackend:" + op.
func Action(op string) string { return ServicePrefix + ":" + op }
