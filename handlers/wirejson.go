package handlers

import (
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// Hand-written encoders for the answers of the frequent calls. c.JSON costs
// a reflective walk, an Encoder and its buffer per answer, as much as the
// rest of a signed read after the signature check. Each appendJSON writes
// exactly the bytes encoding/json writes for its type (field order, omitted
// fields, HTML-safe escaping); TestWireJSONMatchesEncodingJSON holds them to
// that. Rarely used answers still go through c.JSON.

// jsonAppender is a wire type that encodes itself.
type jsonAppender interface {
	appendJSON(dst []byte) []byte
}

// jsonBuffers recycles answer buffers; the ResponseWriter copies what it is
// given, so a buffer is free again once Write returns.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledJSON keeps the odd large answer from pinning its buffer.
const maxPooledJSON = 64 << 10

// writeJSON answers as c.JSON(status, v) does: same bytes (with Encoder's
// trailing newline), Content-Type unless one is set, status. c.JSON indents
// its answer in debug mode and when the query names "pretty"; any request
// with a query keeps going through it, as no API route takes one.
func writeJSON[T jsonAppender](c echo.Context, status int, v T) error {
	if indented(c) {
		return c.JSON(status, v)
	}
	bp := jsonBuffers.Get().(*[]byte)
	b := append(v.appendJSON((*bp)[:0]), '\n')
	err := writeEncoded(c, status, b)
	if cap(b) <= maxPooledJSON {
		*bp = b
		jsonBuffers.Put(bp)
	}
	return err
}

// indented reports whether c.JSON would indent the answer, so the hand
// encoders must leave it to c.JSON.
func indented(c echo.Context) bool {
	return c.Echo().Debug || c.Request().URL.RawQuery != ""
}

// writeEncoded answers with body, already encoded as c.JSON would have.
func writeEncoded(c echo.Context, status int, body []byte) error {
	resp := c.Response()
	if resp.Header().Get(echo.HeaderContentType) == "" {
		resp.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	resp.WriteHeader(status)
	_, err := resp.Write(body)
	return err
}

func (v jobAcceptedResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"appId":`...)
	b = appendJSONString(b, v.AppID)
	b = append(b, `,"backendEnvironmentName":`...)
	b = appendJSONString(b, v.BackendEnvironmentName)
	b = append(b, `,"jobId":`...)
	b = appendJSONString(b, v.JobID)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, v.Status)
	return append(b, '}')
}

func (v getStorageResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"appId":`...)
	b = appendJSONString(b, v.AppID)
	b = append(b, `,"backendEnvironmentName":`...)
	b = appendJSONString(b, v.BackendEnvironmentName)
	b = append(b, `,"resourceConfig":`...)
	b = v.ResourceConfig.appendJSON(b)
	b = append(b, `,"resourceName":`...)
	b = appendJSONString(b, v.ResourceName)
	return append(b, '}')
}

func (v getStorageResourceConfigWire) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if v.BucketName != "" {
		b = append(b, `"bucketName":`...)
		b = appendJSONString(b, v.BucketName)
		b = append(b, ',')
	}
	b = append(b, `"imported":`...)
	b = strconv.AppendBool(b, v.Imported)
	b = append(b, `,"permissions":`...)
	b = v.Permissions.appendJSON(b)
	b = append(b, `,"serviceName":`...)
	b = appendJSONString(b, v.ServiceName)
	return append(b, '}')
}

func (v permissionsWire) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if v.Authenticated != nil {
		b = append(b, `"authenticated":`...)
		b = appendJSONStrings(b, *v.Authenticated)
	}
	if len(v.UnAuthenticated) > 0 {
		if v.Authenticated != nil {
			b = append(b, ',')
		}
		b = append(b, `"unAuthenticated":`...)
		b = appendJSONStrings(b, v.UnAuthenticated)
	}
	return append(b, '}')
}

func (v jobWire) appendJSON(b []byte) []byte {
	b = append(b, `{"appId":`...)
	b = appendJSONString(b, v.AppID)
	b = append(b, `,"backendEnvironmentName":`...)
	b = appendJSONString(b, v.BackendEnvironmentName)
	if v.CreateTime != "" {
		b = append(b, `,"createTime":`...)
		b = appendJSONString(b, v.CreateTime)
	}
	if v.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, v.Error)
	}
	b = append(b, `,"jobId":`...)
	b = appendJSONString(b, v.JobID)
	if v.Operation != "" {
		b = append(b, `,"operation":`...)
		b = appendJSONString(b, v.Operation)
	}
	if v.Status != "" {
		b = append(b, `,"status":`...)
		b = appendJSONString(b, v.Status)
	}
	if v.UpdateTime != "" {
		b = append(b, `,"updateTime":`...)
		b = appendJSONString(b, v.UpdateTime)
	}
	if len(v.Warnings) > 0 {
		b = append(b, `,"warnings":`...)
		b = appendJSONStrings(b, v.Warnings)
	}
	return append(b, '}')
}

func (v listJobsResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"jobs":`...)
	if v.Jobs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, j := range v.Jobs {
			if i > 0 {
				b = append(b, ',')
			}
			b = j.appendJSON(b)
		}
		b = append(b, ']')
	}
	if v.NextToken != "" {
		b = append(b, `,"nextToken":`...)
		b = appendJSONString(b, v.NextToken)
	}
	return append(b, '}')
}

// appendJSONStrings encodes a []string as encoding/json does, nil as null.
func appendJSONStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString quotes s as encoding/json does by default: '"' and '\\'
// escaped, control characters as \b \f \n \r \t or \u00XX, '<', '>' and '&'
// as \u00XX (HTML-safe), invalid UTF-8 as \ufffd, and U+2028 and U+2029 as
// \u2028 and \u2029.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
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
