package s3iam_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/amplifybackendd/amplifybackendd/metrics"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
)

// TestCallsAreCounted: with Config.Metrics, each SDK call is counted once
// under its service and operation, with its outcome (success, or the class
// of its error), and timed.
func TestCallsAreCounted(t *testing.T) {
	e := setup(t)
	m := metrics.New()
	tgt, err := s3iam.New(e.ctx, s3iam.Config{S3Endpoint: gw.S3Endpoint, IAMEndpoint: gw.IAMEndpoint,
		AccessKey: rootAccess, SecretKey: rootSecret, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if ok, err := tgt.HeadBucket(e.ctx, e.bucket); !ok || err != nil {
			t.Fatalf("HeadBucket: %v %v", ok, err)
		}
	}
	_, _ = tgt.RolePolicy(e.ctx, uniqueName(t, "missing"), "p") // NoSuchEntity: a permanent answer

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, metrics.Path, nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range families["amplifybackendd_target_requests_total"].GetMetric() {
		l := map[string]string{}
		for _, p := range s.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		got[l["service"]+" "+l["operation"]+" "+l["outcome"]] = s.GetCounter().GetValue()
	}
	want := map[string]float64{"s3 HeadBucket success": 2, "iam GetRolePolicy permanent": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s counted %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("calls counted %v, want only %v", got, want)
	}
	timed := families["amplifybackendd_target_request_duration_seconds"].GetMetric()
	if len(timed) != 2 {
		t.Errorf("%d operations timed, want 2", len(timed))
	}
}
