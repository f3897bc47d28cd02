package keyring

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
)

var created = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// setup is a data directory with a default key and a read-only key for
// app "myapp".
func setup(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := Update(dir, func(r *Ring) error {
		r.SetKeys(Default, credfile.Keys{AccessKeyID: "AKABDEFAULT", SecretAccessKey: "sd"})
		r.SetKeys("reader", credfile.Keys{AccessKeyID: "AKABREADER", SecretAccessKey: "sr"})
		return r.SetEntry("reader", Entry{Policy: access.AppDocument("myapp", true), Description: "team", Created: created})
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestUpdateWritesBothFilesPrivate(t *testing.T) {
	t.Parallel()
	dir := setup(t)
	for _, name := range []string{CredentialsFile, PoliciesFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, st, err)
		}
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	reader := access.Scope{Region: "us-east-1"}.Environment("myapp", "dev")
	if !r.Policy("reader").Allows(access.Action("GetBackendStorage"), reader) || r.Policy("reader").Allows(access.Action("DeleteBackendStorage"), reader) {
		t.Fatal("the reader's policy is not its own")
	}
	if r.Policy(Default) != access.Administrator || r.Kind("reader") != "app myapp read-only" || r.Entries["reader"].Description != "team" {
		t.Fatalf("default %v, reader %q %+v", r.Policy(Default), r.Kind("reader"), r.Entries["reader"])
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestFailedUpdateWritesNothing(t *testing.T) {
	t.Parallel()
	dir := setup(t)
	before := snapshot(t, dir)
	err := Update(dir, func(r *Ring) error {
		r.SetKeys("x", credfile.Keys{AccessKeyID: "AKABX", SecretAccessKey: "x"})
		return r.SetEntry("x", Entry{Policy: []byte(`{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)})
	})
	if err == nil || !strings.Contains(err.Error(), "policy: ") {
		t.Fatalf("bad policy accepted: %v", err)
	}
	if after := snapshot(t, dir); after != before {
		t.Fatalf("a refused change was written:\n%s", after)
	}
}

// TestWriteOrder: a crash between the two files never leaves a key with
// more rights than it was given. A new key's policy is written before its
// secret (in between, it does not exist); a revoked key's secret goes
// before its policy (in between, it no longer exists).
func TestWriteOrder(t *testing.T) {
	t.Parallel()
	dir := setup(t)
	order := func(fn func(*Ring) error) []string {
		t.Helper()
		r, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := fn(r); err != nil {
			t.Fatal(err)
		}
		files, err := r.changes()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range files {
			names = append(names, f.name)
		}
		return names
	}
	created := order(func(r *Ring) error {
		r.SetKeys("x", credfile.Keys{AccessKeyID: "AKABX", SecretAccessKey: "x"})
		return r.SetEntry("x", Entry{Policy: access.AppDocument("a", true)})
	})
	revoked := order(func(r *Ring) error { r.Remove("reader"); return nil })
	if strings.Join(created, " ") != PoliciesFile+" "+CredentialsFile || strings.Join(revoked, " ") != CredentialsFile+" "+PoliciesFile {
		t.Fatalf("create writes %v, revoke writes %v", created, revoked)
	}
}

func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, name := range []string{CredentialsFile, PoliciesFile} {
		raw, _ := os.ReadFile(filepath.Join(dir, name))
		b.Write(raw)
	}
	return b.String()
}

func TestLoadRefusesWhatItCannotServe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, creds, policies, want string
	}{
		{"bad policy", "", `{"keys":{"reader":{"policy":{"Statement":{"Effect":"Allow","Action":"amplifybackend:Bogus","Resource":"*"}}}}}`,
			`key "reader": Statement[0].Action[0] "amplifybackend:Bogus"`},
		{"no policy", "", `{"keys":{"reader":{"description":"x"}}}`, `key "reader" has no "policy"`},
		{"default entry", "", `{"keys":{"default":{"policy":` + access.AdministratorDocument + `}}}`, "the default key is always an administrator"},
		{"unknown field", "", `{"keys":{"reader":{"policy":` + access.AdministratorDocument + `,"expires":"x"}}}`, `unknown field "expires"`},
		{"not json", "", `{"keys":`, "policies.json: unexpected EOF"},
		{"shared id", "\n[twin]\naws_access_key_id = AKABREADER\naws_secret_access_key = other\n", "", "profiles [reader] and [twin] have the same aws_access_key_id"},
		{"half a key", "\n[half]\naws_access_key_id = AKABHALF\n", "", "profile [half] needs both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := setup(t)
			if tc.creds != "" {
				appendFile(t, filepath.Join(dir, CredentialsFile), tc.creds)
			}
			if tc.policies != "" {
				if err := os.WriteFile(filepath.Join(dir, PoliciesFile), []byte(tc.policies), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadRefusesReadableCredentials(t *testing.T) {
	t.Parallel()
	dir := setup(t)
	if err := os.Chmod(filepath.Join(dir, CredentialsFile), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("readable credentials accepted: %v", err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestOrphanEntryIgnored(t *testing.T) {
	t.Parallel()
	dir := setup(t)
	err := Update(dir, func(r *Ring) error {
		r.creds, _ = credfile.RemoveProfile(r.creds, "reader")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.APIKeys()["reader"]; ok || len(r.Entries) != 1 {
		t.Fatalf("keys %v entries %v", r.APIKeys(), r.Entries)
	}
}

func TestWriteProfileKeepsTheRest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials")
	k := credfile.Keys{AccessKeyID: "AKABNEW", SecretAccessKey: "new"}
	if err := WriteProfile(path, "team", k); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new file: %v %v", st, err)
	}
	mine := "# mine\n[default]\naws_access_key_id = AKIDME\naws_secret_access_key = me\nregion = eu-west-1\n"
	if err := os.WriteFile(path, []byte(mine), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteProfile(path, "team", k); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(raw), mine) {
		t.Fatalf("other profiles changed:\n%s", raw)
	}
	if p, _ := credfile.Parse(strings.NewReader(string(raw))); p["team"] != k {
		t.Fatalf("profile not written: %+v", p)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteProfile(path, "team", credfile.Keys{AccessKeyID: "AKABOTHER", SecretAccessKey: "x"}); err == nil || !strings.Contains(err.Error(), "readable by other users") {
		t.Fatalf("world-readable file written: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(raw) {
		t.Fatal("a refused file was changed")
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	custom, _ := json.Marshal(map[string]any{"Statement": map[string]any{"Effect": "Allow", "Action": "amplifybackend:GetBackend", "Resource": "*"}})
	edited := strings.Replace(string(access.AppDocument("myapp", true)), `"amplifybackend:GetBackend",`, "", 1)
	for doc, want := range map[string]string{
		access.AdministratorDocument:                            "administrator",
		string(access.AppDocument("my/app", false)):             "app my/app full",
		string(access.AppDocument("myapp", true)):               "app myapp read-only",
		string(access.EnvironmentStorageDocument("a*b", "d%v")): "environment a*b/d%v storage",
		string(custom): "custom policy",
		edited:         "custom policy",
	} {
		if got := KindOf([]byte(doc)); got != want {
			t.Errorf("KindOf(%s) = %q, want %q", doc, got, want)
		}
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"team-a", "ci.deploy_2", "A"} {
		if err := ValidName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a b", "a]b", "[x", strings.Repeat("a", 65), "session:x"} {
		if err := ValidName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// BenchmarkLoad is one reload's reading of the key files with 1,000 keys,
// each with its own policy: what a server spends per change it notices.
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	err := Update(dir, func(r *Ring) error {
		for i := range 1000 {
			name := fmt.Sprintf("key-%04d", i)
			r.SetKeys(name, credfile.Keys{AccessKeyID: fmt.Sprintf("AKAB%016d", i), SecretAccessKey: "secret"})
			if err := r.SetEntry(name, Entry{Policy: access.AppDocument(name, i%2 == 0), Created: created}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// TestInitAllocatesAlmostNothing: every start of the binary, whatever the
// command, runs this package's initialisation, so it builds nothing there
// (a compiled name pattern once cost 60 KB and 861 allocations). The test
// binary is started again under the runtime's init trace, which reports
// what each package's initialisation allocated.
func TestInitAllocatesAlmostNothing(t *testing.T) {
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	prefix := "init " + reflect.TypeFor[Ring]().PkgPath() + " @"
	for line := range strings.Lines(string(out)) {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		// init PKG @0.1 ms, 0.01 ms clock, 304 bytes, 6 allocs
		fields := strings.Split(line, ", ")
		var bytes int
		if len(fields) != 4 {
			t.Fatalf("unexpected trace line %q", line)
		}
		if _, err := fmt.Sscanf(fields[2], "%d bytes", &bytes); err != nil {
			t.Fatalf("trace line %q: %v", line, err)
		}
		if bytes > 1024 {
			t.Errorf("initialising the package allocated %d bytes, want at most 1 KiB: %s", bytes, line)
		}
		return
	}
	t.Fatalf("no init trace of the package in:\n%s", out)
}
