package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestDotNamesRefused: ".", ".." and "" are refused as every name, in the
// path or the body, with a 400 naming the field, and change nothing. In a
// path they arrive as botocore sends them (/backend/./details), signed for
// the normalised path, so the signature verifies and the name is what is
// refused; percent-encoded dots are the same names.
func TestDotNamesRefused(t *testing.T) {
	t.Parallel()
	h, st, _ := benchServer(t)
	tests := []struct {
		field, method, path, body string
	}{
		{"appId", http.MethodPost, "/backend/./details", `{}`},
		{"appId", http.MethodPost, "/backend/../storage/dev/details", `{"resourceName":"data"}`},
		{"appId", http.MethodPost, "/backend/%2E%2E/storage", `{"backendEnvironmentName":"dev","resourceName":"r","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":[]}}}`},
		{"appId", http.MethodPost, "/backend//details", `{}`},
		{"backendEnvironmentName", http.MethodPost, "/backend/app/storage/../details", `{"resourceName":"data"}`},
		{"backendEnvironmentName", http.MethodPost, "/backend/app/storage/./remove", `{"resourceName":"data","serviceName":"S3"}`},
		{"backendEnvironmentName", http.MethodPost, "/backend/app/storage/%2e", `{"resourceName":"data","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":[]}}}`},
		{"backendEnvironmentName", http.MethodPost, "/backend/app/storage/../import", `{"bucketName":"some-bucket","serviceName":"S3"}`},
		{"backendEnvironmentName", http.MethodGet, "/backend/app/job/./00000000-0000-0000-0000-000000000000", ``},
		{"backendEnvironmentName", http.MethodPost, "/backend/app/job/..", `{}`},
		{"jobId", http.MethodGet, "/backend/app/job/dev/.", ``},
		{"jobId", http.MethodPost, "/backend/app/job/dev/..", `{"status":"CANCELLED"}`},
		{"resourceName", http.MethodGet, "/console-api/apps/app/environments/dev/storage/../policies", ``},

		{"backendEnvironmentName", http.MethodPost, "/backend/app/storage", `{"backendEnvironmentName":"..","resourceName":"r","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":[]}}}`},
		{"resourceName", http.MethodPost, "/backend/app/storage", `{"backendEnvironmentName":"dev","resourceName":".","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":[]}}}`},
		{"resourceName", http.MethodPost, "/backend/app/storage", `{"backendEnvironmentName":"dev","resourceName":"","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":[]}}}`},
		{"resourceName", http.MethodPost, "/backend/app/storage/dev/details", `{"resourceName":".."}`},
		{"resourceName", http.MethodPost, "/backend/app/storage/dev", `{"resourceName":".","resourceConfig":{"serviceName":"S3","permissions":{"authenticated":["READ"]}}}`},
		{"resourceName", http.MethodPost, "/backend/app/storage/dev/remove", `{"resourceName":"..","serviceName":"S3"}`},
		{"backendEnvironmentName", http.MethodPost, "/backend/app/details", `{"backendEnvironmentName":"."}`},
	}
	for _, tt := range tests {
		before := storeState(t, st)
		req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		signAs(t, req, []byte(tt.body), fuzzCreds, "us-east-1", time.Now())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var doc errorBody
		_ = json.Unmarshal(w.Body.Bytes(), &doc)
		if w.Code != http.StatusBadRequest || doc.Type != BadRequest || !strings.Contains(doc.Message, tt.field) {
			t.Errorf("%s %s %s: %d %s; want 400 BadRequestException naming %s", tt.method, tt.path, tt.body, w.Code, w.Body, tt.field)
		}
		if after := storeState(t, st); after != before {
			t.Errorf("%s %s %s was refused but changed the store", tt.method, tt.path, tt.body)
		}
	}
}
