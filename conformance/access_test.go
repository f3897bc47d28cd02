package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/external"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// The access matrix: four keys, made with the keys command while the server
// runs, call every operation the server serves on two apps through boto3
// (the console's routes through HTTP signed by botocore), and each outcome is
// checked against the table below, written by hand from the keys' policies
// and README's "What each operation is authorized on", never computed by the
// access package it checks.

// matrixKeys are the keys, in the order of the table's columns, with the
// profile each is handed over in.
var matrixKeys = []struct{ key, profile string }{
	{"admin", "default"}, {"read", "app1-read"}, {"full", "app1-full"}, {"dev", "app1-dev-storage"},
}

// devStoragePolicy is the dev key's: storage, its jobs, and browsing and
// downloading files in app1's dev environment, but never deleting storage;
// and importing the buckets named mx-app1-imp-*, which no environment uses
// (a bucket no environment uses takes a grant on its own ARN).
const devStoragePolicy = `{"Version": "2012-10-17", "Statement": [
  {"Sid": "DevStorage", "Effect": "Allow",
   "Action": ["amplifybackend:*BackendStorage", "amplifybackend:GetBackend", "amplifybackend:GetBackendJob",
              "amplifybackend:ListBackendJobs", "amplifybackend:UpdateBackendJob", "amplifybackend:GetConsoleStoragePolicies",
              "amplifybackend:ListConsoleObjects", "amplifybackend:PresignConsoleObjectDownload"],
   "Resource": ["arn:aws:amplifybackend:*:*:/backend/app1/environments/dev", "arn:aws:amplifybackend:*:*:/backend/app1/job/dev/*"]},
  {"Sid": "KeepStorage", "Effect": "Deny", "Action": "amplifybackend:DeleteBackendStorage",
   "Resource": "arn:aws:amplifybackend:*:*:/backend/app1/environments/dev"},
  {"Sid": "ImportOwnBuckets", "Effect": "Allow", "Action": "amplifybackend:ImportBackendStorage",
   "Resource": "arn:aws:s3:::mx-app1-imp-*"}]}`

// matrixApps are the apps every case runs on: app1, which the scoped keys
// are about, and app2, which none of them may touch.
var matrixApps = []string{"app1", "app2"}

// matrixRow is one case and its expected outcome per key: one character per
// app (app1, app2), or one for a call on no app. '+' allowed, '-' refused
// for want of an Allow, '!' refused by an explicit Deny.
type matrixRow struct {
	// name is the operation, followed by what tells two cases of one
	// operation apart.
	name string
	// arn is the resource a refusal names, with {app}, {key}, {job} and
	// {session} for the values of the call.
	arn                    string
	admin, read, full, dev string
}

func (r matrixRow) operation() string { return strings.Fields(r.name)[0] }

// The resources refusals name (after arn:aws:amplifybackend:REGION:ACCOUNT:).
const (
	envARN   = "/backend/{app}/environments/dev"
	appARN   = "/backend/{app}/"
	jobARN   = "/backend/{app}/job/dev/{job}"
	tokenARN = "/backend/{app}/challenge/{session}"
	allARN   = "*"
)

// matrix is the expected outcome of every case. What each case does is in
// clients/access_matrix.py: storage and the file browser work in each app's
// dev environment, on resource "base" or on one made for the cell.
var matrix = []matrixRow{
	// case, the ARN a refusal names, then the outcomes for admin, read, full, dev
	{"CreateBackendStorage", envARN, "++", "--", "+-", "+-"},
	// The bucket is made for the call and no environment uses it: the full
	// key, allowed everywhere in app1 but on no bucket, is refused on the
	// bucket's ARN there (bucketARN, below).
	{"ImportBackendStorage", envARN, "++", "--", "--", "+-"},
	{"GetBackendStorage", envARN, "++", "+-", "+-", "+-"},
	{"UpdateBackendStorage", envARN, "++", "--", "+-", "+-"},
	{"DeleteBackendStorage", envARN, "++", "--", "+-", "!-"},
	{"GetBackendJob", jobARN, "++", "+-", "+-", "+-"},
	{"ListBackendJobs", envARN, "++", "+-", "+-", "+-"},
	{"UpdateBackendJob", jobARN, "++", "--", "+-", "+-"},
	{"GetBackend", envARN, "++", "+-", "+-", "+-"},
	{"GetBackend of the app", appARN, "++", "+-", "+-", "--"},
	{"CreateToken", appARN, "++", "--", "+-", "--"},
	{"GetToken", tokenARN, "++", "--", "+-", "--"},
	{"DeleteToken", tokenARN, "++", "--", "+-", "--"},
	{"CreateBackend", "/backend/{app}/environments/cb-{key}", "++", "--", "+-", "--"},
	{"CloneBackend", "/backend/{app}/environments/stage", "++", "--", "+-", "--"},
	{"DeleteBackend", "/backend/{app}/environments/db-{key}", "++", "--", "+-", "--"},
	{"GetConsoleStoragePolicies", envARN, "++", "+-", "+-", "+-"},
	{"ListConsoleObjects", envARN, "++", "+-", "+-", "+-"},
	{"PresignConsoleObjectDownload", envARN, "++", "+-", "+-", "+-"},
	{"PresignConsoleObjectUpload", envARN, "++", "--", "+-", "--"},
	{"CreateConsoleMultipartUpload", envARN, "++", "--", "+-", "--"},
	{"PresignConsoleUploadParts", envARN, "++", "--", "+-", "--"},
	{"CompleteConsoleMultipartUpload", envARN, "++", "--", "+-", "--"},
	{"AbortConsoleMultipartUpload", envARN, "++", "--", "+-", "--"},
	{"DeleteConsoleObjects", envARN, "++", "--", "+-", "--"},
	// On no app.
	{"GetConsoleCaller", "", "+", "+", "+", "+"},
	{"GetConsoleSystem", allARN, "+", "-", "-", "-"},
	{"BackupStore", allARN, "+", "-", "-", "-"},
	// Last: an allowed one removes the app.
	{"RemoveAllBackends", appARN, "++", "--", "+-", "--"},
}

// bucketARN is the resource a refusal names where it is a bucket rather
// than the row's (case, key and app): a key allowed in the environment but
// not on the bucket no environment uses.
var bucketARN = map[string]string{
	"ImportBackendStorage full app1": "arn:aws:s3:::mx-app1-imp-full",
}

// matrixThen is what a case's follow-up reports (clients/access_matrix.py's
// then), allowed and refused, where it says more than "the job completed":
// an allowed cancel cancels the held job, a refused one lets it complete; a
// refused DeleteToken leaves the challenge.
var matrixThen = map[string][2]string{
	"UpdateBackendJob": {"CANCELLED: Cancelled by the client.", "COMPLETED"},
	"DeleteToken":      {"challenge gone", "challenge kept"},
}

// jobCases start a job when allowed; it must complete.
var jobCases = []string{"CreateBackendStorage", "ImportBackendStorage", "UpdateBackendStorage", "DeleteBackendStorage",
	"CreateBackend", "CloneBackend", "DeleteBackend", "RemoveAllBackends"}

// The buckets the setup makes: each app's dev and stage environments get a
// resource "base", and one bucket belongs to no resource.
const foreignBucket = "mx-foreign"

func baseBucket(app, env string) string { return "mx-" + app + "-" + env + "-base" }

// wantBuckets is what ListS3Buckets shows each key right after the setup:
// everything to the administrator; to the others the buckets of the
// environments where they may GetBackendStorage.
var wantBuckets = map[string][]string{
	"admin": {baseBucket("app1", "dev"), baseBucket("app1", "stage"), baseBucket("app2", "dev"), baseBucket("app2", "stage"), foreignBucket},
	"read":  {baseBucket("app1", "dev"), baseBucket("app1", "stage")},
	"full":  {baseBucket("app1", "dev"), baseBucket("app1", "stage")},
	"dev":   {baseBucket("app1", "dev")},
}

// The operations the console offers on an app's entry and on an
// environment's, all of them.
var (
	appActions = []string{"CreateBackend", "CreateToken", "GetBackend", "RemoveAllBackends"}
	envActions = []string{"AbortConsoleMultipartUpload", "CloneBackend", "CompleteConsoleMultipartUpload", "CreateBackendStorage",
		"CreateConsoleMultipartUpload", "DeleteBackend", "DeleteBackendStorage", "DeleteConsoleObjects", "GetBackend",
		"GetBackendJob", "GetBackendStorage", "GetConsoleStoragePolicies", "ImportBackendStorage", "ListBackendJobs",
		"ListConsoleObjects", "PresignConsoleObjectDownload", "PresignConsoleObjectUpload", "PresignConsoleUploadParts",
		"UpdateBackendJob", "UpdateBackendStorage"}
	readEnvActions = []string{"GetBackend", "GetBackendJob", "GetBackendStorage", "GetConsoleStoragePolicies", "ListBackendJobs",
		"ListConsoleObjects", "PresignConsoleObjectDownload"}
	devEnvActions = []string{"CreateBackendStorage", "GetBackend", "GetBackendJob", "GetBackendStorage", "GetConsoleStoragePolicies",
		"ImportBackendStorage", "ListBackendJobs", "ListConsoleObjects", "PresignConsoleObjectDownload", "UpdateBackendJob", "UpdateBackendStorage"}
)

// consoleApp is an entry of ListConsoleApps as a key should see it.
type consoleApp struct {
	AppID                     string              `json:"appId"`
	Environments              []string            `json:"environments"`
	AllowedActions            []string            `json:"allowedActions"`
	EnvironmentAllowedActions map[string][]string `json:"environmentAllowedActions"`
}

func everyAction(app string, envs ...string) consoleApp {
	a := consoleApp{AppID: app, Environments: envs, AllowedActions: appActions, EnvironmentAllowedActions: map[string][]string{}}
	for _, e := range envs {
		a.EnvironmentAllowedActions[e] = envActions
	}
	return a
}

// wantApps is what ListConsoleApps shows each key right after the setup.
var wantApps = map[string][]consoleApp{
	"admin": {everyAction("app1", "dev", "stage"), everyAction("app2", "dev", "stage")},
	"full":  {everyAction("app1", "dev", "stage")},
	"read": {{AppID: "app1", Environments: []string{"dev", "stage"}, AllowedActions: []string{"GetBackend"},
		EnvironmentAllowedActions: map[string][]string{"dev": readEnvActions, "stage": readEnvActions}}},
	"dev": {{AppID: "app1", Environments: []string{"dev"}, AllowedActions: []string{},
		EnvironmentAllowedActions: map[string][]string{"dev": devEnvActions}}},
}

// matrixCell is one call of the plan, and cellResult what the client
// reported of it.
type matrixCell struct {
	Key  string `json:"key"`
	Case string `json:"case"`
	App  string `json:"app"`
}

type cellResult struct {
	matrixCell
	IDs     map[string]string `json:"ids"`
	Status  int               `json:"status"`
	Error   string            `json:"error"`
	Message string            `json:"message"`
	Answer  json.RawMessage   `json:"answer"`
	Then    string            `json:"then"`
	Failure string            `json:"failure"`
	Before  json.RawMessage   `json:"before"`
	After   json.RawMessage   `json:"after"`
}

// TestAccessMatrix runs the matrix against the real binary, whose target is
// a second server's embedded gateway through proxies that can hold a job
// RUNNING (so a refused cancel has something to leave alone). Every allowed
// call succeeds and its job completes; every refused one is answered
// AccessDeniedException naming the key, the action and the ARN, and both
// apps, the buckets and the jobs the server accepted are the same before and
// after it. ListS3Buckets and ListConsoleApps show each key exactly its
// part.
func TestAccessMatrix(t *testing.T) {
	py := need(t, "python3")
	t.Parallel()
	p := testserver.NewStalledPair(t, "--metrics-listen", "127.0.0.1:0")
	control := p.Control(t)
	api := p.API
	for _, app := range matrixApps {
		for _, env := range []string{"dev", "stage"} {
			r := testserver.MustOK(t, api.Call("POST", "/backend/"+app+"/storage", map[string]any{
				"backendEnvironmentName": env, "resourceName": "base",
				"resourceConfig": map[string]any{"bucketName": baseBucket(app, env), "serviceName": "S3",
					"permissions": map[string]any{"authenticated": []string{"READ"}, "unAuthenticated": []string{"READ"}}},
			}))
			if j := api.WaitJob(app, env, r.Str("jobId")); j.Str("status") != "COMPLETED" {
				t.Fatalf("setup %s/%s: %s", app, env, j.Raw)
			}
		}
	}
	if _, err := p.GW.S3Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(foreignBucket)}); err != nil {
		t.Fatal(err)
	}

	team := filepath.Join(t.TempDir(), "credentials")
	policyFile := filepath.Join(t.TempDir(), "dev-storage.json")
	writeFile(t, policyFile, devStoragePolicy)
	ids := map[string]string{"admin": api.APICreds.AccessKeyID}
	profiles := map[string]string{}
	for _, k := range matrixKeys[1:] {
		policy := map[string][]string{
			"read": {"--app", "app1", "--read-only"},
			"full": {"--app", "app1"},
			"dev":  {"--policy", policyFile},
		}[k.key]
		args := append(append([]string{"keys", "create", k.profile}, policy...), "--credentials-file", team, "--data-dir", api.DataDir)
		if out, code := testserver.Run(t, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
		c, err := credfile.Profile(team, k.profile)
		if err != nil {
			t.Fatal(err)
		}
		api.Until("key "+k.profile+" not taken up", func() bool {
			return api.CallAs(c, "GET", "/console-api/caller", nil).Status == 200
		})
		ids[k.key], profiles[k.key] = c.AccessKeyID, k.profile
	}

	results := runMatrix(t, py, control, team, map[string]any{
		"endpoint": api.API, "region": "us-east-1", "metrics": api.Metrics,
		"admin":    map[string]string{"keyId": api.APICreds.AccessKeyID, "secret": api.APICreds.SecretAccessKey},
		"target":   map[string]string{"s3": p.GW.S3, "keyId": p.GW.S3Creds.AccessKeyID, "secret": p.GW.S3Creds.SecretAccessKey},
		"profiles": profiles, "apps": matrixApps,
		"browsedBuckets": []string{baseBucket("app1", "dev"), baseBucket("app2", "dev")},
		"cells":          matrixCells(),
	})
	rows := map[string]matrixRow{}
	for _, r := range matrix {
		rows[r.name] = r
	}
	allowed, refused := 0, 0
	for _, res := range results {
		where := fmt.Sprintf("%s by %s on %q", res.Case, res.Key, res.App)
		if res.Failure != "" {
			t.Errorf("%s: %s", where, res.Failure)
			continue
		}
		switch res.Case {
		case "ListS3Buckets":
			checkBuckets(t, res)
			continue
		case "ListConsoleApps":
			checkApps(t, res)
			continue
		}
		row := rows[res.Case]
		want := row.outcome(res.Key, res.App)
		if want == '+' {
			allowed++
			checkAllowed(t, where, res, ids[res.Key])
			continue
		}
		refused++
		arn := strings.NewReplacer("{app}", res.App, "{key}", res.Key, "{job}", res.IDs["job"], "{session}", res.IDs["session"]).Replace(row.arn)
		if b, ok := bucketARN[res.Case+" "+res.Key+" "+res.App]; ok {
			arn = b
		} else if arn != allARN {
			arn = "arn:aws:amplifybackend:us-east-1:000000000000:" + arn
		}
		msg := fmt.Sprintf("User: %s is not authorized to perform: amplifybackend:%s on resource: %s", ids[res.Key], row.operation(), arn)
		if want == '!' {
			msg += " with an explicit deny in an identity-based policy"
		}
		if res.Status != 403 || res.Error != "AccessDeniedException" || res.Message != msg {
			t.Errorf("%s: want 403 AccessDeniedException %q, got %d %s %q (then %q)", where, msg, res.Status, res.Error, res.Message, res.Then)
			continue
		}
		if d := stateDiff(res.Before, res.After); d != "" {
			t.Errorf("%s: refused, but the state changed:\n%s", where, d)
		}
		if then, ok := matrixThen[res.Case]; ok && res.Then != then[1] {
			t.Errorf("%s: refused, then %q, want %q", where, res.Then, then[1])
		}
	}
	if want := len(matrixCells()); len(results) != want {
		t.Errorf("%d cells reported, want %d", len(results), want)
	}
	grid := observedGrid(results)
	if err := os.WriteFile(filepath.Join(external.ArtifactsDir(t, "conformance"), "access-matrix.txt"), []byte(grid), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cells: %d allowed, %d refused, %d lists; as answered:\n%s", len(results), allowed, refused, len(results)-allowed-refused, grid)
}

// observedGrid writes the outcomes as answered in the table's notation
// ('x' for any other answer), one line a case, so a run can be read
// against the table.
func observedGrid(results []cellResult) string {
	got := map[string]map[string]string{}
	for _, r := range results {
		c := byte('x')
		switch {
		case r.Failure == "" && r.Status == 200:
			c = '+'
		case r.Error == "AccessDeniedException" && strings.HasSuffix(r.Message, "identity-based policy"):
			c = '!'
		case r.Error == "AccessDeniedException":
			c = '-'
		}
		if got[r.Case] == nil {
			got[r.Case] = map[string]string{}
		}
		got[r.Case][r.Key] += string(c)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-32s", "case")
	for _, k := range matrixKeys {
		fmt.Fprintf(&b, " %-6s", k.key)
	}
	b.WriteString("\n")
	names := []string{"ListS3Buckets", "ListConsoleApps"}
	for _, r := range matrix {
		names = append(names, r.name)
	}
	for _, name := range names {
		fmt.Fprintf(&b, "%-32s", name)
		for _, k := range matrixKeys {
			fmt.Fprintf(&b, " %-6s", got[name][k.key])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// outcome is the table's expectation for key on app ("" for a call on no
// app).
func (r matrixRow) outcome(key, app string) byte {
	col := map[string]string{"admin": r.admin, "read": r.read, "full": r.full, "dev": r.dev}[key]
	if app == "" {
		return col[0]
	}
	return col[slices.Index(matrixApps, app)]
}

// matrixCells is the plan: first the two lists for every key, on the state
// the setup made; then every case for every key on every app, keys with
// the fewest rights first; RemoveAllBackends last, since an allowed one
// removes its app (the client gives a removed app an environment again
// before the next one).
func matrixCells() []matrixCell {
	var cells []matrixCell
	for _, k := range matrixKeys {
		cells = append(cells, matrixCell{k.key, "ListS3Buckets", ""}, matrixCell{k.key, "ListConsoleApps", ""})
	}
	order := []string{"read", "dev", "full", "admin"}
	last := matrix[len(matrix)-1]
	for _, key := range order {
		for _, r := range matrix[:len(matrix)-1] {
			if len(r.admin) == 1 {
				cells = append(cells, matrixCell{key, r.name, ""})
				continue
			}
			for _, app := range matrixApps {
				cells = append(cells, matrixCell{key, r.name, app})
			}
		}
	}
	for _, key := range order {
		for _, app := range matrixApps {
			cells = append(cells, matrixCell{key, last.name, app})
		}
	}
	return cells
}

// runMatrix runs the client on the plan and returns its records, one a cell.
func runMatrix(t *testing.T, py, control, team string, plan map[string]any) []cellResult {
	t.Helper()
	raw, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "config")
	writeFile(t, config, "")
	// A bound for a hung client, not a measure.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "clients/access_matrix.py")
	cmd.Env = append(cleanEnv(), "AB_CONTROL="+control, "AWS_SHARED_CREDENTIALS_FILE="+team, "AWS_CONFIG_FILE="+config)
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the matrix client exited with %v; stderr:\n%s", err, stderr.String())
	}
	var results []cellResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 16<<20), 16<<20)
	for sc.Scan() {
		var r cellResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("the matrix client printed %s: %v", sc.Bytes(), err)
		}
		if r.Case != "" {
			results = append(results, r)
		}
	}
	if stderr.Len() > 0 {
		t.Logf("matrix client stderr:\n%s", stderr.String())
	}
	return results
}

// checkAllowed checks an allowed call: answered, its follow-up as expected
// (a job COMPLETED), and for GetConsoleCaller the key it names.
func checkAllowed(t *testing.T, where string, res cellResult, keyID string) {
	t.Helper()
	if res.Status != 200 {
		t.Errorf("%s: want success, got %d %s %q", where, res.Status, res.Error, res.Message)
		return
	}
	want, special := matrixThen[res.Case]
	switch {
	case special && res.Then != want[0]:
		t.Errorf("%s: then %q, want %q", where, res.Then, want[0])
	case !special && slices.Contains(jobCases, res.Case) && res.Then != "COMPLETED":
		t.Errorf("%s: its job ended %q", where, res.Then)
	}
	if res.Case == "GetConsoleCaller" {
		var who struct {
			AccessKeyID   string `json:"accessKeyId"`
			Name          string `json:"name"`
			Administrator bool   `json:"administrator"`
		}
		if err := json.Unmarshal(res.Answer, &who); err != nil {
			t.Fatal(err)
		}
		profile := matrixKeys[slices.IndexFunc(matrixKeys, func(k struct{ key, profile string }) bool { return k.key == res.Key })].profile
		if who.AccessKeyID != keyID || who.Name != profile || who.Administrator != (res.Key == "admin") {
			t.Errorf("%s: %s", where, res.Answer)
		}
	}
}

func checkBuckets(t *testing.T, res cellResult) {
	t.Helper()
	var answer struct{ Buckets []struct{ Name string } }
	if err := json.Unmarshal(res.Answer, &answer); err != nil || res.Status != 200 {
		t.Errorf("ListS3Buckets by %s: %d %s %q %s", res.Key, res.Status, res.Error, res.Message, res.Answer)
		return
	}
	var got []string
	for _, b := range answer.Buckets {
		got = append(got, b.Name)
	}
	slices.Sort(got)
	if want := wantBuckets[res.Key]; !slices.Equal(got, want) {
		t.Errorf("ListS3Buckets by %s = %v, want %v", res.Key, got, want)
	}
}

func checkApps(t *testing.T, res cellResult) {
	t.Helper()
	var answer struct{ Apps []consoleApp }
	if err := json.Unmarshal(res.Answer, &answer); err != nil || res.Status != 200 {
		t.Errorf("ListConsoleApps by %s: %d %s %q %s", res.Key, res.Status, res.Error, res.Message, res.Answer)
		return
	}
	got := answer.Apps
	slices.SortFunc(got, func(a, b consoleApp) int { return strings.Compare(a.AppID, b.AppID) })
	for i := range got {
		slices.Sort(got[i].Environments)
		slices.Sort(got[i].AllowedActions)
		for _, actions := range got[i].EnvironmentAllowedActions {
			slices.Sort(actions)
		}
	}
	if want := wantApps[res.Key]; !reflect.DeepEqual(got, want) {
		t.Errorf("ListConsoleApps by %s:\n got %+v\nwant %+v", res.Key, got, want)
	}
}

// stateDiff compares two states the client took: "" when equal, else the
// lines of each (indented JSON) that the other lacks.
func stateDiff(before, after json.RawMessage) string {
	var b, a any
	if json.Unmarshal(before, &b) != nil || json.Unmarshal(after, &a) != nil || b == nil || a == nil {
		return fmt.Sprintf("a state is missing or not JSON: before %.200s, after %.200s", before, after)
	}
	if reflect.DeepEqual(a, b) {
		return ""
	}
	lines := func(v any) []string {
		out, _ := json.MarshalIndent(v, "", " ")
		return strings.Split(string(out), "\n")
	}
	bl, al := lines(b), lines(a)
	var d []string
	for _, l := range bl {
		if !slices.Contains(al, l) {
			d = append(d, "- "+l)
		}
	}
	for _, l := range al {
		if !slices.Contains(bl, l) {
			d = append(d, "+ "+l)
		}
	}
	return strings.Join(d, "\n")
}
