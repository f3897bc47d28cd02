package faultproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestLogRecordsOperationsAndOutcomes: the log names each request's
// operation (an S3 path and query, an IAM form's Action) and what became of
// it, and the backend still gets the body the log read.
func TestLogRecordsOperationsAndOutcomes(t *testing.T) {
	t.Parallel()
	got := make(chan string, 4)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- string(body)
		if r.Method == http.MethodPut {
			w.WriteHeader(http.StatusConflict)
		}
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	p, err := NewHTTP(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// Before KeepLog nothing is kept.
	mustDo(t, http.MethodGet, p.URL()+"/before", "", "")
	<-got
	p.KeepLog()
	mustDo(t, http.MethodPut, p.URL()+"/my-bucket?policy", "", "{}")
	<-got
	form := url.Values{"Action": {"PutRolePolicy"}, "RoleName": {"r"}, "PolicyDocument": {`{"Statement":[]}`}}.Encode()
	mustDo(t, http.MethodPost, p.URL()+"/", "application/x-www-form-urlencoded", form)
	if b := <-got; b != form {
		t.Fatalf("backend got %q, want the whole form %q", b, form)
	}

	// A request a Stall holds and whose client gives up is never forwarded.
	if err := p.Set(Fault{Kind: Stall, Delay: time.Hour, Count: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/held", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, func() bool { return len(p.Requests()) == 3 })
	cancel()
	<-done
	waitFor(t, func() bool { return p.Requests()[2].Done })

	log := p.Requests()
	if len(log) != 3 {
		t.Fatalf("log has %d entries, want 3: %+v", len(log), log)
	}
	if r := log[0]; r.Method != http.MethodPut || r.Bucket() != "my-bucket" || !r.Query.Has("policy") || r.Form != nil ||
		!r.Forwarded || r.Status != http.StatusConflict || !r.Done {
		t.Errorf("S3 request logged as %+v", r)
	}
	if r := log[1]; r.Form.Get("Action") != "PutRolePolicy" || r.Form.Get("RoleName") != "r" || r.Status != http.StatusOK || !r.Forwarded {
		t.Errorf("IAM request logged as %+v", r)
	}
	if r := log[2]; r.Path != "/held" || r.Forwarded || r.Status != 0 {
		t.Errorf("abandoned request logged as %+v", r)
	}
}

// TestDropCutsTheAnswerWhileLogging: a logging proxy still cuts the
// connection mid-answer, and logs the status it let through.
func TestDropCutsTheAnswerWhileLogging(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 1000))
	}))
	defer backend.Close()
	p, err := NewHTTP(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.KeepLog()
	if err := p.Set(Fault{Kind: Drop, Count: 1}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(p.URL() + "/b/k")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("the answer arrived whole through a dropping proxy")
	}
	waitFor(t, func() bool { return p.Requests()[0].Done })
	if r := p.Requests()[0]; r.Status != http.StatusOK || !r.Forwarded {
		t.Errorf("dropped request logged as %+v", r)
	}
}

func mustDo(t *testing.T, method, u, ctype, body string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// waitFor polls cond, which reads the proxy's own record; the pause paces
// the polling and orders nothing.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
