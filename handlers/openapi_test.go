package handlers

import (
	"fmt"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/amplifybackendd/amplifybackendd/caller"
)

// The tests in this file keep openapi.yaml true: its routes are the
// router's, its operation ids are the Route table's, and the JSON shapes it
// describes have exactly the keys of the wire structs the handlers encode.

// oaResponseTypes is the wire type each operation answers 200 with. A route
// added to Routes() without an entry here fails TestOpenAPIWireTypes.
var oaResponseTypes = map[string]any{
	"CreateBackendStorage": jobAcceptedResponse{},
	"ImportBackendStorage": jobAcceptedResponse{},
	"UpdateBackendStorage": jobAcceptedResponse{},
	"DeleteBackendStorage": jobAcceptedResponse{},
	"GetBackendStorage":    getStorageResponse{},
	"ListS3Buckets":        listS3BucketsResponse{},
	"GetBackendJob":        jobWire{},
	"UpdateBackendJob":     jobWire{},
	"ListBackendJobs":      listJobsResponse{},
	"GetBackend":           getBackendResponse{},
	"CreateToken":          tokenResponse{},
	"GetToken":             tokenResponse{},
	"DeleteToken":          deleteTokenResponse{},
	"CreateBackend":        wholeJobResponse{},
	"CloneBackend":         wholeJobResponse{},
	"DeleteBackend":        wholeJobResponse{},
	"RemoveAllBackends":    wholeJobResponse{},

	"ListConsoleApps":           consoleAppsResponse{},
	"GetConsoleCaller":          consoleCallerResponse{},
	"GetConsoleSystem":          consoleSystemResponse{},
	"GetConsoleStoragePolicies": consolePoliciesResponse{},

	"ListConsoleObjects":             listObjectsResponse{},
	"PresignConsoleObjectUpload":     presignedResponse{},
	"PresignConsoleObjectDownload":   presignedResponse{},
	"CreateConsoleMultipartUpload":   multipartResponse{},
	"PresignConsoleUploadParts":      presignPartsResponse{},
	"CompleteConsoleMultipartUpload": completeMultipartResponse{},
	"AbortConsoleMultipartUpload":    multipartResponse{},
	"DeleteConsoleObjects":           deleteObjectsResponse{},

	"BackupStore": []byte(nil), // a file, not JSON: see oaBinaryAnswer
}

// oaBinaryAnswer marks the wire types of answers that are a file.
func oaBinaryAnswer(v any) bool { _, ok := v.([]byte); return ok }

// oaRequestTypes is the wire type each operation decodes its body into; nil
// means the operation takes no body.
var oaRequestTypes = map[string]any{
	"CreateBackendStorage": createStorageRequest{},
	"ImportBackendStorage": importStorageRequest{},
	"UpdateBackendStorage": updateStorageRequest{},
	"DeleteBackendStorage": deleteStorageRequest{},
	"GetBackendStorage":    getStorageRequest{},
	"ListS3Buckets":        listS3BucketsRequest{},
	"GetBackendJob":        nil,
	"UpdateBackendJob":     updateJobRequest{},
	"ListBackendJobs":      listJobsRequest{},
	"GetBackend":           getBackendRequest{},
	"CreateToken":          nil,
	"GetToken":             nil,
	"DeleteToken":          nil,
	"CreateBackend":        createBackendRequest{},
	"CloneBackend":         cloneBackendRequest{},
	"DeleteBackend":        nil,
	"RemoveAllBackends":    removeAllBackendsRequest{},

	"ListConsoleApps":           nil,
	"GetConsoleCaller":          nil,
	"GetConsoleSystem":          nil,
	"GetConsoleStoragePolicies": nil,

	"ListConsoleObjects":             listObjectsRequest{},
	"PresignConsoleObjectUpload":     presignUploadRequest{},
	"PresignConsoleObjectDownload":   presignDownloadRequest{},
	"CreateConsoleMultipartUpload":   createMultipartRequest{},
	"PresignConsoleUploadParts":      presignPartsRequest{},
	"CompleteConsoleMultipartUpload": completeMultipartRequest{},
	"AbortConsoleMultipartUpload":    multipartRequest{},
	"DeleteConsoleObjects":           deleteObjectsRequest{},

	"BackupStore": nil,
}

// unsignedRoutes are the routes outside the signed group: the root's
// redirect for browsers, the liveness and readiness probes and the console's static files (the Echo wildcard /console/* is
// documented as /console/{asset}).
var unsignedRoutes = []string{
	http.MethodGet + " /",
	http.MethodGet + " /healthz",
	http.MethodGet + " /readyz",
	http.MethodPost + " /console-api/sign-in",
	http.MethodGet + " /console",
	http.MethodGet + " /console/{asset}",
}

var oaMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// oaSpec is openapi.yaml decoded into plain maps, with $ref resolution.
type oaSpec struct{ root map[string]any }

func loadOpenAPI(t *testing.T) oaSpec {
	t.Helper()
	raw, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatalf("read openapi.yaml: %v", err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	root := oaMap(doc)
	if root == nil {
		t.Fatal("openapi.yaml is not a mapping")
	}
	if v, _ := root["openapi"].(string); v != "3.0.3" {
		t.Errorf("openapi version = %q, want 3.0.3", v)
	}
	return oaSpec{root: root}
}

// oaMap returns v as a string-keyed map (YAML mappings with non-string keys,
// such as an unquoted 200, decode as map[any]any), or nil.
func oaMap(v any) map[string]any {
	switch m := v.(type) {
	case map[string]any:
		return m
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out
	}
	return nil
}

// resolve follows local $refs ("#/components/...") until it reaches a node
// that is not a reference.
func (s oaSpec) resolve(t *testing.T, v any) map[string]any {
	t.Helper()
	m := oaMap(v)
	for range 10 {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		if !strings.HasPrefix(ref, "#/") {
			t.Fatalf("only local $refs are supported, got %q", ref)
		}
		var node any = s.root
		for _, part := range strings.Split(ref[2:], "/") {
			part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
			node = oaMap(node)[part]
			if node == nil {
				t.Fatalf("$ref %q does not resolve", ref)
			}
		}
		m = oaMap(node)
	}
	t.Fatal("$ref chain too long")
	return nil
}

// oaOperation is one method of one path in the document.
type oaOperation struct {
	key      string // "POST /backend/{appId}/storage"
	path     string
	pathItem map[string]any
	op       map[string]any
}

func (s oaSpec) operations(t *testing.T) map[string]oaOperation {
	t.Helper()
	out := map[string]oaOperation{}
	for path, item := range oaMap(s.root["paths"]) {
		pi := oaMap(item)
		for _, m := range oaMethods {
			if op := oaMap(pi[m]); op != nil {
				k := strings.ToUpper(m) + " " + path
				out[k] = oaOperation{key: k, path: path, pathItem: pi, op: op}
			}
		}
	}
	return out
}

var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

func oaPath(echoPath string) string { return echoParam.ReplaceAllString(echoPath, "{$1}") }

func routeKey(r Route) string { return r.Method + " " + oaPath(r.Path) }

func TestOpenAPIRoutesMatchRouter(t *testing.T) {
	t.Parallel()
	spec := loadOpenAPI(t)
	ops := spec.operations(t)

	want := map[string]string{}
	for _, k := range unsignedRoutes {
		want[k] = ""
	}
	for _, r := range append(Routes(), UnsupportedRoutes()...) {
		want[routeKey(r)] = r.Operation
	}
	var missing, extra []string
	for k := range want {
		if _, ok := ops[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range ops {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes served but missing from openapi.yaml:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("operations in openapi.yaml that the server does not route:\n  %s", strings.Join(extra, "\n  "))
	}

	seen := map[string]string{}
	for k, o := range ops {
		id, _ := o.op["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", k)
			continue
		}
		if prev, dup := seen[id]; dup {
			t.Errorf("operationId %s is used by both %s and %s", id, prev, k)
		}
		seen[id] = k
		if w, ok := want[k]; ok && w != "" && id != w {
			t.Errorf("%s: operationId = %q, want %q (the Route's Operation)", k, id, w)
		}
	}
}

var oaPathParam = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPIPathParameters(t *testing.T) {
	t.Parallel()
	spec := loadOpenAPI(t)
	for k, o := range spec.operations(t) {
		declared := map[string]bool{}
		var params []any
		if ps, ok := o.pathItem["parameters"].([]any); ok {
			params = append(params, ps...)
		}
		if ps, ok := o.op["parameters"].([]any); ok {
			params = append(params, ps...)
		}
		for _, p := range params {
			p := spec.resolve(t, p)
			if p["in"] != "path" {
				continue
			}
			name, _ := p["name"].(string)
			if p["required"] != true {
				t.Errorf("%s: path parameter %q is not required: true", k, name)
			}
			if s := spec.resolve(t, p["schema"]); s["type"] != "string" {
				t.Errorf("%s: path parameter %q has schema type %v, want string", k, name, s["type"])
			}
			declared[name] = true
		}
		inPath := map[string]bool{}
		for _, m := range oaPathParam.FindAllStringSubmatch(o.path, -1) {
			inPath[m[1]] = true
			if !declared[m[1]] {
				t.Errorf("%s: path parameter {%s} is not declared with in: path, required: true", k, m[1])
			}
		}
		for name := range declared {
			if !inPath[name] {
				t.Errorf("%s: declares path parameter %q that is not in the path", k, name)
			}
		}
	}
}

// TestOpenAPIResponses checks every signed operation documents its success
// and the AWS error documents a client must be able to parse, the
// retryable 504 included: every operation reads the store, which on etcd
// may not answer in time.
func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	spec := loadOpenAPI(t)
	ops := spec.operations(t)

	scheme := spec.resolve(t, oaMap(oaMap(spec.root["components"])["securitySchemes"])["sigv4"])
	if scheme["type"] != "apiKey" || scheme["in"] != "header" || scheme["name"] != "Authorization" {
		t.Errorf("securitySchemes.sigv4 = %v, want apiKey in header Authorization", scheme)
	}
	for _, word := range []string{"AWS4-HMAC-SHA256", caller.SigningName, "any region"} {
		if d, _ := scheme["description"].(string); !strings.Contains(d, word) {
			t.Errorf("securitySchemes.sigv4 description does not mention %q", word)
		}
	}
	if !reflect.DeepEqual(spec.root["security"], []any{map[string]any{"sigv4": []any{}}}) {
		t.Errorf("top-level security = %v, want [{sigv4: []}]", spec.root["security"])
	}
	for _, k := range unsignedRoutes {
		if op := ops[k].op; op == nil || !reflect.DeepEqual(op["security"], []any{}) {
			t.Errorf("%s must be unsigned (security: [])", k)
		}
	}

	errSchema := spec.resolve(t, oaMap(oaMap(spec.root["components"])["schemas"])["Error"])
	checkSchema(t, spec, "components.schemas.Error", errSchema, reflect.TypeFor[errorBody](), true)

	for _, r := range Routes() {
		o, ok := signedOp(t, ops, r)
		if !ok {
			continue // reported by TestOpenAPIRoutesMatchRouter
		}
		responses := oaMap(o.op["responses"])
		// 504: the target, or the store on etcd, did not answer in time.
		for _, code := range []string{"200", "400", "403", "404", "429", "500", "504"} {
			if responses[code] == nil {
				if code != "404" {
					t.Errorf("%s: no %s response", r.Operation, code)
				}
				continue
			}
			resp := spec.resolve(t, responses[code])
			headers := oaMap(resp["headers"])
			if headers["x-amzn-RequestId"] == nil {
				t.Errorf("%s %s: no x-amzn-RequestId header", r.Operation, code)
			}
			if code == "200" {
				continue
			}
			if headers["X-Amzn-ErrorType"] == nil {
				t.Errorf("%s %s: no X-Amzn-ErrorType header", r.Operation, code)
			}
			schema := spec.resolve(t, oaMap(oaMap(oaMap(resp["content"])["application/json"]))["schema"])
			if !reflect.DeepEqual(schema, errSchema) {
				t.Errorf("%s %s: body is not the Error schema", r.Operation, code)
			}
		}
	}
}

// signedOp is r's operation in the document, checked not to opt out of
// SigV4; false when the document lacks it.
func signedOp(t *testing.T, ops map[string]oaOperation, r Route) (oaOperation, bool) {
	t.Helper()
	o, ok := ops[routeKey(r)]
	if sec, set := o.op["security"]; ok && set && reflect.DeepEqual(sec, []any{}) {
		t.Errorf("%s: must not opt out of SigV4", r.Operation)
	}
	return o, ok
}

// TestOpenAPIUnsupported: the model's operations the server does not
// implement are documented as such: signed, tagged unsupported, answering
// only the Unsupported 400 and the 403 of the signature check.
func TestOpenAPIUnsupported(t *testing.T) {
	t.Parallel()
	spec := loadOpenAPI(t)
	ops := spec.operations(t)
	unsupported := spec.resolve(t, oaMap(oaMap(spec.root["components"])["responses"])["Unsupported"])
	if ex := oaMap(oaMap(unsupported["content"])["application/json"])["example"]; !strings.Contains(fmt.Sprint(ex), catalog[errUnsupportedOperation].message[:20]) {
		t.Errorf("components.responses.Unsupported example %v is not the catalog's message", ex)
	}
	for _, r := range UnsupportedRoutes() {
		o, ok := signedOp(t, ops, r)
		if !ok {
			continue // reported by TestOpenAPIRoutesMatchRouter
		}
		if !reflect.DeepEqual(o.op["tags"], []any{"unsupported"}) {
			t.Errorf("%s: tags %v, want [unsupported]", r.Operation, o.op["tags"])
		}
		responses := oaMap(o.op["responses"])
		if len(responses) != 2 || !reflect.DeepEqual(spec.resolve(t, responses["400"]), unsupported) ||
			!reflect.DeepEqual(spec.resolve(t, responses["403"]), spec.resolve(t, oaMap(oaMap(spec.root["components"])["responses"])["Forbidden"])) {
			t.Errorf("%s: responses %v, want only 400 Unsupported and 403 Forbidden", r.Operation, responses)
		}
		if o.op["requestBody"] != nil {
			t.Errorf("%s: documents a request body the server does not read", r.Operation)
		}
	}
}

// TestOpenAPIWireTypes compares the JSON schemas of every request body and
// 200 answer with the Go wire structs, field by field and recursively, so
// neither can change without the other.
func TestOpenAPIWireTypes(t *testing.T) {
	t.Parallel()
	spec := loadOpenAPI(t)
	ops := spec.operations(t)
	for _, r := range Routes() {
		o, ok := ops[routeKey(r)]
		if !ok {
			continue // reported by TestOpenAPIRoutesMatchRouter
		}
		resp, ok := oaResponseTypes[r.Operation]
		switch {
		case !ok:
			t.Errorf("%s: no wire type in oaResponseTypes; add it", r.Operation)
		case oaBinaryAnswer(resp):
			res := spec.resolve(t, oaMap(o.op["responses"])["200"])
			if oaMap(oaMap(res["content"])["application/octet-stream"]) == nil {
				t.Errorf("%s: 200 has no application/octet-stream content", r.Operation)
			}
		default:
			res := spec.resolve(t, oaMap(o.op["responses"])["200"])
			schema := oaMap(oaMap(oaMap(res["content"])["application/json"])["schema"])
			if schema == nil {
				t.Errorf("%s: 200 has no application/json schema", r.Operation)
			} else {
				checkSchema(t, spec, r.Operation+" 200", spec.resolve(t, schema), reflect.TypeOf(resp), true)
			}
		}

		req, ok := oaRequestTypes[r.Operation]
		body := spec.resolve(t, o.op["requestBody"])
		switch {
		case !ok:
			t.Errorf("%s: no entry in oaRequestTypes; add it", r.Operation)
		case req == nil:
			if body != nil {
				t.Errorf("%s: documents a request body but the handler reads none", r.Operation)
			}
		case body == nil:
			t.Errorf("%s: no requestBody", r.Operation)
		default:
			schema := oaMap(oaMap(oaMap(body["content"])["application/json"])["schema"])
			if schema == nil {
				t.Errorf("%s: requestBody has no application/json schema", r.Operation)
				continue
			}
			checkSchema(t, spec, r.Operation+" request", spec.resolve(t, schema), reflect.TypeOf(req), false)
		}
	}
}

// checkSchema compares schema with Go type typ: kinds must agree, object
// properties must be exactly the json tag names, and nested structs and
// slices are compared the same way. For answers (out), a field encoded
// without omitempty is always present, so it must be listed as required.
func checkSchema(t *testing.T, spec oaSpec, where string, schema map[string]any, typ reflect.Type, out bool) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	want := map[reflect.Kind]string{
		reflect.String: "string", reflect.Bool: "boolean", reflect.Int: "integer", reflect.Int64: "integer",
		reflect.Slice: "array", reflect.Struct: "object", reflect.Map: "object",
	}[typ.Kind()]
	if want == "" {
		t.Fatalf("%s: checkSchema does not know Go kind %s", where, typ.Kind())
	}
	if got, _ := schema["type"].(string); got != want {
		t.Errorf("%s: schema type %q, want %q (Go %s)", where, got, want, typ)
		return
	}
	switch typ.Kind() {
	case reflect.Slice:
		checkSchema(t, spec, where+"[]", spec.resolve(t, schema["items"]), typ.Elem(), out)
	case reflect.Map:
		// A map keyed by names is an object of any members, each its values' schema.
		checkSchema(t, spec, where+"{}", spec.resolve(t, schema["additionalProperties"]), typ.Elem(), out)
	case reflect.Struct:
		props := oaMap(schema["properties"])
		var required []string
		if rs, ok := schema["required"].([]any); ok {
			for _, r := range rs {
				required = append(required, fmt.Sprint(r))
			}
		}
		for _, r := range required {
			if _, ok := props[r]; !ok {
				t.Errorf("%s: required %q is not a property", where, r)
			}
		}
		fields := map[string]reflect.StructField{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fields[name] = f
			if out && !slices.Contains(strings.Split(opts, ","), "omitempty") && !slices.Contains(required, name) {
				t.Errorf("%s: %q is always sent (no omitempty on %s.%s) but not required", where, name, typ.Name(), f.Name)
			}
		}
		var missing, extra []string
		for name := range fields {
			if _, ok := props[name]; !ok {
				missing = append(missing, name)
			}
		}
		for name := range props {
			if _, ok := fields[name]; !ok {
				extra = append(extra, name)
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		if len(missing) > 0 || len(extra) > 0 {
			t.Errorf("%s: properties differ from %s's json tags: missing from openapi.yaml %v, not in Go %v", where, typ, missing, extra)
		}
		for name, f := range fields {
			if p, ok := props[name]; ok {
				checkSchema(t, spec, where+"."+name, spec.resolve(t, p), f.Type, out)
			}
		}
	}
}
