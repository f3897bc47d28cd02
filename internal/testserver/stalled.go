package testserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
)

// StalledPair runs a gateway server A and a second server B that uses A's
// S3 and IAM as an external target through proxies the test can pause, so
// B's jobs can be held mid-flight on demand.
type StalledPair struct {
	GW, API  *Server
	s3p, iam *faultproxy.Proxy
}

// NewStalledPair starts both servers; B uses public guest access like the
// embedded default so anonymous checks mean the same on both. extra flags
// are B's (a metrics listener, say).
func NewStalledPair(t testing.TB, extra ...string) *StalledPair {
	t.Helper()
	gw := Start(t)
	s3p, err := faultproxy.New(strings.TrimPrefix(gw.S3, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	iamp, err := faultproxy.New(strings.TrimPrefix(gw.IAM, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3p.Close(); iamp.Close() })
	p := &StalledPair{GW: gw, s3p: s3p, iam: iamp}
	p.API = p.StartAPI(t, extra...)
	return p
}

// StartAPI starts another server like B, through the same proxies; extra
// flags are appended (a --data-dir of its own, say).
func (p *StalledPair) StartAPI(t testing.TB, extra ...string) *Server {
	t.Helper()
	api := StartEnv(t, []string{
		"AWS_ACCESS_KEY_ID=" + p.GW.S3Creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + p.GW.S3Creds.SecretAccessKey,
		"AMPLIFYBACKENDD_JOB_TIMEOUT=2m",
	}, append([]string{"--target", "external", "--s3-endpoint", p.s3p.URL(), "--iam-endpoint", p.iam.URL(), "--public-guest-access", "true"}, extra...)...)
	// B's embedded-s3 credentials do not exist; checks go through A.
	api.S3, api.IAM, api.S3Creds = p.GW.S3, p.GW.IAM, p.GW.S3Creds
	return api
}

// Pause stalls B's traffic to the target.
func (p *StalledPair) Pause() { p.s3p.Pause(); p.iam.Pause() }

// Resume lets it flow again.
func (p *StalledPair) Resume() { p.s3p.Resume(); p.iam.Resume() }

// Control serves POST /pause and /resume for a client scenario that must hold
// a job RUNNING (to cancel it) from outside the test process; it returns the
// control URL. The proxies are resumed when the test ends.
func (p *StalledPair) Control(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pause":
			p.Pause()
		case "/resume":
			p.Resume()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(p.Resume)
	return srv.URL
}
