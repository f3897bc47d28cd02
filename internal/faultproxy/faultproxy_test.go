package faultproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPauseStallsAndResumeDelivers(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") }))
	defer backend.Close()
	p, err := New(strings.TrimPrefix(backend.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	get := func() (string, error) {
		resp, err := http.Get(p.URL())
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get(); err != nil || body != "pong" {
		t.Fatalf("through the proxy: %q %v", body, err)
	}
	p.Pause()
	done := make(chan string, 1)
	go func() { body, _ := get(); done <- body }()
	select {
	case body := <-done:
		t.Fatalf("request went through a paused proxy: %q", body)
	case <-p.Stalled(): // held at the gate: it cannot go on until Resume
	}
	select {
	case body := <-done:
		t.Fatalf("request went through a paused proxy: %q", body)
	default:
	}
	p.Resume()
	if body := <-done; body != "pong" {
		t.Fatalf("after resume: %q", body)
	}
}
