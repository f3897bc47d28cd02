package handlers

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
)

// TestListS3BucketsWhenTheTargetFails puts the fault proxy where the
// storage target would be and calls ListS3Buckets through the real router
// and the real S3 client: a target that throttles is answered 429 with
// limitType TargetRequestRate, one that fails, refuses connections or does
// not answer in time is answered 504; never a 500, and never the target's
// own words or address.
func TestListS3BucketsWhenTheTargetFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     faultproxy.Fault
		status    int
		typ       string
		limitType string
	}{
		{name: "503 SlowDown", fault: faultproxy.Fault{Kind: faultproxy.Status, Status: 503, Code: "SlowDown"},
			status: 429, typ: TooManyRequests, limitType: TargetRateLimit},
		{name: "400 Throttling", fault: faultproxy.Fault{Kind: faultproxy.Status, Status: 400, Code: "Throttling"},
			status: 429, typ: TooManyRequests, limitType: TargetRateLimit},
		{name: "500 InternalError", fault: faultproxy.Fault{Kind: faultproxy.Status, Status: 500, Code: "InternalError"},
			status: 504, typ: GatewayTimeout},
		{name: "403 AccessDenied", fault: faultproxy.Fault{Kind: faultproxy.Status, Status: 403, Code: "AccessDenied"},
			status: 504, typ: GatewayTimeout},
		{name: "connections refused", fault: faultproxy.Fault{Kind: faultproxy.Refuse},
			status: 504, typ: GatewayTimeout},
		// Held until the call's deadline gives up on it.
		{name: "stalled", fault: faultproxy.Fault{Kind: faultproxy.Stall, Delay: time.Hour},
			status: 504, typ: GatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// No request gets past the proxy, so nothing need listen behind it.
			proxy, err := faultproxy.NewHTTP("http://127.0.0.1:1")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { proxy.Close() })
			if err := proxy.Set(tt.fault); err != nil {
				t.Fatal(err)
			}
			target, err := s3iam.New(context.Background(), s3iam.Config{Region: "us-east-1", S3Endpoint: proxy.URL(), IAMEndpoint: proxy.URL(),
				AccessKey: "AKIDTARGET", SecretKey: "target-secret"})
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Buckets: target, Keys: caller.StaticKeys{sigTestKeyID: sigTestSecret}, Now: func() time.Time { return sigTestNow },
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if tt.fault.Kind == faultproxy.Stall {
				cfg.TargetTimeout = 100 * time.Millisecond
			}
			r := httptest.NewRequest(http.MethodPost, "http://api.example.com/s3Buckets", strings.NewReader(`{}`))
			signAs(t, r, []byte(`{}`), sigTestCreds, "us-east-1", sigTestNow)
			w := httptest.NewRecorder()
			New(cfg).ServeHTTP(w, r)

			var doc errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("answer is not JSON: %q", w.Body)
			}
			if w.Code != tt.status || w.Header().Get("X-Amzn-ErrorType") != tt.typ || doc.Type != tt.typ || doc.LimitType != tt.limitType {
				t.Fatalf("%d %s, want %d %s with limitType %q", w.Code, w.Body, tt.status, tt.typ, tt.limitType)
			}
			if strings.Contains(doc.Message, "127.0.0.1") || strings.Contains(doc.Message, tt.fault.Code+":") || strings.Contains(doc.Message, "injected") {
				t.Errorf("the answer repeats the target's words or address: %q", doc.Message)
			}
			if tt.fault.Kind != faultproxy.Refuse && proxy.Injected.Load() == 0 {
				t.Error("no fault was injected")
			}
		})
	}
}

// TestAppJobNamesNoEnvironment: RemoveAllBackends' job belongs to the app,
// so its GetBackendJob and UpdateBackendJob answers leave
// backendEnvironmentName out, as its acceptance does, rather than send an
// empty name a client would read as an environment called "".
func TestAppJobNamesNoEnvironment(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t)
	w := s.call(t, keyAdmin, "POST", "/backend/app2/remove", `{}`)
	if w.Code != http.StatusOK {
		t.Fatalf("RemoveAllBackends: %d %s", w.Code, w.Body)
	}
	var accepted map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &accepted); err != nil {
		t.Fatal(err)
	}
	id, _ := accepted["jobId"].(string)
	for _, c := range []struct{ method, body string }{
		{"GET", ""},
		{"POST", `{"operation":"RemoveAllBackends","status":"CANCELLED"}`},
	} {
		w := s.call(t, keyAdmin, c.method, "/backend/app2/job/dev/"+id, c.body)
		var job map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &job); w.Code != http.StatusOK || err != nil {
			t.Fatalf("%s job: %d %s", c.method, w.Code, w.Body)
		}
		if v, ok := job["backendEnvironmentName"]; ok || job["operation"] != "RemoveAllBackends" || job["appId"] != "app2" {
			t.Fatalf("%s job names environment %q: %s", c.method, v, w.Body)
		}
	}
}
