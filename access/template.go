package access

import (
	"encoding/json"
	"fmt"
)

// The documents `amplifybackendd keys create` writes for the common
// cases, and the one sign-in sessions get. They name resources with a
// wildcard region and account, so they mean the same on every server.

func anyScope() Scope { return Scope{Partition: "*", Region: "*", Account: "*"} }

// ReadActions are the actions that only read an app's state. GetToken is
// not among them although it reads: the challenge it returns signs its
// holder in with the rights of the key that created it.
var ReadActions = []string{"GetBackend", "GetBackendStorage", "GetBackendJob", "ListBackendJobs",
	"ListConsoleApps", "GetConsoleStoragePolicies", "ListConsoleObjects", "PresignConsoleObjectDownload"}

// FileActions are the console file browser's actions: reading and
// changing the objects in a storage resource's bucket.
var FileActions = []string{"ListConsoleObjects", "PresignConsoleObjectUpload", "PresignConsoleObjectDownload",
	"CreateConsoleMultipartUpload", "PresignConsoleUploadParts", "CompleteConsoleMultipartUpload",
	"AbortConsoleMultipartUpload", "DeleteConsoleObjects"}

// AppDocument allows every action on one app's resources; readOnly
// narrows it to ReadActions.
func AppDocument(appID string, readOnly bool) []byte {
	actions := []string{Action("*")}
	sid := "AppFullAccess"
	if readOnly {
		actions, sid = nil, "AppReadOnly"
		for _, a := range ReadActions {
			actions = append(actions, Action(a))
		}
	}
	return document(statementDoc{Sid: sid, Effect: "Allow", Action: actions, Resource: []string{anyScope().App(appID) + "*"}})
}

// EnvironmentStorageDocument allows the storage operations, reading and
// cancelling their jobs, and the file browser, in one environment of one
// app.
func EnvironmentStorageDocument(appID, env string) []byte {
	s := anyScope()
	actions := []string{Action("*BackendStorage"), Action("GetBackend"), Action("GetBackendJob"),
		Action("ListBackendJobs"), Action("UpdateBackendJob"), Action("GetConsoleStoragePolicies")}
	for _, a := range FileActions {
		actions = append(actions, Action(a))
	}
	return document(statementDoc{
		Sid: "EnvironmentStorage", Effect: "Allow",
		Action:   actions,
		Resource: []string{s.Environment(appID, env), s.Job(appID, env, "") + "*"},
	})
}

type statementDoc struct {
	Sid      string
	Effect   string
	Action   []string
	Resource []string
}

func document(st ...statementDoc) []byte {
	b, err := json.Marshal(struct {
		Version   string
		Statement []statementDoc
	}{versions[0], st})
	if err != nil {
		panic(fmt.Sprintf("access: %v", err))
	}
	return b
}
