package handlers

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/caller"
)

// TestBodyBudgetComesBackAfterEachCall sends, one after another, calls
// whose bodies take most of a small body budget: each must find the
// budget whole again, so the middleware gives a body's share back when
// its call ends, whatever the answer.
func TestBodyBudgetComesBackAfterEachCall(t *testing.T) {
	t.Parallel()
	srv := New(Config{
		Buckets: noBuckets{}, Keys: caller.StaticKeys{sigTestKeyID: sigTestSecret},
		Now:        func() time.Time { return sigTestNow },
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		BodyBudget: 8 << 10,
	})
	body := []byte(`{"pad":"` + strings.Repeat("p", 6<<10) + `"}`)
	for i, path := range []string{"/s3Buckets", "/backend/app/storage", "/nope", "/s3Buckets"} {
		r := httptest.NewRequest(http.MethodPost, "http://api.example.com"+path, bytes.NewReader(body))
		signAs(t, r, body, sigTestCreds, "us-east-1", sigTestNow)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code == http.StatusTooManyRequests {
			t.Fatalf("call %d (%s): 429 %s: an earlier call kept its share of the budget", i, path, w.Body)
		}
	}
}
