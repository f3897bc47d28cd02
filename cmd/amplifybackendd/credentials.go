package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/keyring"
)

// Profile names in <data-dir>/credentials.
const (
	profileAPI      = keyring.Default
	profileEmbedded = keyring.Embedded
)

type keyPair struct{ AccessKey, SecretKey string }

// credentialsFile is <data-dir>/credentials, in the AWS shared-credentials
// format so boto3 and the AWS CLI read it as is, with the policies beside
// it (package keyring).
type credentialsFile struct {
	path     string
	profiles map[string]keyPair
	ring     *keyring.Ring
	// replaced are the profiles of want that a credentials file already
	// there lacked (emptied, cut short, edited), so new keys were made:
	// the clients holding the old ones are refused from now on, which the
	// server says at start rather than leave them to find out.
	replaced []string
}

// loadOrCreateCredentials reads the key files, generating any missing
// profile in want and writing the credentials file (mode 0600) when it
// changed. A credentials file other users can read is refused: it holds
// the keys to the whole API; so is a policy that does not parse.
func loadOrCreateCredentials(dir string, want ...string) (*credentialsFile, error) {
	var ring *keyring.Ring
	var replaced []string
	err := keyring.Update(dir, func(r *keyring.Ring) error {
		_, statErr := os.Lstat(filepath.Join(dir, keyring.CredentialsFile))
		for _, p := range want {
			if _, ok := r.Profiles[p]; ok {
				continue
			}
			if statErr == nil {
				replaced = append(replaced, p)
			}
			kp, err := newKeyPair()
			if err != nil {
				return err
			}
			r.SetKeys(p, credfile.Keys{AccessKeyID: kp.AccessKey, SecretAccessKey: kp.SecretKey})
		}
		ring = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	cf := &credentialsFile{path: filepath.Join(dir, keyring.CredentialsFile), profiles: map[string]keyPair{}, ring: ring, replaced: replaced}
	for name, k := range ring.Profiles {
		cf.profiles[name] = keyPair{AccessKey: k.AccessKeyID, SecretKey: k.SecretAccessKey}
	}
	return cf, nil
}

// warnReplaced logs the profiles the credentials file lacked and got new
// keys for.
func (cf *credentialsFile) warnReplaced(log *slog.Logger) {
	if len(cf.replaced) == 0 {
		return
	}
	log.Warn("the credentials file had no key for these profiles (emptied, cut short or edited?): new keys were made, and clients holding the old ones are refused; "+
		"if it was lost, stop the server and put the file back from a backup of the key files",
		"file", cf.path, "profiles", strings.Join(cf.replaced, ","))
}

// newKeyPair makes a long-lived API key: "AKAB" and 16 characters, and a
// 40-character secret.
func newKeyPair() (keyPair, error) {
	id, secret, err := caller.NewKeyPair("AKAB")
	return keyPair{AccessKey: id, SecretKey: secret}, err
}

// apiKeys is the live set of API keys: every profile of the credentials
// file except the embedded gateway's root key, each with its policy from
// policies.json. It follows the files: watch reloads them when they
// change, SIGHUP reloads them at once, and a set that does not load keeps
// the one in use, so a key is created, rotated or revoked without a
// restart.
type apiKeys struct {
	dir  string
	keys atomic.Pointer[map[string]caller.Key]
	// Reloads by outcome, and whether the last one failed: the metrics
	// listener reports them, so an operator who changed a key can see
	// that it was acted on, and how, without reading the log.
	reloaded, reloadFailed atomic.Uint64
	lastReloadFailed       atomic.Bool

	// mu makes reloads one at a time; tried is the files' stamp when the
	// last one read them, so a change is tried (and a bad one logged)
	// once, not at every poll.
	mu    sync.Mutex
	tried keyring.Stamp
	// policies is whether the keys in use were read with a policies.json.
	policies bool
}

func newAPIKeys(cf *credentialsFile) *apiKeys {
	k := &apiKeys{dir: filepath.Dir(cf.path), tried: keyring.Observe(filepath.Dir(cf.path))}
	k.set(cf.ring)
	return k
}

func (k *apiKeys) set(r *keyring.Ring) int {
	k.policies = r.HasPoliciesFile()
	m := map[string]caller.Key{}
	for name, kp := range r.APIKeys() {
		m[kp.AccessKeyID] = caller.Key{Secret: kp.SecretAccessKey, Name: name, Policy: r.Policy(name)}
	}
	k.keys.Store(&m)
	return len(m)
}

// Lookup implements caller.Keys: the key's secret, its profile's name and
// its policy (administrator for a profile without one).
func (k *apiKeys) Lookup(_ context.Context, id string) (caller.Key, bool, error) {
	key, ok := (*k.keys.Load())[id]
	return key, ok, nil
}

// reload re-reads the key files; on any error the old keys stay.
// The outcome is counted once the keys in use are what it says.
func (k *apiKeys) reload() (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n, err := k.load()
	if err != nil {
		k.reloadFailed.Add(1)
		k.lastReloadFailed.Store(true)
		return 0, err
	}
	k.reloaded.Add(1)
	k.lastReloadFailed.Store(false)
	return n, nil
}

func (k *apiKeys) load() (int, error) {
	// Stamped before reading: a change made while reading is seen as a
	// change at the next poll.
	k.tried = keyring.Observe(k.dir)
	r, err := keyring.Load(k.dir)
	if err != nil {
		return 0, err
	}
	if len(r.APIKeys()) == 0 {
		return 0, fmt.Errorf("%s holds no API key; keeping the current ones", filepath.Join(k.dir, keyring.CredentialsFile))
	}
	if k.policies && !r.HasPoliciesFile() {
		// Without the file every key is an administrator: a file lost
		// (deleted, a mount or Secret without it) must not widen every
		// scoped key. The keys command never removes it, so this is
		// never a change made with it.
		if unscoped := r.Unscoped(); len(unscoped) > 0 {
			return 0, fmt.Errorf("%s is gone: without it keys %s would be administrators; keeping the current keys (put the file back, or give each key its policy with `amplifybackendd keys set-policy`)",
				filepath.Join(k.dir, keyring.PoliciesFile), strings.Join(unscoped, ", "))
		}
	}
	return k.set(r), nil
}

// keyPollInterval is how often watch looks at the key files. A change is
// acted on once two looks agree, so within two intervals (about a
// second), and a file caught half-written by an editor is not read.
const keyPollInterval = 500 * time.Millisecond

// watch reloads the keys whenever the key files change, looking at each
// tick until ctx ends: the keys command (or a person editing the files)
// needs no signal. Every reload is logged, a failed one once per change.
func (k *apiKeys) watch(ctx context.Context, ticks <-chan time.Time, log *slog.Logger) {
	last := keyring.Observe(k.dir)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			k.poll(&last, log)
		}
	}
}

// poll is one look at the key files; last is what the previous look saw.
// It reloads when the files differ from what was last read and have not
// changed since the previous look.
func (k *apiKeys) poll(last *keyring.Stamp, log *slog.Logger) {
	now := keyring.Observe(k.dir)
	settled := now == *last
	*last = now
	k.mu.Lock()
	changed := now != k.tried
	k.mu.Unlock()
	if settled && changed {
		k.reloadLogged(log, "the key files changed")
	}
}

// reloadLogged reloads and logs the outcome with why it was done.
func (k *apiKeys) reloadLogged(log *slog.Logger, why string) {
	if n, err := k.reload(); err != nil {
		log.Error("API keys not reloaded; the keys loaded before stay in use", "cause", why, "error", err)
	} else {
		log.Info("API keys reloaded", "cause", why, "keys", n)
	}
}
