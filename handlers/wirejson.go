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

func (v tokenResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"appId":`...)
	b = appendJSONString(b, v.AppID)
	if v.ChallengeCode != "" {
		b = append(b, `,"challengeCode":`...)
		b = appendJSONString(b, v.ChallengeCode)
	}
	b = append(b, `,"sessionId":`...)
	b = appendJSONString(b, v.SessionID)
	b = append(b, `,"ttl":`...)
	b = appendJSONString(b, v.TTL)
	return append(b, '}')
}

func (v deleteTokenResponse) appendJSON(b []byte) []byte {
	return append(strconv.AppendBool(append(b, `{"isSuccess":`...), v.IsSuccess), '}')
}

func (v wholeJobResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"appId":`...)
	b = appendJSONString(b, v.AppID)
	if v.BackendEnvironmentName != "" {
		b = append(b, `,"backendEnvironmentName":`...)
		b = appendJSONString(b, v.BackendEnvironmentName)
	}
	b = append(b, `,"jobId":`...)
	b = appendJSONString(b, v.JobID)
	b = append(b, `,"operation":`...)
	b = appendJSONString(b, v.Operation)
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
	if v.BackendEnvironmentName != "" {
		b = append(b, `,"backendEnvironmentName":`...)
		b = appendJSONString(b, v.BackendEnvironmentName)
	}
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
