package handlers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
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
		`{"reſourceName":"a"}`, `{"resourceName":"a","extra":"b"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, newReq := range stringFieldRequests {
			fast, slow := newReq(), newReq()
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
		if got := exactCaseKeys([]byte(body)); got != want {
			t.Errorf("%s: %v, want %v", body, got, want)
		}
	}
}
