package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/datadir"
	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/keyring"
)

// keysDir is a data directory as the server leaves it: default and
// embedded-s3 keys.
func keysDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := loadOrCreateCredentials(dir, profileAPI, profileEmbedded); err != nil {
		t.Fatal(err)
	}
	return dir
}

// keys runs the keys command in process on dir, with stdin.
func keys(t *testing.T, dir, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := keysCommand{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		now: func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }}
	if len(args) > 0 {
		args = append(args, "--data-dir", dir)
	}
	err = c.run(context.Background(), args)
	return out.String(), errOut.String(), err
}

func mustKeys(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, _, err := keys(t, dir, "", args...)
	if err != nil {
		t.Fatalf("keys %v: %v", args, err)
	}
	return strings.TrimSpace(out)
}

func TestKeysCommand(t *testing.T) {
	t.Parallel()
	dir := keysDir(t)
	id := mustKeys(t, dir, "create", "team-a", "--app", "myapp", "--read-only", "--description", "Team A")
	r, err := keyring.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Profiles["team-a"].AccessKeyID != id || r.Kind("team-a") != "app myapp read-only" {
		t.Fatalf("created %s: %+v %s", id, r.Profiles["team-a"], r.Kind("team-a"))
	}
	list := mustKeys(t, dir, "list")
	for _, want := range []string{"team-a", id, "app myapp read-only", "2026-11-27T12:00:00Z", "Team A", "default", "administrator"} {
		if !strings.Contains(list, want) {
			t.Fatalf("list lacks %q:\n%s", want, list)
		}
	}
	for name, k := range r.Profiles {
		if strings.Contains(list, k.SecretAccessKey) {
			t.Fatalf("list shows the secret of %s", name)
		}
	}
	if strings.Contains(list, profileEmbedded) {
		t.Fatalf("list shows the embedded gateway's key as an API key:\n%s", list)
	}
	if show := mustKeys(t, dir, "show", "team-a"); !strings.Contains(show, `"Sid": "AppReadOnly"`) {
		t.Fatalf("show: %s", show)
	}
	if show := mustKeys(t, dir, "show", "default"); !strings.Contains(show, `"Sid": "Administrator"`) {
		t.Fatalf("show default: %s", show)
	}

	// Policies from a template, a file and stdin.
	if out := mustKeys(t, dir, "set-policy", "team-a", "--app", "myapp", "--env", "dev"); out != "team-a: environment myapp/dev storage" {
		t.Fatalf("set-policy: %s", out)
	}
	doc := filepath.Join(t.TempDir(), "policy.json")
	custom := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"amplifybackend:Delete*","Resource":"*"},{"Effect":"Allow","Action":"amplifybackend:*","Resource":"*"}]}`
	if err := os.WriteFile(doc, []byte(custom), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKeys(t, dir, "create", "ops", "--policy", doc)
	if _, _, err := keys(t, dir, custom, "create", "ops2", "--policy", "-"); err != nil {
		t.Fatal(err)
	}
	r, _ = keyring.Load(dir)
	if r.Kind("ops") != "custom policy" || r.Policy("ops2").Allows(access.Action("DeleteBackend"), "arn:x") || r.Entries["team-a"].Description != "Team A" {
		t.Fatalf("ops %s, ops2 %s, team-a %+v", r.Kind("ops"), r.Policy("ops2").Document(), r.Entries["team-a"])
	}

	// Rotation hands the new key over into another file, keeping its
	// other profiles.
	handed := filepath.Join(t.TempDir(), "team-credentials")
	theirs := "[mine]\naws_access_key_id = AKIDMINE\naws_secret_access_key = mine\n"
	if err := os.WriteFile(handed, []byte(theirs), 0o600); err != nil {
		t.Fatal(err)
	}
	newID := mustKeys(t, dir, "rotate", "team-a", "--credentials-file", handed, "--profile", "amp")
	got, err := credfile.Read(handed)
	if err != nil || newID == id || got["amp"].AccessKeyID != newID || got["mine"] != (credfile.Keys{AccessKeyID: "AKIDMINE", SecretAccessKey: "mine"}) {
		t.Fatalf("rotated to %s (was %s); handed over %+v %v", newID, id, got, err)
	}
	r, _ = keyring.Load(dir)
	if r.Profiles["team-a"] != got["amp"] || r.Kind("team-a") != "environment myapp/dev storage" {
		t.Fatalf("data dir has %+v, %s", r.Profiles["team-a"], r.Kind("team-a"))
	}

	if out := mustKeys(t, dir, "revoke", "team-a"); out != "revoked team-a "+newID {
		t.Fatalf("revoke: %s", out)
	}
	r, _ = keyring.Load(dir)
	if _, ok := r.Profiles["team-a"]; ok {
		t.Fatal("revoked key still in the credentials file")
	}
	if _, ok := r.Entries["team-a"]; ok {
		t.Fatal("revoked key's policy kept")
	}
}

// TestKeysCommandRefusals: each refusal names the field and the rule,
// exits 2 for a malformed command line and 1 otherwise, and changes
// nothing.
func TestKeysCommandRefusals(t *testing.T) {
	t.Parallel()
	dir := keysDir(t)
	mustKeys(t, dir, "create", "team-a", "--app", "myapp")
	readable := filepath.Join(t.TempDir(), "shared")
	if err := os.WriteFile(readable, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ownLink := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Join(dir, keyring.CredentialsFile), ownLink); err != nil {
		t.Fatal(err)
	}
	before := keyFiles(t, dir)
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{}, true, "name a subcommand"},
		{[]string{"frob"}, true, `no subcommand "frob"`},
		{[]string{"create"}, true, "takes one argument"},
		{[]string{"create", "x", "--admin", "--app", "a"}, true, "exactly one of --admin, --app APP, --policy FILE"},
		{[]string{"create", "x"}, true, "exactly one of"},
		{[]string{"create", "x", "--env", "dev", "--admin"}, true, "give --app APP too"},
		{[]string{"create", "x", "--env", "dev"}, true, "--env narrow --app; give --app APP too"},
		{[]string{"set-policy", "team-a", "--read-only"}, true, "--read-only and --env narrow --app; give --app APP too"},
		{[]string{"create", "x", "--app", "a", "--env", "dev", "--read-only"}, true, "--read-only and --env"},
		{[]string{"create", "x", "--admin", "--profile", "p"}, true, "give --credentials-file too"},
		{[]string{"revoke", "x", "--admin"}, true, "keys revoke does not take --admin"},
		{[]string{"list", "--bogus"}, true, "flag provided but not defined: -bogus"},
		{[]string{"create", "team-a", "--admin"}, false, `key "team-a" already exists`},
		{[]string{"create", "bad name", "--admin"}, false, `key name "bad name": use 1 to 64 letters`},
		{[]string{"create", "embedded-s3", "--admin"}, false, "embedded gateway's root key"},
		{[]string{"create", "x", "--policy", "-"}, false, `--policy -: the policy document is not a JSON object`},
		{[]string{"create", "x", "--policy", "/nonexistent/p.json"}, false, "--policy: open /nonexistent/p.json"},
		{[]string{"create", "x", "--admin", "--credentials-file", readable}, false, "--credentials-file: " + readable + " is readable by other users"},
		{[]string{"create", "x", "--admin", "--credentials-file", filepath.Join(t.TempDir(), "c"), "--profile", "a b"}, false, "--profile: key name"},
		{[]string{"create", "x", "--admin", "--credentials-file", filepath.Join(dir, keyring.CredentialsFile), "--profile", "team-a"}, false, "the data directory's own credentials file"},
		{[]string{"rotate", "team-a", "--credentials-file", ownLink}, false, "the data directory's own credentials file"},
		{[]string{"revoke", "default"}, false, `key "default" cannot be revoked: the default key is always an administrator`},
		{[]string{"revoke", "embedded-s3"}, false, "not an API key"},
		{[]string{"revoke", "nobody"}, false, `key "nobody": no such key`},
		{[]string{"rotate", "nobody"}, false, `key "nobody": no such key`},
		{[]string{"set-policy", "default", "--app", "a"}, false, "always an administrator"},
		{[]string{"show", "embedded-s3"}, false, "not an API key"},
	} {
		_, _, err := keys(t, dir, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, new(usageError)) != tc.usage {
			t.Errorf("keys %v: %v (usage error: %v), want %q (usage error: %v)", tc.args, err, errors.As(err, new(usageError)), tc.want, tc.usage)
		}
		if after := keyFiles(t, dir); after != before {
			t.Fatalf("keys %v changed the key files", tc.args)
		}
	}
	bad := `{"Statement":[{"Effect":"Allow","Action":"amplifybackend:CreateBackendStorage","Resource":"*"},{"Effect":"Maybe","Action":"*","Resource":"*"}]}`
	if _, _, err := keys(t, dir, bad, "create", "x", "--policy", "-"); err == nil || !strings.Contains(err.Error(), "Statement[1].Effect") {
		t.Fatalf("bad policy: %v", err)
	}
	if _, _, err := keys(t, filepath.Join(dir, "missing"), "", "list"); err == nil || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("missing data dir: %v", err)
	}
}

// TestKeysCommandOnABrokenSet: key files that do not load are refused by
// every subcommand, set-policy and revoke of the broken key included, so
// the refusal says to correct them by hand, after the file, key and rule.
func TestKeysCommandOnABrokenSet(t *testing.T) {
	t.Parallel()
	dir := keysDir(t)
	mustKeys(t, dir, "create", "reader", "--app", "myapp", "--read-only")
	broken := `{"keys":{"reader":{"policy":{"Statement":[{"Effect":"Allow","Action":"amplifybackend:Nope","Resource":"*"}]}}}}`
	if err := os.WriteFile(filepath.Join(dir, keyring.PoliciesFile), []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	before := keyFiles(t, dir)
	for _, args := range [][]string{{"list"}, {"show", "reader"}, {"set-policy", "reader", "--app", "myapp"}, {"revoke", "reader"}, {"create", "x", "--admin"}} {
		_, _, err := keys(t, dir, "", args...)
		if err == nil || !strings.Contains(err.Error(), `key "reader": Statement[0].Action[0] "amplifybackend:Nope"`) ||
			!strings.Contains(err.Error(), "correct that by hand") || strings.Contains(err.Error(), "\n") {
			t.Errorf("keys %v on a broken set: %v, want one line naming the key and rule and saying to correct it by hand", args, err)
		}
	}
	if keyFiles(t, dir) != before {
		t.Fatal("a refusal changed the key files")
	}
}

// TestKeysCreateWithoutPoliciesNamesTheAdministrators: a change that
// writes policies.json where there was none (it was lost, or the data
// directory predates policies) names the keys left without a policy, which
// are administrators from then on with no warning at the server's start;
// with the file there, nothing is said.
func TestKeysCreateWithoutPoliciesNamesTheAdministrators(t *testing.T) {
	t.Parallel()
	dir := keysDir(t)
	mustKeys(t, dir, "create", "team-a", "--app", "myapp")
	mustKeys(t, dir, "create", "ci", "--app", "myapp", "--env", "dev")
	if _, stderr, err := keys(t, dir, "", "create", "auditor", "--app", "myapp", "--read-only"); err != nil || strings.Contains(stderr, "warning") {
		t.Fatalf("create beside policies.json: %v, %q", err, stderr)
	}
	if err := os.Remove(filepath.Join(dir, keyring.PoliciesFile)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args   []string
		admins string
	}{
		{[]string{"create", "team-b", "--app", "other"}, "auditor, ci, team-a"},
		{[]string{"set-policy", "auditor", "--app", "myapp", "--read-only"}, "ci, team-a, team-b"},
	} {
		_, stderr, err := keys(t, dir, "", tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stderr, "keys "+tc.admins+" have no policy and are administrators") || !strings.Contains(stderr, "keys set-policy NAME") {
			t.Errorf("keys %v without policies.json: stderr %q, want keys %s named administrators and the way to limit them", tc.args, stderr, tc.admins)
		}
		if err := os.Remove(filepath.Join(dir, keyring.PoliciesFile)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := keyring.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Unscoped(); strings.Join(got, ",") != "auditor,ci,team-a,team-b" {
		t.Fatalf("unscoped after the changes: %v", got)
	}
}

func keyFiles(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, name := range []string{keyring.CredentialsFile, keyring.PoliciesFile} {
		raw, _ := os.ReadFile(filepath.Join(dir, name))
		b.Write(raw)
	}
	return b.String()
}

// TestAPIKeysFollowTheFiles: the server's keys change when the files do,
// with no signal: a new key is accepted with its own policy once two
// looks agree, a broken file keeps the keys in use and is tried once.
func TestAPIKeysFollowTheFiles(t *testing.T) {
	t.Parallel()
	dir := keysDir(t)
	cf, err := loadOrCreateCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := newAPIKeys(cf)
	log := slog.New(slog.DiscardHandler)
	last := keyring.Observe(dir)
	id := mustKeys(t, dir, "create", "reader", "--app", "myapp", "--read-only")
	k.poll(&last, log)
	if _, ok := lookupKey(k, id); ok {
		t.Fatal("a change was read at the first look, before it settled")
	}
	k.poll(&last, log)
	key, ok := lookupKey(k, id)
	env := access.Scope{Region: "us-east-1"}.Environment("myapp", "dev")
	if !ok || key.Name != "reader" || !key.Policy.Allows(access.Action("GetBackend"), env) || key.Policy.Allows(access.Action("DeleteBackend"), env) {
		t.Fatalf("new key: %v %+v", ok, key)
	}
	if admin, _ := lookupKey(k, cf.profiles[profileAPI].AccessKey); admin.Policy != access.Administrator || admin.Name != profileAPI {
		t.Fatalf("default key: %+v", admin)
	}
	if _, ok := lookupKey(k, cf.profiles[profileEmbedded].AccessKey); ok {
		t.Fatal("the embedded gateway's key signs API calls")
	}

	// A broken policies.json keeps the keys in use, and is tried once.
	if err := os.WriteFile(filepath.Join(dir, keyring.PoliciesFile), []byte(`{"keys":{"reader":{"policy":{}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		k.poll(&last, log)
	}
	if k.reloadFailed.Load() != 1 || !k.lastReloadFailed.Load() {
		t.Fatalf("failed reloads %d, last failed %v", k.reloadFailed.Load(), k.lastReloadFailed.Load())
	}
	if key, ok := lookupKey(k, id); !ok || key.Policy.Allows(access.Action("DeleteBackend"), env) {
		t.Fatalf("after a broken file: %v %+v", ok, key)
	}

	// Revoking (which rewrites the broken file) takes the key away.
	if err := os.Remove(filepath.Join(dir, keyring.PoliciesFile)); err != nil {
		t.Fatal(err)
	}
	mustKeys(t, dir, "revoke", "reader")
	k.poll(&last, log)
	k.poll(&last, log)
	if _, ok := lookupKey(k, id); ok || k.lastReloadFailed.Load() {
		t.Fatalf("revoked key still accepted (%v) or reload failed (%v)", ok, k.lastReloadFailed.Load())
	}
}

// TestAPIKeysSeeCredentialsMadeReadable: a credentials file others can
// read is refused at start, but a chmod changes neither its size, time
// nor inode, so a running server never looked again, served on, and
// refused to start at its next restart. The change is now a change: the
// reload fails (counted, logged, the keys in use kept), and chmod 600
// reloads.
func TestAPIKeysSeeCredentialsMadeReadable(t *testing.T) {
	t.Parallel()
	dir := keysDir(t)
	cf, err := loadOrCreateCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := newAPIKeys(cf)
	log := slog.New(slog.DiscardHandler)
	last := keyring.Observe(dir)
	path := filepath.Join(dir, keyring.CredentialsFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	k.poll(&last, log)
	k.poll(&last, log)
	if k.reloadFailed.Load() != 1 || !k.lastReloadFailed.Load() {
		t.Fatalf("credentials made readable by others: failed reloads %d, last failed %v", k.reloadFailed.Load(), k.lastReloadFailed.Load())
	}
	if _, ok := lookupKey(k, cf.profiles[profileAPI].AccessKey); !ok {
		t.Fatal("the keys in use were dropped")
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	k.poll(&last, log)
	k.poll(&last, log)
	if k.lastReloadFailed.Load() {
		t.Fatal("chmod 600 did not reload")
	}
}

// lookupKey is apiKeys.Lookup, which reads only memory and never fails.
func lookupKey(k *apiKeys, id string) (caller.Key, bool) {
	key, ok, _ := k.Lookup(context.Background(), id)
	return key, ok
}

// TestKeysRefuseADataDirWhoseKeysAreElsewhere: on the data directory of
// a server started with --keys-dir (its lock is there, no credentials),
// the keys command says to give --keys-dir instead of listing nothing or
// making a key the server never reads.
func TestKeysRefuseADataDirWhoseKeysAreElsewhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lock, err := datadir.Acquire(dir, "amplifybackendd, API on 127.0.0.1:8081")
	if err != nil {
		t.Fatal(err)
	}
	lock.Release()
	for _, args := range [][]string{{"list"}, {"create", "team", "--app", "myapp"}} {
		_, _, err := keys(t, dir, "", args...)
		if err == nil || !strings.Contains(err.Error(), "give --keys-dir DIR") {
			t.Errorf("keys %v on a data directory whose keys are elsewhere: %v", args, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, keyring.CredentialsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a credentials file was made in the data directory: %v", err)
	}
}
