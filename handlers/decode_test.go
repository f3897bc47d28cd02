package handlers

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// stringFieldRequests are the requests decodeStrings fills.
var stringFieldRequests = []func() stringFields{
	func() stringFields { return &getStorageRequest{} },
	func() stringFields { return &deleteStorageRequest{} },
	func() stringFields { return &importStorageRequest{} },
	func() stringFields { return &listS3BucketsRequest{} },
	func() stringFields { return &updateJobRequest{} },
	func() stringFields { return &getBackendRequest{} },
}

// TestStringFieldsCoverEveryField: a field added to one of these requests
// without a case in its stringField would be dropped by decodeStrings.
func TestStringFieldsCoverEveryField(t *testing.T) {
	t.Parallel()
	for _, newReq := range stringFieldRequests {
		req := newReq()
		v := reflect.ValueOf(req).Elem()
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Type != reflect.TypeFor[*string]() {
				t.Errorf("%T.%s is %s: decodeStrings only fills *string fields", req, f.Name, f.Type)
			}
			if got := req.stringField([]byte(name)); got != v.Field(i).Addr().Interface() {
				t.Errorf("%T.stringField(%q) is not the field %s", req, name, f.Name)
			}
		}
		if req.stringField([]byte("unknownField")) != nil {
			t.Errorf("%T.stringField takes an unknown name", req)
		}
	}
}

// FuzzDecodeStrings holds decodeStrings to the encoding/json path: when it
// takes a body it must leave exactly what decodeJSON would, and when it
// refuses one it must leave the request untouched.
func FuzzDecodeStrings(f *testing.F) {
	for _, seed := range []string{
		`{"resourceName":"data"}`, " {\t\"resourceName\" :\n\"a b\" , \"serviceName\":\"S3\"\r} ", `{"resourceName":"a","resourceName":"b"}`,
		`{"ResourceName":"a"}`, `{"resourceName":"\u0041"}`, `{"resourceName":null}`, `{"resourceName":"a"} x`, `{}`, ` { } `,
		"{\"resourceName\":\"\xff\"}", `{"resourceName":"a",}`, `{"bucketName":"b","serviceName":"S3"}`, `{"status":"CANCELLED"}`,
		`{"operation":"","status":"RUNNING"}`, `{"nextToken":"x"}`, `{"backendEnvironmentName":"dev"}`, `{"resourceName":1}`,
		`{"resourceName":"日本\u2028"}`, "{\"resourceName\":\"tab\there\"}", `{"resourceName":"a"}{}`, `[]`, `"x"`, `{"resourceName"}`,
		`{"reſourceName":"a"}`, `{"resourceName":"a","extra":"b"}`, "{\"resourceName\":\"a\xffb\"}", "{\"x\xfe\":\"a\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, newReq := range stringFieldRequests {
			fast, slow := newReq(), newReq()
			if !utf8.Valid(body) && decodeJSON(body, slow) == nil {
				t.Fatalf("%T: encoding/json path took %q, which is not UTF-8", slow, body)
			}
			slow = newReq()
			if !decodeStrings(body, fast) {
				if !reflect.ValueOf(fast).Elem().IsZero() {
					t.Fatalf("%T: refused %q but filled %+v", fast, body, fast)
				}
				continue
			}
			if err := decodeJSON(body, slow); err != nil {
				t.Fatalf("%T: took %q, which encoding/json refuses: %v", fast, body, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%T from %q: decodeStrings %s, encoding/json %s", fast, body, dumpStrings(fast), dumpStrings(slow))
			}
		}
	})
}

func dumpStrings(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestExactCaseKeys: a key that differs from one of ours by case alone
// sends a body down the careful path; anything else does not.
func TestExactCaseKeys(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		`{"resourceName":"x"}`:                             true,
		`{"ResourceName":"x"}`:                             false,
		`{"resourceConfig":{"Permissions":{}}}`:            false,
		`{"unknownField":1,"resourceName":"Resourcename"}`: true,  // values are not keys
		`{"resource\u004eame":"x"}`:                        false, // escaped keys take the careful path
		`{"a":"b\"c","resourceName" :"x"}`:                 true,
		`not json`:                                         true,
		`{"resourceName"`:                                  true,
	}
	for body, want := range cases {
		if got := exactCaseKeys([]byte(body), wireNamesOf(reflect.TypeOf(&updateStorageRequest{}))); got != want {
			t.Errorf("%s: %v, want %v", body, got, want)
		}
	}
}

// TestDecodeErrorsSpeakAPI: a body the decoder refuses is answered in the
// API's terms, naming the field and the type it must have (the type of
// the field, not of the value met), never a Go type; a string that is not
// UTF-8 is refused naming where it is, rather than decoded with U+FFFD in
// place of its bytes.
func TestDecodeErrorsSpeakAPI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		into func() any
		want string
	}{
		{`[]`, func() any { return &createStorageRequest{} }, "The request body must be a JSON object."},
		{`"resourceName"`, func() any { return &getStorageRequest{} }, "The request body must be a JSON object."},
		{`7`, func() any { return &listJobsRequest{} }, "The request body must be a JSON object."},
		{`{"resourceConfig":{"permissions":{"authenticated":[1]}}}`, func() any { return &createStorageRequest{} },
			"Invalid resourceConfig.permissions.authenticated: must be a list of strings."},
		{`{"resourceConfig":{"permissions":{"authenticated":"READ"}}}`, func() any { return &updateStorageRequest{} },
			"Invalid resourceConfig.permissions.authenticated: must be a list of strings."},
		{`{"resourceConfig":{"permissions":{"unAuthenticated":[["READ"]]}}}`, func() any { return &createStorageRequest{} },
			"Invalid resourceConfig.permissions.unAuthenticated: must be a list of strings."},
		{`{"resourceConfig":[]}`, func() any { return &createStorageRequest{} }, "Invalid resourceConfig: must be an object."},
		{`{"resourceName":{}}`, func() any { return &getStorageRequest{} }, "Invalid resourceName: must be a string."},
		{`{"maxResults":1.5}`, func() any { return &listJobsRequest{} }, "Invalid maxResults: must be an integer."},
		{`{"maxResults":"3"}`, func() any { return &listJobsRequest{} }, "Invalid maxResults: must be an integer."},
		{`{"ResourceName":"x","resourceName":[1]}`, func() any { return &getStorageRequest{} }, "Invalid resourceName: must be a string."},
		{`{"ResourceName":"x"} y`, func() any { return &getStorageRequest{} },
			"The request body is not valid JSON: invalid character 'y' after top-level value."},
		{`{"resourceName":"x"} y`, func() any { return &getStorageRequest{} },
			"The request body is not valid JSON: invalid character 'y' after top-level value."},
		{"{\"resourceName\":\"a\xffb\"}", func() any { return &getStorageRequest{} }, "Invalid resourceName: must be valid UTF-8."},
		{"{\"resourceConfig\":{\"permissions\":{\"authenticated\":[\"READ\",\"\xc3\"]}}}", func() any { return &createStorageRequest{} },
			"Invalid resourceConfig.permissions.authenticated: must be valid UTF-8."},
		{"{\"resourceConfig\":{\"perm\xe9\":1}}", func() any { return &createStorageRequest{} }, "Invalid resourceConfig key: must be valid UTF-8."},
		{"{\"future\":[{\"note\":\"\xff\"}]}", func() any { return &deleteStorageRequest{} }, "Invalid future.note: must be valid UTF-8."},
		{"\"\xff\"", func() any { return &getStorageRequest{} }, "Invalid request body: must be valid UTF-8."},
	}
	for _, tt := range tests {
		var api *APIError
		err := decodeJSON([]byte(tt.body), tt.into())
		if !errors.As(err, &api) || api.Message != tt.want {
			t.Errorf("%q: %v; want %q", tt.body, err, tt.want)
		}
	}
}

// FuzzBodyString holds bodyString to what decoding the body into a map of
// its members and the member into a string gives (the way authorization
// read a field before): the same string for every field name, whatever
// the body.
func FuzzBodyString(f *testing.F) {
	for _, seed := range []string{
		`{"backendEnvironmentName":"dev","resourceName":"data","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}}`,
		`{"resourceConfig":{"backendEnvironmentName":"inner"},"backendEnvironmentName":"outer"}`, `{"backendEnvironmentName":"a","backendEnvironmentName":"b"}`,
		`{"backendEnvironmentName":"a","backendEnvironmentName":1}`, `{"backendEnvironmentName":null}`, `{"backendEnvironmentName":"\u0041\"x"}`,
		`{"backend\u0045nvironmentName":"esc"}`, `{"BackendEnvironmentName":"case"}`, "{\"backendEnvironmentName\":\"a\xffb\"}",
		`{"x":[1,{"y":"}"}],"bucketName":"b"}`, `{"x":true,"bucketName":"b","z":-1.5e3}`, `[{"bucketName":"b"}]`, `"x"`, `null`, ``, `{`,
		`{"bucketName":"b"} x`, ` { "bucketName" : "sp" } `, `{"a":"\\","bucketName":"after backslash"}`, `{"":"","bucketName":""}`,
	} {
		f.Add([]byte(seed))
	}
	reference := func(body []byte, name string) string {
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			return ""
		}
		var v string
		if raw, ok := m[name]; ok && json.Unmarshal(raw, &v) == nil {
			return v
		}
		return ""
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, name := range []string{"backendEnvironmentName", "bucketName", "resourceName", "x", "a", ""} {
			if got, want := bodyString(body, name), reference(body, name); got != want {
				t.Fatalf("bodyString(%q, %q) = %q, want %q", body, name, got, want)
			}
		}
	})
}

// FuzzDecodePlainCreate holds the create body's hand-written decoder to
// encoding/json: when it takes a body it must leave exactly what
// decodeJSON would, and when it refuses one it must leave the request
// untouched.
func FuzzDecodePlainCreate(f *testing.F) {
	for _, seed := range []string{
		`{"backendEnvironmentName":"dev","resourceName":"data","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"],"unAuthenticated":["READ"]}}}`,
		` { "resourceConfig" : { "bucketName" : "b" , "permissions" : { "authenticated" : [ ] , "unAuthenticated" : [ "READ" , "DELETE" ] } } } `,
		`{"resourceConfig":{"permissions":{}}}`, `{"resourceConfig":{}}`, `{}`, `{"resourceConfig":null}`, `{"resourceName":null}`,
		`{"resourceName":"a","resourceName":"b"}`, `{"resourceConfig":{"serviceName":"S3"},"resourceConfig":{"bucketName":"b"}}`,
		`{"resourceConfig":{"permissions":{"authenticated":["a"],"authenticated":["b"]}}}`, `{"ResourceName":"case"}`, `{"resourceName":"\u0041"}`,
		"{\"resourceName\":\"a\xffb\"}", `{"resourceName":1}`, `{"resourceConfig":{"permissions":{"authenticated":"READ"}}}`,
		`{"resourceConfig":{"permissions":{"authenticated":[1]}}}`, `{"resourceConfig":{"permissions":{"authenticated":[null]}}}`,
		`{"extra":"x","resourceName":"r"}`, `{"resourceName":"r"} x`, `{"resourceName":"r",}`, `{"resourceConfig":{"permissions":{"authenticated":["a",]}}}`,
		`[]`, `"x"`, `{"resourceConfig":[]}`, `{"resourceConfig":{"permissions":{"authenticated":["READ"]}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, slow createStorageRequest
		if !fast.decodePlain(body) {
			if !reflect.ValueOf(fast).IsZero() {
				t.Fatalf("refused %q but filled %+v", body, fast)
			}
			return
		}
		if err := decodeJSON(body, &slow); err != nil {
			t.Fatalf("took %q, which encoding/json refuses: %v", body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			a, _ := json.Marshal(fast)
			b, _ := json.Marshal(slow)
			t.Fatalf("from %q: decodePlain %s, encoding/json %s", body, a, b)
		}
	})
}

// TestDecodePlainTakesUsualCreates: the bodies SDKs send for a create take
// the hand-written path, so it is the one the benchmarks measure.
func TestDecodePlainTakesUsualCreates(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"backendEnvironmentName":"dev","resourceName":"data","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"],"unAuthenticated":["READ"]}}}`,
		`{"backendEnvironmentName":"dev","resourceConfig":{"bucketName":"my-bucket","permissions":{"authenticated":["READ","CREATE_AND_UPDATE","DELETE"]},"serviceName":"S3"},"resourceName":"photos"}`,
	} {
		var r createStorageRequest
		if !r.decodePlain([]byte(body)) || r.ResourceConfig == nil || r.ResourceConfig.Permissions == nil || r.ResourceConfig.Permissions.Authenticated == nil {
			t.Errorf("decodePlain refused or dropped part of %s: %+v", body, r)
		}
	}
}
