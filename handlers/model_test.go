package handlers

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/internal/external"
)

// modelOperationsScript prints the service model's operations as
// testdata/model-operations.json holds them; run it with python3 and
// botocore to regenerate the file.
const modelOperationsScript = `import botocore, botocore.session, json
m = botocore.session.get_session().get_service_model("amplifybackend")
print(json.dumps({"botocore": botocore.__version__, "apiVersion": m.api_version, "operations": [
    {"name": o, "method": m.operation_model(o).http["method"], "requestUri": m.operation_model(o).http["requestUri"]}
    for o in m.operation_names]}, indent=1))`

// modelFile is testdata/model-operations.json.
type modelFile struct {
	Botocore   string `json:"botocore"`
	APIVersion string `json:"apiVersion"`
	Operations []struct {
		Name       string `json:"name"`
		Method     string `json:"method"`
		RequestURI string `json:"requestUri"`
	} `json:"operations"`
}

func readModelFile(t *testing.T, raw []byte) modelFile {
	t.Helper()
	var m modelFile
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestModelOperations holds modelOperations to the model's list in
// testdata, and with the external switch on that list to the installed
// botocore's model.
func TestModelOperations(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/model-operations.json")
	if err != nil {
		t.Fatal(err)
	}
	file := readModelFile(t, raw)
	var fromFile []modelOperation
	for _, o := range file.Operations {
		fromFile = append(fromFile, modelOperation{o.Name, o.Method, o.RequestURI})
	}
	if !reflect.DeepEqual(fromFile, modelOperations[:]) {
		t.Errorf("modelOperations differ from testdata/model-operations.json (botocore %s):\n%v\n%v", file.Botocore, modelOperations, fromFile)
	}
	if file.APIVersion != "2020-08-11" {
		t.Errorf("the model's API version is %s", file.APIVersion)
	}
	if !external.Enabled() {
		return
	}
	out, err := exec.Command(external.Program(t, "python3"), "-c", modelOperationsScript).Output()
	if err != nil {
		t.Fatalf("python3 botocore: %v", err)
	}
	installed := readModelFile(t, out)
	if !reflect.DeepEqual(installed.Operations, file.Operations) || installed.APIVersion != file.APIVersion {
		t.Errorf("botocore %s's model differs from testdata/model-operations.json (botocore %s); regenerate it with modelOperationsScript and update modelOperations",
			installed.Botocore, file.Botocore)
	}
}

// TestEveryModelOperationRouted: each operation of the model is served at
// its method and path, or answered there as unsupported; every other
// route is one of the server's own, outside the model's paths.
func TestEveryModelOperationRouted(t *testing.T) {
	t.Parallel()
	at := map[string]Route{}
	for _, r := range append(Routes(), UnsupportedRoutes()...) {
		if prev, dup := at[r.Operation]; dup {
			t.Errorf("%s is routed twice: %s %s and %s %s", r.Operation, prev.Method, prev.Path, r.Method, r.Path)
		}
		at[r.Operation] = r
	}
	inModel := map[string]bool{}
	for _, op := range modelOperations {
		inModel[op.name] = true
		r, ok := at[op.name]
		if !ok || r.Method != op.method || r.Path != echoPath(op.uri) {
			t.Errorf("%s (%s %s) is routed as %+v", op.name, op.method, op.uri, r)
		}
	}
	for _, r := range Routes() {
		if !inModel[r.Operation] && !strings.HasPrefix(r.Path, "/console-api/") && !strings.HasPrefix(r.Path, "/admin-api/") {
			t.Errorf("%s %s (%s) is neither in the model nor under /console-api/ or /admin-api/", r.Method, r.Path, r.Operation)
		}
	}
	if len(UnsupportedRoutes()) == 0 || len(UnsupportedRoutes()) >= len(modelOperations) {
		t.Errorf("%d of the model's %d operations unsupported", len(UnsupportedRoutes()), len(modelOperations))
	}
}

// TestUnsupportedOperations calls every operation of the model the server
// does not implement, through the router: signed, it is a 400
// BadRequestException (a modeled error, which SDKs raise as such) naming
// the operation; unsigned, a 403 like any other route; with another
// method, a path that matches no operation, still UnknownOperation.
func TestUnsupportedOperations(t *testing.T) {
	t.Parallel()
	srv := New(Config{Keys: caller.StaticKeys{sigTestKeyID: sigTestSecret}, Now: func() time.Time { return sigTestNow },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	call := func(method, path string, signed bool) (int, errorBody) {
		body := []byte(`{}`)
		r := httptest.NewRequest(method, path, strings.NewReader(string(body)))
		if signed {
			signAs(t, r, body, sigTestCreds, "us-east-1", sigTestNow)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		var doc errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || w.Header().Get("X-Amzn-ErrorType") != doc.Type {
			t.Errorf("%s %s: answer %d %v %s", method, path, w.Code, w.Header(), w.Body)
		}
		return w.Code, doc
	}
	for _, r := range UnsupportedRoutes() {
		path := echoParam.ReplaceAllString(r.Path, "x")
		code, doc := call(r.Method, path, true)
		if want := "This server does not support the " + r.Operation + " operation."; code != http.StatusBadRequest || doc.Type != BadRequest || doc.Message != want {
			t.Errorf("%s %s: %d %+v; want 400 %s %q", r.Method, path, code, doc, BadRequest, want)
		}
		if code, doc := call(r.Method, path, false); code != http.StatusForbidden || doc.Type != MissingAuthentication {
			t.Errorf("%s %s unsigned: %d %+v", r.Method, path, code, doc)
		}
		if code, doc := call(http.MethodPut, path, true); code != http.StatusNotFound || doc.Type != UnknownOperation {
			t.Errorf("PUT %s: %d %+v; want 404 %s", path, code, doc, UnknownOperation)
		}
	}
}
