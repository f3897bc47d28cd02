package main

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentialsGeneratedOnceAndPrivate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := loadOrCreateCredentials(dir, profileAPI, profileEmbedded)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(first.path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode: %v %v", st.Mode(), err)
	}
	api := first.profiles[profileAPI]
	if len(api.AccessKey) != 20 || len(api.SecretKey) != 40 || api == first.profiles[profileEmbedded] {
		t.Fatalf("keys: %+v", first.profiles)
	}
	raw, _ := os.ReadFile(first.path)
	for _, want := range []string{"[default]", "[embedded-s3]", "aws_access_key_id = " + api.AccessKey} {
		if !strings.Contains(string(raw), want) {
			t.Fatalf("file lacks %q:\n%s", want, raw)
		}
	}
	again, err := loadOrCreateCredentials(dir, profileAPI, profileEmbedded)
	if err != nil || again.profiles[profileAPI] != api {
		t.Fatalf("second start changed the keys: %+v %v", again.profiles, err)
	}
}

func TestCredentialsReadableByOthersRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := loadOrCreateCredentials(dir, profileAPI); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "credentials"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateCredentials(dir, profileAPI); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable credentials accepted: %v", err)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv("AMPLIFYBACKENDD_LISTEN", "127.0.0.1:1234")
	t.Setenv("AMPLIFYBACKENDD_WORKERS", "3")
	t.Setenv("AMPLIFYBACKENDD_METRICS_LISTEN", "127.0.0.1:9090")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	c, err := parseConfig(nil)
	if err != nil || c.listen != "127.0.0.1:1234" || c.workers != 3 || c.targetKind != "embedded" || c.metricsListen != "127.0.0.1:9090" {
		t.Fatalf("%+v %v", c, err)
	}
	c, err = parseConfig([]string{"--listen", "127.0.0.1:5", "--s3-endpoint", "http://127.0.0.1:7"})
	if err != nil || c.listen != "127.0.0.1:5" || c.targetKind != "external" {
		t.Fatalf("flags over env: %+v %v", c, err)
	}
	if _, err := parseConfig([]string{"--target", "cloud"}); err == nil {
		t.Fatal("bad --target accepted")
	}
	if _, err := parseConfig([]string{"key", "list"}); err == nil || !strings.Contains(err.Error(), `unexpected argument "key"`) || !strings.Contains(err.Error(), "keys") {
		t.Fatalf("a mistyped command would start a server: %v", err)
	}
}

// TestServerWrongFlagIsOneLine: a mistyped server flag is refused as a
// wrong command line naming it, without the usage of every flag around
// it; --help still prints that usage.
func TestServerWrongFlagIsOneLine(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfigTo([]string{"--lisen", "127.0.0.1:8081"}, &out)
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "-lisen (amplifybackendd -h lists the flags)") || out.Len() != 0 {
		t.Fatalf("a wrong flag: %v; printed:\n%s", err, out.String())
	}
}

// TestHelpNamesTheCommands: --help is where a new user looks first, so it
// names every command (keys among them) before the server's flags.
func TestHelpNamesTheCommands(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseConfigTo([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	head, _, _ := strings.Cut(out.String(), "\n  -")
	for name := range commands {
		if !strings.Contains(head, name) {
			t.Errorf("--help does not name the %s command before the flags:\n%s", name, out.String())
		}
	}
}

// TestCredentialsEmptiedAreReplacedLoudly: a credentials file that lost its
// keys (emptied, cut short) gets new ones at start, and the start says
// which profiles were replaced and where; a first start, with no file,
// replaces nothing.
func TestCredentialsEmptiedAreReplacedLoudly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := loadOrCreateCredentials(dir, profileAPI, profileEmbedded)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	first.warnReplaced(slog.New(slog.NewTextHandler(&logs, nil)))
	if logs.Len() != 0 {
		t.Fatalf("a first start warned: %s", logs.String())
	}
	if err := os.WriteFile(first.path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := loadOrCreateCredentials(dir, profileAPI, profileEmbedded)
	if err != nil {
		t.Fatal(err)
	}
	if again.profiles[profileAPI] == first.profiles[profileAPI] {
		t.Fatal("an emptied credentials file kept its keys?")
	}
	again.warnReplaced(slog.New(slog.NewTextHandler(&logs, nil)))
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "profiles=default,embedded-s3") ||
		!strings.Contains(l, first.path) || !strings.Contains(l, "clients holding the old ones are refused") {
		t.Fatalf("keys replaced in an emptied credentials file without a warning naming them and the file: %q", l)
	}
}

// TestCredentialsNotAFile: a directory where the credentials file should be
// is named as such, not as a file readable by others.
func TestCredentialsNotAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "credentials"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := loadOrCreateCredentials(dir, profileAPI)
	if err == nil || !strings.Contains(err.Error(), "is not a file but a directory") || strings.Contains(err.Error(), "chmod") {
		t.Fatalf("a directory for the credentials file: %v", err)
	}
}
