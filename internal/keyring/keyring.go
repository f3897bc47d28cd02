// Package keyring keeps the API keys of a data directory: their secrets in
// `credentials` (the AWS shared-credentials format, one profile per key,
// the profile's name is the key's name) and their policies in
// `policies.json`:
//
//	{"keys": {"NAME": {"policy": <IAM policy document>, "description": "...", "created": "RFC3339"}}}
//
// A profile without an entry is an administrator, as every key was before
// keys had policies; `default` always is one, and `embedded-s3`, the
// embedded gateway's root key, is no API key at all. An entry whose
// profile is missing is ignored.
//
// Both files are written whole (a temporary file renamed over the old one,
// mode 0600) while holding an exclusive flock on `keys.lock`, and read
// while holding a shared one, so the `keys` command and a running server
// never see half a change, even one that touches both files.
package keyring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
)

// Names of the files in the data directory.
const (
	CredentialsFile = "credentials"
	PoliciesFile    = "policies.json"
	LockFile        = "keys.lock"
)

// Names of the profiles that are no ordinary key.
const (
	// Default is the administrator key the server generates.
	Default = "default"
	// Embedded is the embedded gateway's root key; it signs S3 and IAM
	// calls, never API calls.
	Embedded = "embedded-s3"
)

// Entry is one key's line in policies.json.
type Entry struct {
	// Policy is the key's IAM policy document.
	Policy json.RawMessage `json:"policy"`
	// Description says whom the key is for.
	Description string `json:"description,omitempty"`
	// Created is when the key was created.
	Created time.Time `json:"created"`
}

type policiesDoc struct {
	Keys map[string]Entry `json:"keys"`
}

// header opens a credentials file this package creates, for whoever opens
// it by hand.
const header = "# API keys of amplifybackendd, one profile per key: [default] is the administrator key,\n" +
	"# [embedded-s3] the embedded S3/IAM root key. Change them with `amplifybackendd keys`.\n"

// Ring is a data directory's keys as its two files say. Change it only
// inside Update, through its methods.
type Ring struct {
	// Dir is the data directory.
	Dir string
	// Profiles are the credentials file's profiles, embedded-s3 included.
	Profiles map[string]credfile.Keys
	// Entries are policies.json's entries, by key name.
	Entries map[string]Entry

	policies   map[string]*access.Policy
	creds      []byte // the credentials file's text, edited in place
	read       []byte // the credentials file as it was read
	readNames  map[string]bool
	entriesSet bool
	// policiesRead is whether policies.json was there when read.
	policiesRead bool
}

// namePattern is compiled on first use, not at package initialisation:
// its {0,63} repetition compiles to a program of some 60 KB, which every
// start of the binary would otherwise build, whatever the command.
var namePattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
})

// ValidName refuses a key name that would not make a plain profile name:
// 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.
func ValidName(name string) error {
	if !namePattern().MatchString(name) {
		return fmt.Errorf("key name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Load reads dir's keys, waiting while they are being changed. It fails,
// naming the file and the key, when a profile lacks half its key pair or
// a policy does not parse: a server keeps the keys it had rather than
// serve a half-understood set.
func Load(dir string) (*Ring, error) {
	unlock, err := lock(dir, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	r, err := load(dir)
	if err != nil {
		return nil, &SetError{err}
	}
	return r, nil
}

// SetError is a key set that does not load (a policy that does not parse,
// a profile missing half its pair, a file others may read), as Load and
// Update report it: the files must be corrected before any change goes
// through them.
type SetError struct{ Err error }

func (e *SetError) Error() string { return e.Err.Error() }

func (e *SetError) Unwrap() error { return e.Err }

// Update changes dir's keys with fn while holding the lock, then writes
// the files fn changed. When fn fails nothing is written.
func Update(dir string, fn func(*Ring) error) error {
	unlock, err := lock(dir, true)
	if err != nil {
		return err
	}
	defer unlock()
	r, err := load(dir)
	if err != nil {
		return &SetError{err}
	}
	if err := fn(r); err != nil {
		return err
	}
	files, err := r.changes()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := WritePrivate(r.path(f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// file is one file Update writes.
type file struct {
	name string
	data []byte
}

// changes are the files r differs from what was read in, in the order
// they are written: a new profile's policy before its secret, a removed
// profile's secret before its policy, so even a crash between the two
// never leaves a key with more rights than it was given.
func (r *Ring) changes() ([]file, error) {
	var files []file
	if !bytes.Equal(r.creds, r.read) {
		files = append(files, file{CredentialsFile, r.creds})
	}
	if r.entriesSet {
		raw, err := json.MarshalIndent(policiesDoc{Keys: r.Entries}, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", PoliciesFile, err)
		}
		pol := file{PoliciesFile, append(raw, '\n')}
		if r.added() {
			files = append([]file{pol}, files...)
		} else {
			files = append(files, pol)
		}
	}
	return files, nil
}

func (r *Ring) path(name string) string { return filepath.Join(r.Dir, name) }

// added reports whether a profile exists now that did not when read.
func (r *Ring) added() bool {
	for name := range r.Profiles {
		if !r.readNames[name] {
			return true
		}
	}
	return false
}

func load(dir string) (*Ring, error) {
	r := &Ring{Dir: dir, Profiles: map[string]credfile.Keys{}, Entries: map[string]Entry{},
		policies: map[string]*access.Policy{}, readNames: map[string]bool{}}
	credsPath := r.path(CredentialsFile)
	st, err := os.Stat(credsPath)
	switch {
	case err == nil:
		if !st.Mode().IsRegular() {
			// Its mode bits would otherwise be reported as readable by
			// others, which sends the operator to chmod a directory.
			return nil, fmt.Errorf("%s is not a file but a %s; put the credentials file back there, or move it away for new keys", credsPath, kindOfFile(st.Mode()))
		}
		if err := private(credsPath, st); err != nil {
			return nil, err
		}
		if r.creds, err = os.ReadFile(credsPath); err != nil {
			return nil, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	r.read = r.creds
	profiles, err := credfile.Parse(bytes.NewReader(r.creds))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", credsPath, err)
	}
	for name, k := range profiles {
		if !k.Complete() {
			return nil, fmt.Errorf("%s: profile [%s] needs both aws_access_key_id and aws_secret_access_key", credsPath, name)
		}
		r.Profiles[name] = k
		r.readNames[name] = true
	}
	byID := map[string]string{}
	for name, k := range r.Profiles {
		if other, ok := byID[k.AccessKeyID]; ok {
			return nil, fmt.Errorf("%s: profiles [%s] and [%s] have the same aws_access_key_id; every key needs its own", credsPath, min(name, other), max(name, other))
		}
		byID[k.AccessKeyID] = name
	}
	polPath := r.path(PoliciesFile)
	raw, err := os.ReadFile(polPath)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	r.policiesRead = true
	var doc policiesDoc
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w (the file is {\"keys\": {\"NAME\": {\"policy\": {...}, \"description\": \"...\", \"created\": \"RFC3339\"}}})", polPath, err)
	}
	for name, e := range doc.Keys {
		if name == Default || name == Embedded {
			return nil, fmt.Errorf("%s: key %q has a policy entry; %s", polPath, name, reserved(name))
		}
		if len(e.Policy) == 0 {
			return nil, fmt.Errorf("%s: key %q has no \"policy\"", polPath, name)
		}
		p, err := access.Parse(e.Policy)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: %w", polPath, name, err)
		}
		r.policies[name] = p
		r.Entries[name] = e
	}
	return r, nil
}

// kindOfFile names what a file mode that is not a regular file's is.
func kindOfFile(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// reserved says why a profile is not an ordinary key.
func reserved(name string) string {
	if name == Default {
		return "the default key is always an administrator"
	}
	return "embedded-s3 is the embedded gateway's root key, not an API key"
}

// Reserved returns why name cannot be created, changed or revoked as an
// ordinary key, or "" when it can.
func Reserved(name string) string {
	if name == Default || name == Embedded {
		return reserved(name)
	}
	return ""
}

// Policy is what key name may do: its entry's policy, or administrator
// when it has none.
func (r *Ring) Policy(name string) *access.Policy {
	if p, ok := r.policies[name]; ok {
		return p
	}
	return access.Administrator
}

// HasPoliciesFile reports whether policies.json was there when the keys
// were read. Without it every key is an administrator.
func (r *Ring) HasPoliciesFile() bool { return r.policiesRead }

// Unscoped are the API keys other than default that have no policy entry,
// and so are administrators, sorted.
func (r *Ring) Unscoped() []string {
	var names []string
	for name := range r.APIKeys() {
		if _, ok := r.policies[name]; !ok && name != Default {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// APIKeys are the profiles that sign API calls: all but embedded-s3.
func (r *Ring) APIKeys() map[string]credfile.Keys {
	keys := maps.Clone(r.Profiles)
	delete(keys, Embedded)
	return keys
}

// SetKeys gives profile name the key pair k, adding the profile when it
// is new. The credentials file's other lines stay as they were.
func (r *Ring) SetKeys(name string, k credfile.Keys) {
	if len(r.creds) == 0 {
		r.creds = []byte(header)
	}
	r.creds = credfile.SetProfile(r.creds, name, k)
	r.Profiles[name] = k
}

// SetEntry records key name's policy entry, refusing a policy that does
// not parse with the parser's message.
func (r *Ring) SetEntry(name string, e Entry) error {
	if why := Reserved(name); why != "" {
		return fmt.Errorf("key %q cannot have a policy: %s", name, why)
	}
	p, err := access.Parse(e.Policy)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	r.policies[name] = p
	r.Entries = maps.Clone(r.Entries)
	r.Entries[name] = e
	r.entriesSet = true
	return nil
}

// Remove deletes key name: its profile and its policy entry.
func (r *Ring) Remove(name string) {
	r.creds, _ = credfile.RemoveProfile(r.creds, name)
	delete(r.Profiles, name)
	if _, ok := r.Entries[name]; ok {
		delete(r.Entries, name)
		delete(r.policies, name)
		r.entriesSet = true
	}
}

// lock takes keys.lock in dir, shared or exclusive, and returns its
// release.
func lock(dir string, exclusive bool) (func(), error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the keys: %w", err)
	}
	if err := flock(f, exclusive); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the keys: %s: %w", path, err)
	}
	// Closing the descriptor drops the flock.
	return func() { f.Close() }, nil
}

// private refuses a file of secrets that other users can read.
func private(path string, st fs.FileInfo) error {
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is readable by other users (mode %v); run chmod 600 on it", path, st.Mode().Perm())
	}
	return nil
}

// WritePrivate replaces the file at path with data in one step: a
// temporary file of mode 0600 beside it, synced, then renamed over it, so
// a reader sees the old file or the new one, never a mix.
func WritePrivate(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteProfile writes key pair k into profile name of the credentials
// file at path (a person's or a team's, not the data directory's),
// creating it with mode 0600. A file others can read is refused: the key
// would be theirs too. The file's other profiles and lines are kept as
// they were.
func WriteProfile(path, name string, k credfile.Keys) error {
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		// Replace the file a link points to, not the link.
		path = resolved
	}
	content, err := os.ReadFile(path)
	switch {
	case err == nil:
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		if err := private(path, st); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return err
	}
	return WritePrivate(path, credfile.SetProfile(content, name, k))
}
