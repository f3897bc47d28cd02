package main

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRoleTemplatesThatShareRolesAreRefused: a template without {appId} or
// {env} would give several environments one role, and equal templates would
// give signed-in users and guests one role; each is refused at start,
// naming the flag (set by flag or by its environment variable).
func TestRoleTemplatesThatShareRolesAreRefused(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	wantRefusals(t, []refusal{
		{args: []string{"--auth-role-template", "amplify-{appId}-authRole"}, want: []string{"--auth-role-template", "{env}"}},
		{args: []string{"--unauth-role-template", "guests-{env}"}, want: []string{"--unauth-role-template", "{appId}"}},
		{env: map[string]string{"AMPLIFYBACKENDD_UNAUTH_ROLE_TEMPLATE": "shared-role"}, want: []string{"--unauth-role-template", "{appId} and {env}"}},
		{args: []string{"--auth-role-template", "r-{appId}-{env}", "--unauth-role-template", "R-{appId}-{env}"},
			want: []string{"--auth-role-template and --unauth-role-template must differ"}},
	})
	cfg, err := parseConfig([]string{"--auth-role-template", "{env}.{appId}.in", "--unauth-role-template", "{env}.{appId}.out"})
	if err != nil || cfg.authRole != "{env}.{appId}.in" {
		t.Fatalf("templates with both placeholders: %+v %v", cfg, err)
	}
}

// TestJobRetentionFlag: --job-retention and its environment variable set
// how long finished jobs are kept, 0 keeps them forever, and a negative
// duration is refused naming the flag and the rule.
func TestJobRetentionFlag(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	if c, err := parseConfig(nil); err != nil || jobRetention(c.jobRetention) != 30*24*time.Hour {
		t.Errorf("default retention %v (%v), want 720h", c.jobRetention, err)
	}
	if c, err := parseConfig([]string{"--job-retention", "0"}); err != nil || jobRetention(c.jobRetention) >= 0 {
		t.Errorf("--job-retention 0 gives %v (%v), want forever (negative)", jobRetention(c.jobRetention), err)
	}
	t.Setenv("AMPLIFYBACKENDD_JOB_RETENTION", "36h")
	if c, err := parseConfig(nil); err != nil || c.jobRetention != 36*time.Hour {
		t.Errorf("retention from the environment %v (%v), want 36h", c.jobRetention, err)
	}
	_, err := parseConfig([]string{"--job-retention", "-1h"})
	if err == nil || !strings.Contains(err.Error(), "--job-retention") || !strings.Contains(err.Error(), "positive") {
		t.Errorf("negative retention: %v, want a refusal naming --job-retention", err)
	}
}

// TestLogFormat: --log-format takes text or json, by flag or by its
// environment variable; anything else is refused at start, naming the flag
// and what it takes.
func TestLogFormat(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	if c, err := parseConfig(nil); err != nil || c.logFormat != "text" {
		t.Fatalf("default: %q %v", c.logFormat, err)
	}
	t.Setenv("AMPLIFYBACKENDD_LOG_FORMAT", "json")
	if c, err := parseConfig(nil); err != nil || c.logFormat != "json" {
		t.Fatalf("from the environment: %q %v", c.logFormat, err)
	}
	_, err := parseConfig([]string{"--log-format", "yaml"})
	if err == nil || !strings.Contains(err.Error(), "--log-format") || !strings.Contains(err.Error(), "text or json") {
		t.Fatalf("--log-format yaml: %v", err)
	}
}

// TestSignInTTLFlags: the sign-in TTLs default to 15 minutes and 8 hours,
// follow their environment variables, and refuse less than a second,
// naming the flag.
func TestSignInTTLFlags(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	if c, err := parseConfig(nil); err != nil || c.challengeTTL != 15*time.Minute || c.sessionTTL != 8*time.Hour {
		t.Errorf("defaults %v and %v (%v), want 15m and 8h", c.challengeTTL, c.sessionTTL, err)
	}
	t.Setenv("AMPLIFYBACKENDD_SIGN_IN_CHALLENGE_TTL", "2m")
	t.Setenv("AMPLIFYBACKENDD_SIGN_IN_SESSION_TTL", "1h")
	if c, err := parseConfig(nil); err != nil || c.challengeTTL != 2*time.Minute || c.sessionTTL != time.Hour {
		t.Errorf("from the environment %v and %v (%v), want 2m and 1h", c.challengeTTL, c.sessionTTL, err)
	}
	for _, flag := range []string{"--sign-in-challenge-ttl", "--sign-in-session-ttl"} {
		if _, err := parseConfig([]string{flag, "0s"}); err == nil || !strings.Contains(err.Error(), flag+" must be at least 1s") {
			t.Errorf("%s 0s: %v, want a refusal naming the flag", flag, err)
		}
	}
}

// TestAccountIDFlag: --account-id, by flag or by its environment variable,
// is the account of the ARNs key policies name; it defaults to twelve
// zeros, and anything but 12 digits is refused at start, naming the flag.
func TestAccountIDFlag(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	if c, err := parseConfig(nil); err != nil || c.accountID != "000000000000" {
		t.Fatalf("default: %q %v", c.accountID, err)
	}
	t.Setenv("AMPLIFYBACKENDD_ACCOUNT_ID", "111122223333")
	if c, err := parseConfig(nil); err != nil || c.accountID != "111122223333" {
		t.Fatalf("from the environment: %q %v", c.accountID, err)
	}
	for _, bad := range []string{"12345", "1111222233334", "11112222333a", "", "*"} {
		_, err := parseConfig([]string{"--account-id", bad})
		if err == nil || !strings.Contains(err.Error(), "--account-id") || !strings.Contains(err.Error(), "12 digits") {
			t.Errorf("--account-id %q: %v", bad, err)
		}
	}
}

// TestGuestAccessAndLogLevelFlags: --public-guest-access and --log-level
// are read with the other flags, so a value the server cannot use refuses
// the start (exit status 2) before anything is written to the data
// directory, naming the flag, what it takes and the value given.
func TestGuestAccessAndLogLevelFlags(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	wantRefusals(t, []refusal{
		{args: []string{"--public-guest-access", "maybe"}, want: []string{"--public-guest-access must be true, false or auto", `"maybe"`}},
		{env: map[string]string{"AMPLIFYBACKENDD_PUBLIC_GUEST_ACCESS": "yes please"}, want: []string{"--public-guest-access", `"yes please"`}},
		{args: []string{"--log-level", "verbose"}, want: []string{"--log-level must be debug, info, warn or error", `"verbose"`}},
		{env: map[string]string{"AMPLIFYBACKENDD_LOG_LEVEL": "loud"}, want: []string{"--log-level", `"loud"`}},
	})
	os.Unsetenv("AMPLIFYBACKENDD_PUBLIC_GUEST_ACCESS") // t.Setenv restores them
	os.Unsetenv("AMPLIFYBACKENDD_LOG_LEVEL")
	for _, v := range []string{"auto", "true", "false"} {
		if _, err := parseConfig([]string{"--public-guest-access", v}); err != nil {
			t.Errorf("--public-guest-access %s: %v", v, err)
		}
	}
	c, err := parseConfig([]string{"--log-level", "warn"})
	if err != nil || c.level != slog.LevelWarn {
		t.Errorf("--log-level warn: %v %v", c.level, err)
	}
	if c, err := parseConfig(nil); err != nil || c.level != slog.LevelInfo {
		t.Errorf("default log level: %v %v", c.level, err)
	}
}

// TestJobRunnerFlagsRefuseWhatTheyCannotMean: zero or less workers, retry
// attempts, job timeout or backoff, a negative bucket policy limit and an
// empty region are refused at start, naming the flag, the rule and the
// value, where the job runner used to put its default in their place
// unasked (--workers 0 ran 8 jobs at once).
func TestJobRunnerFlagsRefuseWhatTheyCannotMean(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	wantRefusals(t, []refusal{
		{args: []string{"--workers", "0"}, want: []string{"--workers must be at least 1, not 0"}},
		{args: []string{"--workers", "-3"}, want: []string{"--workers must be at least 1, not -3"}},
		{args: []string{"--retry-attempts", "0"}, want: []string{"--retry-attempts must be at least 1, not 0"}},
		{args: []string{"--bucket-policy-limit", "-5"}, want: []string{"--bucket-policy-limit must be at least 0, not -5"}},
		{args: []string{"--job-timeout", "0s"}, want: []string{"--job-timeout must be a positive duration, not 0s"}},
		{args: []string{"--job-timeout", "-1m"}, want: []string{"--job-timeout must be a positive duration, not -1m0s"}},
		{args: []string{"--retry-base", "0s"}, want: []string{"--retry-base must be a positive duration"}},
		{args: []string{"--retry-base", "30s"}, want: []string{"--retry-base (30s) must not be longer than --retry-max (15s)"}},
		{args: []string{"--retry-max", "-1s"}, want: []string{"--retry-max must be a positive duration"}},
		{args: []string{"--region", ""}, want: []string{"--region must name the target's region"}},
	})
	c, err := parseConfig([]string{"--workers", "1", "--retry-attempts", "1", "--job-timeout", "30s", "--bucket-policy-limit", "0"})
	if err != nil || c.workers != 1 || c.retry.Attempts != 1 || c.jobTimeout != 30*time.Second {
		t.Errorf("the least values that mean something: %+v %v", c, err)
	}
}

// TestEnvironmentValuesTheFlagCannotRead: an AMPLIFYBACKENDD_* variable
// of a boolean, number or duration flag that does not parse is refused,
// naming the variable, its flag and what it takes, where it used to be
// ignored without a word (AMPLIFYBACKENDD_DELETE_BUCKETS=yes kept every
// bucket); the flag on the command line still wins over it.
func TestEnvironmentValuesTheFlagCannotRead(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	wantRefusals(t, []refusal{
		{env: map[string]string{"AMPLIFYBACKENDD_DELETE_BUCKETS": "yes"}, want: []string{`AMPLIFYBACKENDD_DELETE_BUCKETS="yes" (--delete-buckets) must be true or false`}},
		{env: map[string]string{"AMPLIFYBACKENDD_JOB_TIMEOUT": "10"}, want: []string{`AMPLIFYBACKENDD_JOB_TIMEOUT="10" (--job-timeout) must be a duration`}},
		{env: map[string]string{"AMPLIFYBACKENDD_WORKERS": "four"}, want: []string{`AMPLIFYBACKENDD_WORKERS="four" (--workers) must be a whole number`}},
		{env: map[string]string{"AMPLIFYBACKENDD_REQUEST_BODY_BUDGET": "64MiB"}, want: []string{"AMPLIFYBACKENDD_REQUEST_BODY_BUDGET", "--request-body-budget"}},
		{env: map[string]string{"AMPLIFYBACKENDD_IDLE_TIMEOUT": "1 minute"}, want: []string{"AMPLIFYBACKENDD_IDLE_TIMEOUT", "--idle-timeout"}},
		{env: map[string]string{"AMPLIFYBACKENDD_ETCD_LEASE_TTL": "10"}, want: []string{"AMPLIFYBACKENDD_ETCD_LEASE_TTL", "--etcd-lease-ttl"}},
	})
	t.Setenv("AMPLIFYBACKENDD_WORKERS", "four")
	if c, err := parseConfig([]string{"--workers", "2"}); err != nil || c.workers != 2 {
		t.Errorf("--workers 2 over AMPLIFYBACKENDD_WORKERS=four: %d %v", c.workers, err)
	}
	t.Setenv("AMPLIFYBACKENDD_WORKERS", "")
	t.Setenv("AMPLIFYBACKENDD_DELETE_BUCKETS", "true")
	t.Setenv("AMPLIFYBACKENDD_JOB_TIMEOUT", "90s")
	if c, err := parseConfig(nil); err != nil || !c.deleteBuckets || c.jobTimeout != 90*time.Second || c.workers != 8 {
		t.Errorf("values that parse: %v %v %d %v", c.deleteBuckets, c.jobTimeout, c.workers, err)
	}
}

// TestRefusalsNameTheVariable: a value the server refuses names the
// AMPLIFYBACKENDD_* variable it came from, not only its flag, which is on
// no command line; a flag given on the command line is named alone.
func TestRefusalsNameTheVariable(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	wantRefusals(t, []refusal{
		{env: map[string]string{"AMPLIFYBACKENDD_WORKERS": "0"}, want: []string{`AMPLIFYBACKENDD_WORKERS="0": --workers must be at least 1, not 0`}},
		{env: map[string]string{"AMPLIFYBACKENDD_LOG_LEVEL": "chatty"}, want: []string{`AMPLIFYBACKENDD_LOG_LEVEL="chatty": --log-level must be`}},
		{env: map[string]string{"AMPLIFYBACKENDD_CHECK_STORE": "bogus"}, want: []string{`AMPLIFYBACKENDD_CHECK_STORE="bogus": --check-store:`}},
		{env: map[string]string{"AMPLIFYBACKENDD_REQUEST_BODY_BUDGET": "1000"}, want: []string{`AMPLIFYBACKENDD_REQUEST_BODY_BUDGET="1000": --request-body-budget must be`}},
		{env: map[string]string{"AMPLIFYBACKENDD_TLS_CERT": "x.pem"}, want: []string{`AMPLIFYBACKENDD_TLS_CERT="x.pem": --tls-cert and --tls-key`}},
	})
	t.Setenv("AMPLIFYBACKENDD_WORKERS", "3")
	_, err := parseConfig([]string{"--workers", "0"})
	if err == nil || strings.Contains(err.Error(), "AMPLIFYBACKENDD_") {
		t.Errorf("--workers 0 over AMPLIFYBACKENDD_WORKERS=3: %v, want the flag's refusal alone", err)
	}
}

// TestEmptyVariablesReadAsUnset: an AMPLIFYBACKENDD_* variable set to
// nothing leaves its flag's default, for string flags as for the others:
// AMPLIFYBACKENDD_LISTEN= served the API on every interface at a random
// port, and AMPLIFYBACKENDD_DATA_DIR= made the working folder the data
// directory.
func TestEmptyVariablesReadAsUnset(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	for _, v := range []string{"LISTEN", "DATA_DIR", "EMBEDDED_S3_LISTEN", "TARGET", "LOG_LEVEL", "CHECK_STORE", "ACCOUNT_ID", "STORE"} {
		t.Setenv("AMPLIFYBACKENDD_"+v, "")
	}
	c, err := parseConfig(nil)
	if err != nil {
		t.Fatalf("empty variables refused: %v", err)
	}
	if c.listen != "127.0.0.1:8080" || c.dataDir != "./data" || c.embeddedS3 != defaultS3Listen || c.accountID != "000000000000" || c.storeKind != storeBbolt {
		t.Errorf("empty variables taken as values: listen %q, data dir %q, embedded S3 %q, account %q, store %q", c.listen, c.dataDir, c.embeddedS3, c.accountID, c.storeKind)
	}
	if got := localEndpoint(); got != "http://127.0.0.1:8080" {
		t.Errorf("ready and backup with AMPLIFYBACKENDD_LISTEN= call %q", got)
	}
}

// TestConsoleOrigin: --console-origin takes a browser origin, by flag or by
// its environment variable; a URL with a path, or no scheme, is refused at
// start, naming the flag and the form it takes.
func TestConsoleOrigin(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	if c, err := parseConfig(nil); err != nil || c.consoleOrigin != "" {
		t.Fatalf("default: %q %v", c.consoleOrigin, err)
	}
	t.Setenv("AMPLIFYBACKENDD_CONSOLE_ORIGIN", "https://admin.example.com")
	if c, err := parseConfig(nil); err != nil || c.consoleOrigin != "https://admin.example.com" {
		t.Fatalf("from the environment: %q %v", c.consoleOrigin, err)
	}
	for _, bad := range []string{"admin.example.com", "https://admin.example.com/console/", "ftp://x", "https://", "https://a.example?x=1"} {
		_, err := parseConfig([]string{"--console-origin", bad})
		if err == nil || !strings.Contains(err.Error(), "--console-origin") || !strings.Contains(err.Error(), "scheme://host[:port]") {
			t.Errorf("--console-origin %q: %v", bad, err)
		}
	}
}

// TestStoreFlag: --store etcd needs an external target (explicit, or auto
// with an S3 endpoint) and --etcd-endpoints, and refuses what only a
// bbolt file has; --etcd-endpoints without --store etcd is refused rather
// than ignored. Each refusal names the flags; nothing is opened.
func TestStoreFlag(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	ext := []string{"--store", "etcd", "--target", "external"}
	wantRefusals(t, []refusal{
		{args: []string{"--store", "etcd", "--etcd-endpoints", "127.0.0.1:2379"}, want: []string{"--store etcd needs an external target", "--s3-endpoint", "amplifybackendd gateway"}},
		{args: []string{"--store", "etcd", "--target", "embedded", "--etcd-endpoints", "127.0.0.1:2379"}, want: []string{"--target external"}},
		{args: ext, want: []string{"--etcd-endpoints must name at least one"}},
		{args: append(ext, "--etcd-endpoints", "127.0.0.1:2379", "--accept-store-loss"), want: []string{"--accept-store-loss", "bbolt", "etcd"}},
		{args: []string{"--store", "sqlite"}, want: []string{"--store must be bbolt or etcd", `"sqlite"`}},
		{args: append(ext, "--etcd-endpoints", "ftp://127.0.0.1:2379"), want: []string{"--etcd-endpoints", `"ftp://127.0.0.1:2379"`, "http://host:port"}},
		{args: append(ext, "--etcd-endpoints", "127.0.0.1"), want: []string{"--etcd-endpoints", `"127.0.0.1"`, "host:port"}},
		{args: append(ext, "--etcd-endpoints", "127.0.0.1:2379", "--etcd-prefix", "/a b"), want: []string{"--etcd-prefix", "without spaces", `"/a b"`}},
		{args: append(ext, "--etcd-endpoints", "127.0.0.1:2379", "--etcd-prefix", "/a//b"), want: []string{"--etcd-prefix", "empty segments", `"/a//b"`}},
		{args: []string{"--etcd-endpoints", "127.0.0.1:2379"}, want: []string{"--etcd-endpoints is given but --store is bbolt"}},
		{env: map[string]string{"AMPLIFYBACKENDD_STORE": "etcd", "AMPLIFYBACKENDD_ETCD_ENDPOINTS": "127.0.0.1:2379"}, want: []string{"--store etcd needs an external target"}},
	})
	os.Unsetenv("AMPLIFYBACKENDD_STORE") // t.Setenv restores it
	if c, err := parseConfig(nil); err != nil || c.storeKind != storeBbolt {
		t.Fatalf("default store %q (%v), want bbolt", c.storeKind, err)
	}
	c, err := parseConfig([]string{"--store", "etcd", "--s3-endpoint", "http://127.0.0.1:9000", "--etcd-endpoints", "a:2379, b:2379", "--etcd-prefix", "/abd"})
	if err != nil || c.targetKind != "external" || strings.Join(c.etcdOptions.Endpoints, " ") != "a:2379 b:2379" || c.etcdOptions.Prefix != "/abd" {
		t.Fatalf("--store etcd with auto target and an S3 endpoint: %+v %v", c.etcdOptions, err)
	}
}

// refusal is a command line (flags, and environment variables) the
// server must refuse, and what the refusal must say.
type refusal struct {
	args []string
	env  map[string]string
	want []string
}

// wantRefusals checks that parseConfig refuses each case saying what it
// should; the environment variables are set for that case alone.
func wantRefusals(t *testing.T, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		_, err := parseConfig(c.args)
		for k := range c.env {
			t.Setenv(k, "")
		}
		if err == nil {
			t.Errorf("%v %v accepted", c.args, c.env)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v %v: %q does not say %q", c.args, c.env, err, w)
			}
		}
	}
}
