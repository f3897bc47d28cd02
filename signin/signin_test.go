package signin

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// clock is a settable time source; tests move it instead of waiting.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// keys is a settable set of creator keys.
type keys struct {
	mu sync.Mutex
	m  map[string]caller.Key
}

func (k *keys) Lookup(_ context.Context, id string) (caller.Key, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.m[id]
	return key, ok, nil
}

func (k *keys) set(id string, key *caller.Key) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key == nil {
		delete(k.m, id)
		return
	}
	k.m[id] = *key
}

type fixture struct {
	t     testing.TB
	ctx   context.Context
	path  string
	st    *store.Store
	clock *clock
	keys  *keys
	svc   *Service
}

const admin = "AKIDADMIN"

func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	return newFixture(t)
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), path: filepath.Join(t.TempDir(), "store.db"),
		clock: &clock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)},
		keys:  &keys{m: map[string]caller.Key{admin: {Secret: "s", Name: "default", Policy: access.Administrator}}}}
	f.open()
	return f
}

func (f *fixture) open() {
	st, err := store.Open(f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { st.Close() })
	f.st = st
	f.svc = New(Config{Store: st, Creators: f.keys, Now: f.clock.Now})
}

func (f *fixture) create(app string) Challenge {
	f.t.Helper()
	c, err := f.svc.Create(f.ctx, app, admin)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) exchange(c Challenge) Credentials {
	f.t.Helper()
	cred, err := f.svc.Exchange(f.ctx, c.AppID, c.SessionID, c.Code)
	if err != nil {
		f.t.Fatal(err)
	}
	return cred
}

// wantRefused checks err is a refusal for reason.
func wantRefused(t *testing.T, err error, reason Reason) {
	t.Helper()
	var refused *Error
	if !errors.As(err, &refused) || refused.Reason != reason {
		t.Fatalf("err = %v, want a refusal with reason %d", err, reason)
	}
}

var (
	sessionIDForm = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	codeForm      = regexp.MustCompile(`^[0-9a-f]{32}$`)
	keyIDForm     = regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`)
)

func TestCreateGetExchangeOnce(t *testing.T) {
	f := setup(t)
	c := f.create("app")
	if !sessionIDForm.MatchString(c.SessionID) || !codeForm.MatchString(c.Code) || c.AppID != "app" || c.TTL != DefaultChallengeTTL {
		t.Fatalf("challenge %+v: want a uuid, 32 hex digits and the default TTL", c)
	}
	f.clock.Add(100*time.Second + time.Millisecond)
	got, err := f.svc.Get(f.ctx, "app", c.SessionID, admin)
	if err != nil || got.Code != c.Code || got.TTL != DefaultChallengeTTL-100*time.Second {
		t.Fatalf("get = %+v, %v; want the challenge with 800s left (rounded up)", got, err)
	}
	if _, err := f.svc.Get(f.ctx, "other-app", c.SessionID, admin); err == nil {
		t.Fatal("the challenge was found under another app")
	}

	cred := f.exchange(c)
	if !keyIDForm.MatchString(cred.AccessKeyID) || len(cred.SecretAccessKey) != 40 || cred.AppID != "app" ||
		!cred.Expiration.Equal(f.clock.Now().Add(DefaultSessionTTL)) {
		t.Fatalf("credentials %+v", cred)
	}
	key, ok := lookup(f.svc, cred.AccessKeyID)
	if !ok || key.Secret != cred.SecretAccessKey || !key.Expires.Equal(cred.Expiration) || key.Name != "session:app:"+c.SessionID[:8] {
		t.Fatalf("lookup = %+v, %t", key, ok)
	}

	// Single use: a second exchange (a replay of the same request) and a
	// GetToken are refused, and issue nothing.
	_, err = f.svc.Exchange(f.ctx, c.AppID, c.SessionID, c.Code)
	wantRefused(t, err, Used)
	_, err = f.svc.Get(f.ctx, "app", c.SessionID, admin)
	wantRefused(t, err, Used)
}

// TestExchangeRace: many exchanges of one challenge at once; exactly one
// wins, because the decision and the session are one transaction.
func TestExchangeRace(t *testing.T) {
	f := setup(t)
	c := f.create("app")
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.svc.Exchange(f.ctx, c.AppID, c.SessionID, c.Code)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		wantRefused(t, err, Used)
	}
	if won != 1 {
		t.Fatalf("%d exchanges won, want exactly 1", won)
	}
}

func TestChallengeExpires(t *testing.T) {
	f := setup(t)
	c := f.create("app")
	f.clock.Add(DefaultChallengeTTL)
	_, err := f.svc.Exchange(f.ctx, c.AppID, c.SessionID, c.Code)
	wantRefused(t, err, Expired)
	_, err = f.svc.Get(f.ctx, "app", c.SessionID, admin)
	wantRefused(t, err, Expired)
}

func TestSessionExpires(t *testing.T) {
	f := setup(t)
	cred := f.exchange(f.create("app"))
	f.clock.Add(DefaultSessionTTL + time.Minute)
	key, ok := lookup(f.svc, cred.AccessKeyID)
	if !ok || !key.Expires.Equal(cred.Expiration) || !key.Expires.Before(f.clock.Now()) {
		t.Fatalf("an expired session: %+v, %t; want it found with its past expiry (for ExpiredTokenException)", key, ok)
	}
}

// TestWrongCodes: four wrong codes are counted, the fifth withdraws the
// challenge, after which even the right code is refused.
func TestWrongCodes(t *testing.T) {
	f := setup(t)
	c := f.create("app")
	for i := 1; i < MaxFailures; i++ {
		_, err := f.svc.Exchange(f.ctx, c.AppID, c.SessionID, "0123456789abcdef0123456789abcdef")
		wantRefused(t, err, WrongCode)
		var refused *Error
		errors.As(err, &refused)
		if refused.AttemptsLeft != MaxFailures-i {
			t.Fatalf("after %d wrong codes: %d attempts left, want %d", i, refused.AttemptsLeft, MaxFailures-i)
		}
		want := fmt.Sprintf("(%d attempts left)", MaxFailures-i)
		if MaxFailures-i == 1 {
			want = "(1 attempt left)"
		}
		if !strings.HasSuffix(refused.Why(), want) {
			t.Errorf("after %d wrong codes the refusal says %q, want it to end %q", i, refused.Why(), want)
		}
	}
	_, err := f.svc.Exchange(f.ctx, c.AppID, c.SessionID, "wrong")
	wantRefused(t, err, Burned)
	_, err = f.svc.Exchange(f.ctx, c.AppID, c.SessionID, c.Code)
	wantRefused(t, err, Burned)
}

// TestDeleteEndsSessions: DeleteToken ends the sessions already issued
// (the console's sign-out), and the challenge is then unknown.
func TestDeleteEndsSessions(t *testing.T) {
	f := setup(t)
	c := f.create("app")
	cred := f.exchange(c)
	other := f.exchange(f.create("app"))
	if err := f.svc.Delete(f.ctx, "app", c.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup(f.svc, cred.AccessKeyID); ok {
		t.Fatal("a session outlived the deletion of its challenge")
	}
	if _, ok := lookup(f.svc, other.AccessKeyID); !ok {
		t.Fatal("deleting one challenge ended another's session")
	}
	_, err := f.svc.Exchange(f.ctx, c.AppID, c.SessionID, c.Code)
	wantRefused(t, err, Unknown)
	wantRefused(t, f.svc.Delete(f.ctx, "app", c.SessionID), Unknown)

	d := f.create("app")
	wantRefused(t, f.svc.Delete(f.ctx, "other-app", d.SessionID), Unknown)
	if err := f.svc.Delete(f.ctx, "app", d.SessionID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Exchange(f.ctx, d.AppID, d.SessionID, d.Code)
	wantRefused(t, err, Unknown)
}

// TestScope: a session may act on its app and nowhere else, never beyond
// its creator's current policy, and not at all once the creator is gone.
func TestScope(t *testing.T) {
	f := setup(t)
	cred := f.exchange(f.create("appA"))
	s := access.Scope{Partition: "aws", Region: "us-east-1", Account: access.DefaultAccount}
	key, _ := lookup(f.svc, cred.AccessKeyID)
	for _, tt := range []struct {
		action, resource string
		allowed          bool
	}{
		{"CreateBackendStorage", s.Environment("appA", "dev"), true},
		{"GetBackend", s.App("appA"), true},
		{"DeleteToken", s.Token("appA", "x"), true},
		{"CreateBackendStorage", s.Environment("appB", "dev"), false},
		{"GetBackend", s.App("appB"), false},
		{"ListS3Buckets", access.AnyResource, false},
		{"BackupStore", access.AnyResource, false},
	} {
		if got := key.Policy.Allows(access.Action(tt.action), tt.resource); got != tt.allowed {
			t.Errorf("%s on %s: allowed %t, want %t", tt.action, tt.resource, got, tt.allowed)
		}
	}

	// The creator narrowed to one environment's storage: so is the session.
	f.keys.set(admin, &caller.Key{Secret: "s", Policy: access.MustParse(access.EnvironmentStorageDocument("appA", "dev"))})
	key, _ = lookup(f.svc, cred.AccessKeyID)
	if key.Policy.Allows(access.Action("CreateToken"), s.App("appA")) || !key.Policy.Allows(access.Action("GetBackendStorage"), s.Environment("appA", "dev")) {
		t.Error("the session does not follow its creator's narrowed policy")
	}
	// The creator revoked: the session is unknown.
	f.keys.set(admin, nil)
	if _, ok := lookup(f.svc, cred.AccessKeyID); ok {
		t.Error("a session outlived its creator's key")
	}
}

// TestCreatorExpiryBoundsSession: a session created by a session expires
// no later than its creator.
func TestCreatorExpiryBoundsSession(t *testing.T) {
	f := setup(t)
	parent := f.exchange(f.create("app"))
	f.keys.set(parent.AccessKeyID, &caller.Key{Secret: "x", Policy: access.Administrator, Expires: parent.Expiration})
	f.clock.Add(time.Hour)
	c, err := f.svc.Create(f.ctx, "app", parent.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	child := f.exchange(c)
	key, ok := lookup(f.svc, child.AccessKeyID)
	if !ok || !key.Expires.Equal(parent.Expiration) {
		t.Fatalf("child session expires %v, want its creator's %v", key.Expires, parent.Expiration)
	}
}

func TestRestartKeepsSessions(t *testing.T) {
	f := setup(t)
	c := f.create("app")
	cred := f.exchange(c)
	unused := f.create("app")
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	f.open()
	if key, ok := lookup(f.svc, cred.AccessKeyID); !ok || key.Secret != cred.SecretAccessKey {
		t.Fatal("the session did not survive a reopen of the store")
	}
	_, err := f.svc.Exchange(f.ctx, c.AppID, c.SessionID, c.Code)
	wantRefused(t, err, Used)
	f.exchange(unused)
}

// TestSweep: an hour after they expire, sessions and challenges are
// removed by the next create or exchange.
func TestSweep(t *testing.T) {
	f := setup(t)
	cred := f.exchange(f.create("app"))
	old := f.create("app")
	f.clock.Add(DefaultSessionTTL + sweepGrace + time.Second)
	f.create("app")
	if _, ok := lookup(f.svc, cred.AccessKeyID); ok {
		t.Fatal("an expired session was not swept")
	}
	_, err := f.svc.Get(f.ctx, "app", old.SessionID, admin)
	wantRefused(t, err, Unknown)
}

func TestLookupIgnoresOtherKeys(t *testing.T) {
	f := setup(t)
	for _, id := range []string{"", admin, "ASIA", "ASIAAAAAAAAAAAAAAAAA"} {
		if _, ok := lookup(f.svc, id); ok {
			t.Errorf("lookup %q found a session", id)
		}
	}
}

// TestRefusedWithoutWriting: the exchange is unsigned, so whatever names
// no exchangeable challenge (an unknown session, another app's, a used
// one) is refused without a write transaction: anyone can send them, and
// none may cost the store a commit.
func TestRefusedWithoutWriting(t *testing.T) {
	f := setup(t)
	c := f.create("app")
	f.exchange(c)
	gen := f.st.Generation()
	for _, ask := range [][3]string{
		{"app", "00000000-0000-4000-8000-000000000000", c.Code},
		{"other-app", c.SessionID, c.Code},
		{"app", c.SessionID, c.Code},
	} {
		if _, err := f.svc.Exchange(f.ctx, ask[0], ask[1], ask[2]); err == nil {
			t.Fatalf("exchange %v was not refused", ask)
		}
	}
	if got := f.st.Generation(); got != gen {
		t.Fatalf("refused exchanges wrote %d transactions", got-gen)
	}
}

// TestCodeOnlyToItsCreator: GetToken shows the challenge code only to the
// key that created it; to any other key (one narrower than the creator,
// which could otherwise sign in with the creator's rights) it shows the
// challenge without its code.
func TestCodeOnlyToItsCreator(t *testing.T) {
	f := setup(t)
	c := f.create("app")
	if got, err := f.svc.Get(f.ctx, "app", c.SessionID, admin); err != nil || got.Code != c.Code {
		t.Fatalf("the creator's get = %+v, %v; want the code", got, err)
	}
	got, err := f.svc.Get(f.ctx, "app", c.SessionID, "AKIAOTHERKEY00000000")
	if err != nil || got.Code != "" || got.SessionID != c.SessionID || got.TTL <= 0 {
		t.Fatalf("another key's get = %+v, %v; want the challenge without its code", got, err)
	}
}

// lookup is Service.Lookup for tests whose store is up, where a failed
// lookup is a bug of its own.
func lookup(s *Service, id string) (caller.Key, bool) {
	key, ok, err := s.Lookup(context.Background(), id)
	if err != nil {
		panic(err)
	}
	return key, ok
}
