package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// Reading a request into checked values: the body (already read whole by
// the signature check) into a wire type, and path parameters, each field
// held to its rule with a message naming the field. A body takes one of
// three paths: decodeStrings for the common bodies whose fields are all
// strings, encoding/json when every key has exactly one of our names'
// case, and, for a body with a key that differs from one of ours by case
// alone, encoding/json after dropping such keys (AWS's JSON protocols
// match names exactly; Go's decoder alone would not).

// bodyOf is the body the signature check read, or nil for a request that
// did not go through it.
func bodyOf(r *http.Request) []byte {
	if b, ok := r.Body.(*caller.Body); ok {
		return b.Bytes()
	}
	return nil
}

// decode parses the JSON body into v. An empty body is an empty object, and
// the Content-Type header is not required: the real service accepts both.
// Keys match field names exactly, as in AWS's JSON protocols (Go's decoder
// alone would also take "ResourceName" for "resourceName"); unknown keys are
// ignored; a field of the wrong type is named.
func decode(c echo.Context, v any) error {
	body := bodyOf(c.Request())
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if sf, ok := v.(stringFields); ok && decodeStrings(body, sf) {
		return nil
	}
	if pb, ok := v.(plainBody); ok && pb.decodePlain(body) {
		return nil
	}
	return decodeJSON(body, v)
}

// plainBody is a request with a hand-written decoder for its usual bodies
// (decodePlain), so the hot ones skip encoding/json's reflection.
type plainBody interface {
	// decodePlain fills the request from body and reports true when body
	// is one JSON object of exactly its field names, each at most once,
	// whose values are objects of the same kind, lists of strings and
	// strings with nothing to decode (plainJSONString): for those it stores
	// what encoding/json would. For anything else it returns false with
	// the request untouched, and the caller decodes with encoding/json.
	decodePlain(body []byte) bool
}

func (r *createStorageRequest) decodePlain(b []byte) bool {
	var out createStorageRequest
	end, ok := plainObject(b, 0, func(key []byte, at int) (int, bool) {
		switch string(key) {
		case "backendEnvironmentName":
			return plainStringTo(&out.BackendEnvironmentName, b, at)
		case "resourceName":
			return plainStringTo(&out.ResourceName, b, at)
		case "resourceConfig":
			if out.ResourceConfig != nil {
				return 0, false
			}
			c := &createResourceConfigWire{}
			out.ResourceConfig = c
			return plainObject(b, at, func(key []byte, at int) (int, bool) {
				switch string(key) {
				case "bucketName":
					return plainStringTo(&c.BucketName, b, at)
				case "serviceName":
					return plainStringTo(&c.ServiceName, b, at)
				case "permissions":
					if c.Permissions != nil {
						return 0, false
					}
					c.Permissions = &permissionsWire{}
					return c.Permissions.decodePlainAt(b, at)
				}
				return 0, false
			})
		}
		return 0, false
	})
	if !ok || skipJSONSpace(b, end) != len(b) {
		return false
	}
	*r = out
	return true
}

// decodePlainAt fills p from the object at b[at] as decodePlain does,
// returning the index after it.
func (p *permissionsWire) decodePlainAt(b []byte, at int) (int, bool) {
	return plainObject(b, at, func(key []byte, at int) (int, bool) {
		switch string(key) {
		case "authenticated":
			if p.Authenticated != nil {
				return 0, false
			}
			l, next, ok := plainStrings(b, at)
			p.Authenticated = &l
			return next, ok
		case "unAuthenticated":
			if p.UnAuthenticated != nil {
				return 0, false
			}
			l, next, ok := plainStrings(b, at)
			p.UnAuthenticated = l
			return next, ok
		}
		return 0, false
	})
}

// plainObject walks the JSON object at b[i] (after any space), calling
// member with each key and the index of its value; member returns the
// index after the value, or false to refuse the body. It returns the
// index after the object, or false for anything but an object whose keys
// need no decoding.
func plainObject(b []byte, i int, member func(key []byte, at int) (int, bool)) (int, bool) {
	i = skipJSONSpace(b, i)
	if i == len(b) || b[i] != '{' {
		return 0, false
	}
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		key, next, ok := plainJSONString(b, i)
		if !ok {
			return 0, false
		}
		i = skipJSONSpace(b, next)
		if i == len(b) || b[i] != ':' {
			return 0, false
		}
		if i, ok = member(key, skipJSONSpace(b, i+1)); !ok {
			return 0, false
		}
		i = skipJSONSpace(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipJSONSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// plainStringTo stores the plain string at b[at] in *dst, refusing a
// second value for the same field (encoding/json's last-one-wins is left
// to it).
func plainStringTo(dst **string, b []byte, at int) (int, bool) {
	if *dst != nil {
		return 0, false
	}
	s, next, ok := plainJSONString(b, at)
	if !ok {
		return 0, false
	}
	v := string(s)
	*dst = &v
	return next, true
}

// plainStrings reads the JSON list of plain strings at b[i]; an empty list
// is an empty slice, not nil, as encoding/json makes it.
func plainStrings(b []byte, i int) ([]string, int, bool) {
	if i >= len(b) || b[i] != '[' {
		return nil, 0, false
	}
	out := []string{}
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return out, i + 1, true
	}
	for {
		s, next, ok := plainJSONString(b, i)
		if !ok {
			return nil, 0, false
		}
		out = append(out, string(s))
		i = skipJSONSpace(b, next)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipJSONSpace(b, i+1)
		case i < len(b) && b[i] == ']':
			return out, i + 1, true
		default:
			return nil, 0, false
		}
	}
}

// stringFields is a request whose fields are all optional strings, so the
// common bodies can skip encoding/json (decodeStrings).
type stringFields interface {
	// stringField is the field with the JSON name name, nil if none.
	stringField(name []byte) **string
}

func (r *getStorageRequest) stringField(name []byte) **string {
	if string(name) == "resourceName" {
		return &r.ResourceName
	}
	return nil
}

func (r *deleteStorageRequest) stringField(name []byte) **string {
	switch string(name) {
	case "resourceName":
		return &r.ResourceName
	case "serviceName":
		return &r.ServiceName
	}
	return nil
}

func (r *importStorageRequest) stringField(name []byte) **string {
	switch string(name) {
	case "bucketName":
		return &r.BucketName
	case "serviceName":
		return &r.ServiceName
	}
	return nil
}

func (r *listS3BucketsRequest) stringField(name []byte) **string {
	if string(name) == "nextToken" {
		return &r.NextToken
	}
	return nil
}

func (r *updateJobRequest) stringField(name []byte) **string {
	switch string(name) {
	case "operation":
		return &r.Operation
	case "status":
		return &r.Status
	}
	return nil
}

func (r *getBackendRequest) stringField(name []byte) **string {
	if string(name) == "backendEnvironmentName" {
		return &r.BackendEnvironmentName
	}
	return nil
}

// decodeStrings fills v from body and reports true when body is one JSON
// object whose keys are all exactly field names of v and whose values are
// all strings with nothing to decode (no escapes or control characters,
// valid UTF-8): for those, encoding/json would store the bytes between the
// quotes, last duplicate winning. For anything else it returns false with
// v untouched, and the caller decodes with encoding/json.
func decodeStrings(body []byte, v stringFields) bool {
	type assignment struct {
		field **string
		value []byte
	}
	var found [8]assignment
	n := 0
	i := skipJSONSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return false
	}
	i = skipJSONSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			key, next, ok := plainJSONString(body, i)
			if !ok || n == len(found) {
				return false
			}
			field := v.stringField(key)
			if field == nil {
				return false
			}
			i = skipJSONSpace(body, next)
			if i == len(body) || body[i] != ':' {
				return false
			}
			value, next, ok := plainJSONString(body, skipJSONSpace(body, i+1))
			if !ok {
				return false
			}
			found[n] = assignment{field, value}
			n++
			i = skipJSONSpace(body, next)
			if i < len(body) && body[i] == ',' {
				i = skipJSONSpace(body, i+1)
				continue
			}
			if i < len(body) && body[i] == '}' {
				i++
				break
			}
			return false
		}
	}
	if skipJSONSpace(body, i) != len(body) {
		return false
	}
	for _, a := range found[:n] {
		s := string(a.value)
		*a.field = &s
	}
	return true
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainJSONString returns the contents of the JSON string starting at b[i]
// and the index after it, if the string needs no decoding.
func plainJSONString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s = b[i+1 : j]
			return s, j + 1, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// decodeJSON is decode's general path, with encoding/json. Its refusals
// speak of the request in API terms: the field and the type it must have,
// never a Go type.
func decodeJSON(body []byte, v any) error {
	if !utf8.Valid(body) {
		// encoding/json would silently turn the bytes into U+FFFD.
		if field, ok := invalidUTF8Field(body); ok {
			return errNameNotUTF8.with(field)
		}
	}
	if !exactCaseKeys(body, wireNamesOf(reflect.TypeOf(v))) {
		// Slow path, only for bodies with a key that differs from one of
		// ours by case alone: drop such keys, then decode.
		if !json.Valid(body) {
			// Unmarshal checks the whole body before it stores anything:
			// its syntax error is the one the fast path gives.
			return notJSON(json.Unmarshal(body, v), v)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var generic any
		if err := dec.Decode(&generic); err != nil {
			return notJSON(err, v)
		}
		var err error
		if body, err = json.Marshal(exactKeys(generic, reflect.TypeOf(v))); err != nil {
			return fmt.Errorf("re-encode the request body with its exact-case keys: %w", err)
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return notJSON(err, v)
	}
	return nil
}

// notJSON is the answer to a body the JSON decoder refused decoding into
// v: a value of the wrong type is named with the type its field has (Go's
// error names the type of the value it met, a string for an element of a
// list of strings); a syntax error is quoted; anything else is said
// without the decoder's words, which name Go types.
func notJSON(err error, v any) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return errBodyNotObject.with()
	case errors.As(err, &te):
		return errFieldType.with(te.Field, apiType(fieldType(reflect.TypeOf(v), te.Field, te.Type)))
	case errors.As(err, &se):
		return errNotJSON.with(strings.TrimPrefix(se.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errNotJSON.with("unexpected end of JSON input")
	}
	return errNotJSON.with("it could not be decoded")
}

// fieldType is the type of the field at the dotted JSON path in t, or
// fallback if the path does not lead to one.
func fieldType(t reflect.Type, path string, fallback reflect.Type) reflect.Type {
	for _, name := range strings.Split(path, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return fallback
		}
		var next reflect.Type
		for i := 0; i < t.NumField() && next == nil; i++ {
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); tag == name {
				next = t.Field(i).Type
			}
		}
		if next == nil {
			return fallback
		}
		t = next
	}
	return t
}

// apiType names t as the API's documentation would: "a string", "a list
// of strings", "an object".
func apiType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		elem := apiType(t.Elem())
		_, noun, _ := strings.Cut(elem, " ")
		return "a list of " + noun + "s"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a string"
}

// invalidUTF8Field finds the first JSON string in body holding bytes that
// are not UTF-8 and names where it is: the dotted path of the member whose
// value (or an element of whose list) it is, "<path> key" for a key, and
// "request body" for the top level. It reports false for a body that is
// not JSON up to there; the decoder then says what is wrong.
func invalidUTF8Field(body []byte) (string, bool) {
	type level struct {
		object, wantKey bool
		key             string
	}
	var stack []level
	path := func(n int) string {
		var keys []string
		for _, l := range stack[:n] {
			if l.object {
				keys = append(keys, l.key)
			}
		}
		if len(keys) == 0 {
			return "request body"
		}
		return strings.Join(keys, ".")
	}
	// valueDone marks the end of a member's value in the enclosing object.
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var prev int64
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		raw := body[prev:dec.InputOffset()]
		prev = dec.InputOffset()
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{':
				stack = append(stack, level{object: true, wantKey: true})
			case '[':
				stack = append(stack, level{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			n := len(stack)
			isKey := n > 0 && stack[n-1].object && stack[n-1].wantKey
			if !utf8.Valid(raw) {
				if isKey {
					return path(n-1) + " key", true
				}
				return path(n), true
			}
			if isKey {
				stack[n-1].key, stack[n-1].wantKey = tok, false
			} else {
				valueDone()
			}
		default:
			valueDone()
		}
	}
}

// wireNamesByType caches wireNamesOf per request type.
var wireNamesByType sync.Map // reflect.Type -> map[string]bool

// wireNamesOf is the JSON names of the fields of the request type t, at
// every depth. It is per type, so each request's own names decide what
// the decoder must not match by case: a list kept by hand would miss a
// request added later, and Go's decoder would then read a key such as
// "TargetEnvironmentName" as a field the authorization step never looked
// at.
func wireNamesOf(t reflect.Type) map[string]bool {
	if names, ok := wireNamesByType.Load(t); ok {
		return names.(map[string]bool)
	}
	names := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			names[name] = true
			walk(t.Field(i).Type)
		}
	}
	walk(t)
	wireNamesByType.Store(t, names)
	return names
}

// exactCaseKeys reports whether no object key in body matches one of the
// field names in names only case-insensitively (what Go's decoder would
// wrongly accept). It scans the bytes once without decoding; malformed
// JSON passes here and is reported by the decoder.
func exactCaseKeys(body []byte, names map[string]bool) bool {
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		start := i + 1
		escaped := false
		for i++; i < len(body); i++ {
			if body[i] == '\\' {
				escaped = true
				i++
				continue
			}
			if body[i] == '"' {
				break
			}
		}
		if i >= len(body) {
			return true
		}
		j := i + 1
		for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
			j++
		}
		if j >= len(body) || body[j] != ':' {
			continue // a string value, not a key
		}
		key := string(body[start:i])
		if escaped || !names[key] && foldsToName(names, key) {
			return false
		}
	}
	return true
}

func foldsToName(names map[string]bool, key string) bool {
	for name := range names {
		if strings.EqualFold(name, key) {
			return true
		}
	}
	return false
}

// exactKeys keeps, at every level of a decoded JSON value, only the object
// keys that are exactly the json names of t's fields.
func exactKeys(v any, t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch val := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return val
		}
		out := make(map[string]any, len(val))
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if fv, ok := val[name]; ok && name != "" && name != "-" {
				out[name] = exactKeys(fv, f.Type)
			}
		}
		return out
	case []any:
		if t.Kind() != reflect.Slice {
			return val
		}
		for i := range val {
			val[i] = exactKeys(val[i], t.Elem())
		}
	}
	return v
}

// pathParam unescapes one path segment once and checks it is a usable name.
func pathParam(c echo.Context, name string) (string, error) {
	v, err := url.PathUnescape(c.Param(name))
	if err != nil {
		return "", errBadEscape.with(name)
	}
	return v, checkName(name, v)
}

// scope reads the app and environment of a route under an environment.
func (s *Server) scope(c echo.Context) (appID, env string, err error) {
	if appID, err = pathParam(c, "appId"); err != nil {
		return
	}
	env, err = pathParam(c, "backendEnvironmentName")
	return
}

// checkName enforces what every app id, environment, resource name and
// job id must be: 1 to 255 bytes of valid UTF-8 without control
// characters, and neither "." nor "..".
//
// The signature covers the path with its dot segments and empty segments
// removed, as AWS's does, while routes match the path as sent: a signature
// for /backend/app/details also verifies for /backend/x/../app/details.
// A path that normalisation changes has a segment ".", ".." or "", which
// no route has as a fixed part, so it either matches no route or gives a
// parameter that value; refusing those here is what keeps a verified
// signature meaning the request it was made for. In a body the same names
// would make records no path could reach.
func checkName(field, v string) error {
	if v == "" {
		return errMissingField.with(field)
	}
	if v == "." || v == ".." {
		return errNameDots.with(field, v)
	}
	if len(v) > 255 {
		return errNameTooLong.with(field)
	}
	if !utf8.ValidString(v) {
		return errNameNotUTF8.with(field)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return errNameControl.with(field)
		}
	}
	return nil
}

func required(field string, v *string) (string, error) {
	if v == nil {
		return "", errMissingField.with(field)
	}
	return *v, checkName(field, *v)
}

// serviceName checks the only storage service the API knows.
func serviceName(field string, v *string) error {
	if v == nil {
		return errMissingField.with(field)
	}
	if *v != "S3" {
		return errServiceName.with(field, *v)
	}
	return nil
}

func permissions(field string, p *permissionsWire) (store.Permissions, error) {
	if p == nil {
		return store.Permissions{}, errMissingField.with(field)
	}
	if p.Authenticated == nil {
		return store.Permissions{}, errMissingField.with(field + ".authenticated")
	}
	auth, err := jobs.NormalizePermissions(field+".authenticated", *p.Authenticated)
	if err != nil {
		return store.Permissions{}, err
	}
	guest, err := jobs.NormalizePermissions(field+".unAuthenticated", p.UnAuthenticated)
	if err != nil {
		return store.Permissions{}, err
	}
	return store.Permissions{Authenticated: auth, Unauthenticated: guest}, nil
}

// bodyString is the top-level member name of a JSON object body as a
// string, as bodyFields and encoding/json would read it: "" when the body
// is not a JSON object, the member is absent or not a string, and the last
// of duplicate members wins. It reads the body once without building a map,
// which is what authorizing a call that names its environment in the body
// costs on every such call.
func bodyString(body []byte, name string) string {
	if !json.Valid(body) {
		return ""
	}
	i := skipJSONSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return ""
	}
	var found []byte
	for i = skipJSONSpace(body, i+1); i < len(body) && body[i] == '"'; {
		keyEnd := skipJSONValue(body, i)
		key := body[i:keyEnd]
		i = skipJSONSpace(body, keyEnd)
		i = skipJSONSpace(body, i+1) // the colon
		valueEnd := skipJSONValue(body, i)
		if jsonStringIs(key, name) {
			found = body[i:valueEnd]
		}
		i = skipJSONSpace(body, valueEnd)
		if i < len(body) && body[i] == ',' {
			i = skipJSONSpace(body, i+1)
		}
	}
	if len(found) == 0 || found[0] != '"' {
		return ""
	}
	if s, _, ok := plainJSONString(found, 0); ok {
		return string(s)
	}
	var v string
	_ = json.Unmarshal(found, &v)
	return v
}

// jsonStringIs reports whether the JSON string raw (quotes included)
// decodes to name.
func jsonStringIs(raw []byte, name string) bool {
	if s, _, ok := plainJSONString(raw, 0); ok {
		return string(s) == name
	}
	var v string
	return json.Unmarshal(raw, &v) == nil && v == name
}

// skipJSONValue returns the index just after the value starting at b[i],
// in a body json.Valid accepted.
func skipJSONValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
			if depth < 0 {
				return i
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}
