package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/datadir"
	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/keyring"
)

// usageError is a command line that asks for nothing the command does: it
// exits 2, as flag parsing errors do, where a refused request exits 1.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

const keysUsage = `usage: amplifybackendd keys SUBCOMMAND [flags]

Manages the API keys of a data directory, whether the server runs or not;
a running server picks changes up within about a second.

  list                                   every key: name, access key id, kind, created, description
  create NAME POLICY [--description TEXT] [--credentials-file FILE [--profile P]]
  rotate NAME [--credentials-file FILE [--profile P]]
  revoke NAME
  set-policy NAME POLICY [--description TEXT]
  show NAME                              the key's policy document

POLICY is one of: --admin | --app APP [--read-only] | --app APP --env ENV | --policy FILE ('-': stdin)
Every subcommand takes --data-dir DIR (default ./data, env AMPLIFYBACKENDD_DATA_DIR), or
--keys-dir DIR (env AMPLIFYBACKENDD_KEYS_DIR) for a server started with --keys-dir.
Secrets are never printed: --credentials-file hands one over in a file of mode 0600.
`

// keysCommand is the keys subcommand's input and output, apart from
// os.Stdin and os.Stdout so tests run it in process.
type keysCommand struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
}

func runKeys(ctx context.Context, args []string) error {
	return keysCommand{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, now: time.Now}.run(ctx, args)
}

// keysFlags are every subcommand's flags; each subcommand refuses those
// it does not take.
type keysFlags struct {
	dataDir, keysDir, description, credentialsFile, profile string
	policy                                                  policyFlags
	// doc is the document policy chose, read before the keys are locked
	// (it may come from a person typing on stdin).
	doc []byte
}

// policyFlags choose a key's policy: a template or a document.
type policyFlags struct {
	admin, readOnly bool
	app, env, file  string
}

func (c keysCommand) run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(c.stderr, keysUsage)
		if len(args) == 0 {
			return usageError{errors.New("name a subcommand")}
		}
		return flag.ErrHelp
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("amplifybackendd keys "+sub, flag.ContinueOnError)
	// The error says what was wrong in one line; the usage is printed
	// when asked for (-h) or when no subcommand is recognised.
	fs.SetOutput(io.Discard)
	var f keysFlags
	fs.StringVar(&f.dataDir, "data-dir", envOr("data-dir", "./data"), "the server's data directory")
	fs.StringVar(&f.keysDir, "keys-dir", envOr("keys-dir", ""), "the server's --keys-dir, where replicas share the key files (default: --data-dir)")
	fs.StringVar(&f.description, "description", "", "whom or what the key is for")
	fs.StringVar(&f.credentialsFile, "credentials-file", "", "AWS credentials file to write the new key into (created 0600)")
	fs.StringVar(&f.profile, "profile", "", "profile of --credentials-file (default: the key's name)")
	fs.BoolVar(&f.policy.admin, "admin", false, "the key may do everything")
	fs.StringVar(&f.policy.app, "app", "", "the key may act on this app only")
	fs.BoolVar(&f.policy.readOnly, "read-only", false, "with --app: only read")
	fs.StringVar(&f.policy.env, "env", "", "with --app: only the storage of this environment")
	fs.StringVar(&f.policy.file, "policy", "", "IAM JSON policy document file ('-': stdin)")
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.stderr, keysUsage)
			return err
		}
		return usageError{fmt.Errorf("%w (amplifybackendd keys -h lists the flags)", err)}
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	type spec struct {
		run   func(keysCommand, *keyring.Ring, []string, keysFlags) error
		args  int
		flags []string
		write bool
	}
	policyFlagNames := []string{"admin", "app", "read-only", "env", "policy"}
	handover := []string{"credentials-file", "profile"}
	specs := map[string]spec{
		"list":       {keysCommand.list, 0, nil, false},
		"show":       {keysCommand.show, 1, nil, false},
		"create":     {keysCommand.create, 1, slices.Concat(policyFlagNames, handover, []string{"description"}), true},
		"rotate":     {keysCommand.rotate, 1, handover, true},
		"revoke":     {keysCommand.revoke, 1, nil, true},
		"set-policy": {keysCommand.setPolicy, 1, slices.Concat(policyFlagNames, []string{"description"}), true},
	}
	s, ok := specs[sub]
	if !ok {
		fmt.Fprint(c.stderr, keysUsage)
		return usageError{fmt.Errorf("no subcommand %q", sub)}
	}
	for name := range given {
		if name != "data-dir" && name != "keys-dir" && !slices.Contains(s.flags, name) {
			return usageError{fmt.Errorf("keys %s does not take --%s", sub, name)}
		}
	}
	if len(pos) != s.args {
		return usageError{fmt.Errorf("keys %s takes %s", sub, map[int]string{0: "no arguments", 1: "one argument, the key's name"}[s.args])}
	}
	if given["profile"] && !given["credentials-file"] {
		return usageError{errors.New("--profile names a profile of --credentials-file; give --credentials-file too")}
	}
	dir, dirFlag := f.dataDir, "data-dir"
	if f.keysDir != "" {
		dir, dirFlag = f.keysDir, "keys-dir"
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("--%s %s: not a directory; name the server's (it is made at the server's first start)", dirFlag, dir)
	}
	if err := keysElsewhere(dir, dirFlag); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if slices.Contains(s.flags, "policy") {
		if f.doc, err = c.policyDocument(f.policy); err != nil {
			return err
		}
	}
	if !s.write {
		r, err := keyring.Load(dir)
		if err != nil {
			return byHand(err)
		}
		return s.run(c, r, pos, f)
	}
	// What a change prints (an access key id, "revoked", where the secret
	// is) is held until its files are written: a write the disk refuses
	// must not leave a script or an operator holding a key that does not
	// exist, or believing a key revoked that still works.
	var out, errOut bytes.Buffer
	held := c
	held.stdout, held.stderr = &out, &errOut
	var unscoped []string
	err = keyring.Update(dir, func(r *keyring.Ring) error {
		if err := s.run(held, r, pos, f); err != nil {
			return err
		}
		if !r.HasPoliciesFile() && len(r.Entries) > 0 {
			// policies.json is written now for the first time (or again,
			// after it was lost): the keys that had no entry become
			// administrators recorded as such, which the server no longer
			// warns of at start nor refuses on reload.
			unscoped = r.Unscoped()
		}
		return nil
	})
	if err != nil {
		if f.credentialsFile != "" && errOut.Len() > 0 {
			// The hand-over comes first and was made: the holder's file has
			// a key the server will not know.
			return fmt.Errorf("%w; the key written to %s was not recorded and does not work: run the command again once the data directory takes writes", err, f.credentialsFile)
		}
		return byHand(err)
	}
	io.Copy(c.stderr, &errOut)
	io.Copy(c.stdout, &out)
	if len(unscoped) > 0 {
		c.warnUnscoped(filepath.Join(dir, keyring.PoliciesFile), unscoped)
	}
	return nil
}

// warnUnscoped says, when a change made policies.json where there was
// none, which keys have no policy and so stay administrators. It warns
// rather than refuses: the files cannot tell a lost policies.json from a
// data directory made before keys had policies, where every key is an
// administrator by design and this change is how its first limited key
// comes; a refusal would leave that directory no way forward but editing
// by hand. The operator who lost the file learns here which keys to
// limit again.
func (c keysCommand) warnUnscoped(policies string, names []string) {
	fmt.Fprintf(c.stderr, "warning: %s did not exist, so keys %s have no policy and are administrators; they stay so now that the file exists, "+
		"and the server no longer warns of them. If %s was lost, give each its policy again: amplifybackendd keys set-policy NAME POLICY (--admin keeps one an administrator)\n",
		policies, strings.Join(names, ", "), keyring.PoliciesFile)
}

// keysElsewhere refuses a data directory a server has run on (its lock
// file is there) that holds no credentials file: that server was started
// with --keys-dir and reads its keys there, so a key listed or made here
// would be one it never sees, and an empty list would read as "no keys".
func keysElsewhere(dir, dirFlag string) error {
	if dirFlag != "data-dir" {
		return nil
	}
	_, errCreds := os.Stat(filepath.Join(dir, keyring.CredentialsFile))
	_, errLock := os.Stat(filepath.Join(dir, datadir.Name))
	if !errors.Is(errCreds, os.ErrNotExist) || errLock != nil {
		return nil
	}
	return fmt.Errorf("--data-dir %s holds no %s, though a server has used it: a server started with --keys-dir keeps its keys in that directory; give --keys-dir DIR (env %s)",
		dir, keyring.CredentialsFile, envName("keys-dir"))
}

// byHand adds, to a key set that does not load, how to get out: even the
// change that would repair it (set-policy or revoke of the key named) is
// refused, so the one way is an editor.
func byHand(err error) error {
	if errors.As(err, new(*keyring.SetError)) {
		return fmt.Errorf("%w; correct that by hand first: the keys command works only on key files that load (a running server keeps the keys it loaded last)", err)
	}
	return err
}

// parseInterspersed parses flags before and after the positional
// arguments, so `keys create NAME --app myapp` reads as people write it.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

func (c keysCommand) list(r *keyring.Ring, _ []string, _ keysFlags) error {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range r.APIKeys() {
			if !yield(n) {
				return
			}
		}
		for n := range r.Entries {
			if _, ok := r.Profiles[n]; !ok && !yield(n) {
				return
			}
		}
	})
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tACCESS KEY ID\tKIND\tCREATED\tDESCRIPTION")
	for _, n := range names {
		e, hasEntry := r.Entries[n]
		id, kind, created := r.Profiles[n].AccessKeyID, r.Kind(n), "-"
		switch {
		case id == "":
			id, kind = "-", "ignored: policy without a profile in "+keyring.CredentialsFile
		case !hasEntry && n != keyring.Default:
			kind += " (no policy entry)"
		}
		if !e.Created.IsZero() {
			created = e.Created.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", n, id, kind, created, oneLine(e.Description))
	}
	return w.Flush()
}

// oneLine keeps a description on its row of the table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (c keysCommand) show(r *keyring.Ring, pos []string, _ keysFlags) error {
	name := pos[0]
	if err := existingKey(r, name, "be shown", true); err != nil {
		return err
	}
	doc := []byte(access.AdministratorDocument)
	if e, ok := r.Entries[name]; ok {
		doc = e.Policy
	}
	return writeIndented(c.stdout, doc)
}

func (c keysCommand) create(r *keyring.Ring, pos []string, f keysFlags) error {
	name := pos[0]
	if err := keyring.ValidName(name); err != nil {
		return err
	}
	if why := keyring.Reserved(name); why != "" {
		return fmt.Errorf("key %q cannot be created: %s", name, why)
	}
	if _, ok := r.Profiles[name]; ok {
		return fmt.Errorf("key %q already exists; rotate it, or revoke it first", name)
	}
	if err := r.SetEntry(name, keyring.Entry{Policy: f.doc, Description: f.description, Created: c.now().UTC().Truncate(time.Second)}); err != nil {
		return err
	}
	return c.issue(r, name, f)
}

func (c keysCommand) rotate(r *keyring.Ring, pos []string, f keysFlags) error {
	name := pos[0]
	if err := existingKey(r, name, "be rotated", true); err != nil {
		return err
	}
	return c.issue(r, name, f)
}

// existingKey refuses what verb cannot be done to key name: anything to
// the embedded gateway's key, anything but what defaultToo allows to the
// default key, and anything to a key that does not exist.
func existingKey(r *keyring.Ring, name, verb string, defaultToo bool) error {
	if why := keyring.Reserved(name); why != "" && (name == keyring.Embedded || !defaultToo) {
		return fmt.Errorf("key %q cannot %s: %s", name, verb, why)
	}
	if _, ok := r.Profiles[name]; !ok {
		return fmt.Errorf("key %q: no such key (keys list shows them)", name)
	}
	return nil
}

// issue gives key name a new key pair, hands it over into
// --credentials-file when one is given, and prints the access key id.
// The hand-over comes first: when it fails, the data directory is left as
// it was.
func (c keysCommand) issue(r *keyring.Ring, name string, f keysFlags) error {
	k, err := freshKeys(r)
	if err != nil {
		return err
	}
	r.SetKeys(name, k)
	if f.credentialsFile != "" {
		profile := f.profile
		if profile == "" {
			profile = name
		}
		if err := keyring.ValidName(profile); err != nil {
			return fmt.Errorf("--profile: %w", err)
		}
		if ownFile(f.credentialsFile, filepath.Join(r.Dir, keyring.CredentialsFile)) {
			// The ring rewrites that file after this hand-over, which would
			// be lost while the message says it was made.
			return fmt.Errorf("--credentials-file: %s is the data directory's own credentials file, which holds the key as profile [%s] already; name a file for the key's holder", f.credentialsFile, name)
		}
		if err := keyring.WriteProfile(f.credentialsFile, profile, k); err != nil {
			return fmt.Errorf("--credentials-file: %w", err)
		}
		fmt.Fprintf(c.stderr, "key %s: secret written to profile [%s] of %s\n", name, profile, f.credentialsFile)
	} else {
		fmt.Fprintf(c.stderr, "key %s: the secret is in profile [%s] of %s; --credentials-file hands it over in a file of its own\n",
			name, name, filepath.Join(r.Dir, keyring.CredentialsFile))
	}
	fmt.Fprintln(c.stdout, k.AccessKeyID)
	return nil
}

// ownFile reports whether path is the file at own (through links too).
func ownFile(path, own string) bool {
	a, err := os.Stat(path)
	if err != nil {
		return false
	}
	b, err := os.Stat(own)
	return err == nil && os.SameFile(a, b)
}

// freshKeys draws a key pair whose id no profile has.
func freshKeys(r *keyring.Ring) (credfile.Keys, error) {
	for {
		kp, err := newKeyPair()
		if err != nil {
			return credfile.Keys{}, err
		}
		taken := false
		for _, p := range r.Profiles {
			taken = taken || p.AccessKeyID == kp.AccessKey
		}
		if !taken {
			return credfile.Keys{AccessKeyID: kp.AccessKey, SecretAccessKey: kp.SecretKey}, nil
		}
	}
}

func (c keysCommand) revoke(r *keyring.Ring, pos []string, _ keysFlags) error {
	name := pos[0]
	if why := keyring.Reserved(name); why != "" {
		return fmt.Errorf("key %q cannot be revoked: %s", name, why)
	}
	_, hasProfile := r.Profiles[name]
	if _, hasEntry := r.Entries[name]; !hasProfile && !hasEntry {
		return fmt.Errorf("key %q: no such key (keys list shows them)", name)
	}
	id := r.Profiles[name].AccessKeyID
	r.Remove(name)
	fmt.Fprintf(c.stdout, "revoked %s %s\n", name, id)
	return nil
}

func (c keysCommand) setPolicy(r *keyring.Ring, pos []string, f keysFlags) error {
	name := pos[0]
	if err := existingKey(r, name, "have a policy", false); err != nil {
		return err
	}
	e := r.Entries[name]
	if e.Created.IsZero() {
		// A profile that had no entry was made before keys had policies;
		// its entry starts now.
		e.Created = c.now().UTC().Truncate(time.Second)
	}
	if f.description != "" {
		e.Description = f.description
	}
	e.Policy = f.doc
	if err := r.SetEntry(name, e); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: %s\n", name, keyring.KindOf(f.doc))
	return nil
}

// policyDocument is the document the policy flags choose: exactly one of
// --admin, --app (with --read-only or --env), --policy.
func (c keysCommand) policyDocument(p policyFlags) ([]byte, error) {
	chosen := 0
	for _, set := range []bool{p.admin, p.app != "", p.file != ""} {
		if set {
			chosen++
		}
	}
	switch {
	case chosen == 0 && (p.readOnly || p.env != ""):
		// keys create ci --env dev: the app was forgotten, not the policy.
		return nil, usageError{errors.New("--read-only and --env narrow --app; give --app APP too")}
	case chosen != 1:
		return nil, usageError{errors.New("choose the key's policy with exactly one of --admin, --app APP, --policy FILE")}
	case (p.readOnly || p.env != "") && p.app == "":
		return nil, usageError{errors.New("--read-only and --env narrow --app; give --app APP too")}
	case p.readOnly && p.env != "":
		return nil, usageError{errors.New("--read-only and --env do not go together: --env is the environment's storage, read and write")}
	case p.admin:
		return []byte(access.AdministratorDocument), nil
	case p.env != "":
		return access.EnvironmentStorageDocument(p.app, p.env), nil
	case p.app != "":
		return access.AppDocument(p.app, p.readOnly), nil
	}
	var doc []byte
	var err error
	if p.file == "-" {
		doc, err = io.ReadAll(io.LimitReader(c.stdin, access.MaxDocumentBytes+1))
	} else {
		doc, err = os.ReadFile(p.file)
	}
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	if _, err := access.Parse(doc); err != nil {
		return nil, fmt.Errorf("--policy %s: %w", p.file, err)
	}
	return doc, nil
}

func writeIndented(w io.Writer, doc []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, doc, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := out.WriteTo(w)
	return err
}
