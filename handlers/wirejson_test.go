package handlers

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// wireJSONStrings are the strings encoding/json treats specially, plus
// ordinary ones.
var wireJSONStrings = []string{
	"", "app", "dev", "photos-bucket", "2026-11-22T12:00:00Z", "RUNNING", "READ",
	`"`, `\`, "<script>&amp;</script>", "tab\there", "nl\ncr\r", "\b\f", "\x00\x01\x1f", "\x7f",
	"ünïcödé", "日本語", "\u2028\u2029", "a\u2028b", "\xff", "bad \xc3\x28 utf8", "\xe2\x82", "emoji 🚀",
	"U+FFFD \ufffd", "/%2F+ =?",
}

func randWireString(rng *rand.Rand) string {
	if rng.IntN(3) > 0 {
		return wireJSONStrings[rng.IntN(len(wireJSONStrings))]
	}
	b := make([]byte, rng.IntN(12))
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return string(b)
}

// fillRandom sets every field reachable from v to random values, so a
// field added to a wire type is exercised without anyone listing it: absent
// and empty values as often as present ones, since omitempty turns on them.
func fillRandom(rng *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if rng.IntN(4) > 0 {
			v.SetString(randWireString(rng))
		}
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if rng.IntN(3) > 0 {
			v.SetInt(rng.Int64N(1<<40) - 1<<39)
		}
	case reflect.Float32, reflect.Float64:
		if rng.IntN(3) > 0 {
			v.SetFloat(rng.NormFloat64() * 1e6)
		}
	case reflect.Pointer:
		if rng.IntN(4) > 0 {
			v.Set(reflect.New(v.Type().Elem()))
			fillRandom(rng, v.Elem())
		}
	case reflect.Slice:
		switch rng.IntN(4) {
		case 0: // nil
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			v.Set(reflect.MakeSlice(v.Type(), 1+rng.IntN(3), 3))
			for i := 0; i < v.Len(); i++ {
				fillRandom(rng, v.Index(i))
			}
		}
	case reflect.Map:
		if rng.IntN(4) > 0 {
			v.Set(reflect.MakeMap(v.Type()))
			for n := rng.IntN(3); n > 0; n-- {
				k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
				fillRandom(rng, k)
				fillRandom(rng, e)
				v.SetMapIndex(k, e)
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillRandom(rng, v.Field(i))
			}
		}
	}
}

// encodingJSON is what c.JSON writes for v: json.Encoder's output.
func encodingJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// appenders are the wire types with a hand-written encoder;
// TestEveryAppenderIsTested keeps the list complete.
var appenders = []jsonAppender{
	jobAcceptedResponse{}, getStorageResponse{}, getStorageResourceConfigWire{}, permissionsWire{}, jobWire{}, listJobsResponse{},
	tokenResponse{}, deleteTokenResponse{},
	wholeJobResponse{},
}

// TestWireJSONMatchesEncodingJSON holds every hand-written encoder to
// encoding/json on values whose every field, at every depth, is filled by
// reflection: a field the encoder does not know about fails here.
func TestWireJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, zero := range appenders {
		for i := 0; i < 2000; i++ {
			p := reflect.New(reflect.TypeOf(zero))
			fillRandom(rng, p.Elem())
			v := p.Elem().Interface().(jsonAppender)
			got := string(v.appendJSON(nil)) + "\n"
			if want := encodingJSON(t, v); got != want {
				t.Fatalf("%T %+v:\n got %s\nwant %s", v, v, got, want)
			}
		}
	}
}

// TestEveryAppenderIsTested finds every appendJSON method in the package's
// source, so a new hand-written encoder cannot miss the comparison above.
func TestEveryAppenderIsTested(t *testing.T) {
	t.Parallel()
	tested := map[string]bool{}
	for _, a := range appenders {
		tested[reflect.TypeOf(a).Name()] = true
	}
	found := 0
	_, files := parseSources(t)
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "appendJSON" {
				continue
			}
			found++
			recv, ok := fn.Recv.List[0].Type.(*ast.Ident)
			if !ok {
				t.Errorf("appendJSON on %T: give it a value receiver of a named type", fn.Recv.List[0].Type)
				continue
			}
			if !tested[recv.Name] {
				t.Errorf("%s.appendJSON is not in appenders, so nothing compares it with encoding/json", recv.Name)
			}
		}
	}
	if found != len(appenders) {
		t.Errorf("found %d appendJSON methods, appenders lists %d", found, len(appenders))
	}
}

// TestWriteJSONMatchesEchoJSON compares whole answers: writeJSON against
// c.JSON for the same value, including the cases it hands to c.JSON.
func TestWriteJSONMatchesEchoJSON(t *testing.T) {
	t.Parallel()
	v := getStorageResponse{AppID: "a<b", BackendEnvironmentName: "dev", ResourceName: "r",
		ResourceConfig: getStorageResourceConfigWire{Imported: true, Permissions: toPermissionsWire(permissionsFixture), ServiceName: "S3"}}
	for _, tt := range []struct {
		name, target string
		debug        bool
		contentType  string
	}{
		{name: "plain", target: "/x"},
		{name: "pretty", target: "/x?pretty"},
		{name: "other query", target: "/x?a=1"},
		{name: "debug", target: "/x", debug: true},
		{name: "content type already set", target: "/x", contentType: "application/x-amz-json-1.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			answer := func(write func(c echo.Context) error) *httptest.ResponseRecorder {
				e := echo.New()
				e.Debug = tt.debug
				e.GET("/x", func(c echo.Context) error {
					if tt.contentType != "" {
						c.Response().Header().Set(echo.HeaderContentType, tt.contentType)
					}
					return write(c)
				})
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.target, nil))
				return rec
			}
			want := answer(func(c echo.Context) error { return c.JSON(http.StatusAccepted, v) })
			got := answer(func(c echo.Context) error { return writeJSON(c, http.StatusAccepted, v) })
			if got.Code != want.Code || got.Body.String() != want.Body.String() ||
				strings.Join(got.Header()["Content-Type"], ",") != strings.Join(want.Header()["Content-Type"], ",") {
				t.Errorf("writeJSON: %d %v %q\nc.JSON:    %d %v %q", got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
			}
		})
	}
}

var permissionsFixture = store.Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ", "DELETE"}}

// FuzzJSONString holds appendJSONString to json.Marshal on any string.
func FuzzJSONString(f *testing.F) {
	for _, s := range wireJSONStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}
