package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProbes: /readyz answers from Config.Ready, with the reason when not
// ready; /healthz is liveness and stays 200 meanwhile. Both are unsigned,
// and each is logged (and counted) under an operation of its own, not as
// Unknown, which is for paths no route matches.
func TestProbes(t *testing.T) {
	t.Parallel()
	var reason error
	var logs bytes.Buffer // ServeHTTP runs each request to its end before the next
	e := New(Config{
		Ready:  func(context.Context) error { return reason },
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	get := func(path string) (int, string) {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code, strings.TrimSpace(w.Body.String())
	}
	reason = errors.New("the target has not answered yet")
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || body != `{"message":"the target has not answered yet","status":"unavailable"}` {
		t.Errorf("readyz while not ready: %d %s", code, body)
	}
	if code, body := get("/healthz"); code != http.StatusOK || body != `{"status":"ok"}` {
		t.Errorf("healthz while not ready: %d %s", code, body)
	}
	reason = nil
	if code, body := get("/readyz"); code != http.StatusOK || body != `{"status":"ok"}` {
		t.Errorf("readyz when ready: %d %s", code, body)
	}
	for _, want := range []string{"path=/readyz operation=Readyz status=503", "path=/healthz operation=Healthz status=200", "path=/readyz operation=Readyz status=200"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the request log has no line with %q:\n%s", want, logs.String())
		}
	}
}
