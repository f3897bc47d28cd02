package main

import (
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/embedded"
)

// TestLimitsFlags checks the defaults, the environment fallback, and that
// a setting that would switch a bound off is refused naming the flag and
// the rule. Not parallel: it sets the environment.
func TestLimitsFlags(t *testing.T) {
	c, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := limits{readHeader: 10 * time.Second, read: 30 * time.Second, write: time.Minute, idle: time.Minute,
		s3Read: 10 * time.Minute, s3Write: 10 * time.Minute, bodyBudget: caller.DefaultBodyBudget, maxConns: DefaultMaxConnections}
	if c.limits != want {
		t.Fatalf("defaults %+v, want %+v", c.limits, want)
	}
	srv := c.limits.apiServer(nil)
	if srv.ReadHeaderTimeout != want.readHeader || srv.ReadTimeout != want.read || srv.WriteTimeout != want.write || srv.IdleTimeout != want.idle {
		t.Fatalf("API server timeouts %+v", srv)
	}
	s3, iam := c.limits.embedded()
	if s3 != (embedded.Timeouts{ReadHeader: 10 * time.Second, Read: 10 * time.Minute, Write: 10 * time.Minute, Idle: time.Minute}) ||
		iam != (embedded.Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: time.Minute, Idle: time.Minute}) {
		t.Fatalf("embedded timeouts S3 %+v, IAM %+v", s3, iam)
	}

	t.Setenv("AMPLIFYBACKENDD_IDLE_TIMEOUT", "5s")
	t.Setenv("AMPLIFYBACKENDD_REQUEST_BODY_BUDGET", "2097152")
	if c, err = parseConfig([]string{"--embedded-s3-read-timeout", "1h"}); err != nil {
		t.Fatal(err)
	}
	if c.limits.idle != 5*time.Second || c.limits.bodyBudget != 2<<20 || c.limits.s3Read != time.Hour {
		t.Fatalf("from the environment and flags: %+v", c.limits)
	}

	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--read-timeout", "0s"}, "--read-timeout must be a positive duration"},
		{[]string{"--idle-timeout", "-1s"}, "--idle-timeout must be a positive duration"},
		{[]string{"--embedded-s3-write-timeout", "0s"}, "--embedded-s3-write-timeout must be a positive duration"},
		{[]string{"--request-body-budget", "1000"}, "--request-body-budget must be at least 1048576 bytes"},
		{[]string{"--max-connections", "0"}, "--max-connections must be at least 1"},
	} {
		if _, err := parseConfig(tt.args); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%v: error %v, want one saying %q", tt.args, err, tt.msg)
		}
	}
}
