package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/signin"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// signInFixture is the real router over a real store and sign-in service,
// with a clock the test moves and a log it reads.
type signInFixture struct {
	t    *testing.T
	path string
	mu   sync.Mutex
	now  time.Time
	log  bytes.Buffer
	logs sync.Mutex
	e    *echo.Echo
	st   *store.Store
}

func (f *signInFixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *signInFixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// Write collects the server's log.
func (f *signInFixture) Write(p []byte) (int, error) {
	f.logs.Lock()
	defer f.logs.Unlock()
	return f.log.Write(p)
}

func newSignInFixture(t *testing.T) *signInFixture {
	t.Helper()
	t.Parallel()
	f := &signInFixture{t: t, path: filepath.Join(t.TempDir(), "store.db"), now: sigTestNow}
	f.start()
	return f
}

// start opens the store and builds the router, as the server does at
// start-up.
func (f *signInFixture) start() {
	st, err := store.Open(f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { st.Close() })
	f.st = st
	admin := caller.StaticKeys{sigTestKeyID: sigTestSecret}
	var keys caller.Chain
	svc := signin.New(signin.Config{Store: st, Creators: &keys, Now: f.clock})
	keys = caller.Chain{admin, svc}
	f.e = New(Config{Store: st, Keys: keys, SignIn: svc, Now: f.clock, Logger: slog.New(slog.NewTextHandler(f, nil))})
}

// call sends a signed request as creds and decodes the JSON answer.
func (f *signInFixture) call(creds aws.Credentials, method, path string) (int, map[string]any) {
	f.t.Helper()
	r := httptest.NewRequest(method, "http://api.example.com"+path, nil)
	signAs(f.t, r, nil, creds, "us-east-1", f.clock())
	return f.serve(r)
}

func (f *signInFixture) serve(r *http.Request) (int, map[string]any) {
	f.t.Helper()
	w := httptest.NewRecorder()
	f.e.ServeHTTP(w, r)
	var doc map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		f.t.Fatalf("%s %s: answer is not JSON: %q", r.Method, r.URL.Path, w.Body)
	}
	if w.Code != http.StatusOK && w.Header().Get("X-Amzn-ErrorType") != doc["__type"] {
		f.t.Fatalf("X-Amzn-ErrorType %q, body %v", w.Header().Get("X-Amzn-ErrorType"), doc)
	}
	return w.Code, doc
}

// signIn posts body, unsigned, to the exchange.
func (f *signInFixture) signIn(body string) (int, map[string]any) {
	f.t.Helper()
	return f.serve(httptest.NewRequest(http.MethodPost, "http://api.example.com/console-api/sign-in", strings.NewReader(body)))
}

func (f *signInFixture) createToken(app string) map[string]any {
	f.t.Helper()
	code, doc := f.call(sigTestCreds, http.MethodPost, "/backend/"+app+"/challenge")
	if code != http.StatusOK {
		f.t.Fatalf("CreateToken: %d %v", code, doc)
	}
	return doc
}

func exchangeBody(tok map[string]any) string {
	b, _ := json.Marshal(map[string]any{"appId": tok["appId"], "sessionId": tok["sessionId"], "challengeCode": tok["challengeCode"]})
	return string(b)
}

// exchange signs in with tok and returns the session's credentials.
func (f *signInFixture) exchange(tok map[string]any) aws.Credentials {
	f.t.Helper()
	code, doc := f.signIn(exchangeBody(tok))
	if code != http.StatusOK {
		f.t.Fatalf("sign-in: %d %v", code, doc)
	}
	return aws.Credentials{AccessKeyID: doc["accessKeyId"].(string), SecretAccessKey: doc["secretAccessKey"].(string)}
}

func wantAPIError(t *testing.T, code int, doc map[string]any, status int, typ, msgPart string) {
	t.Helper()
	if msg, _ := doc["message"].(string); code != status || doc["__type"] != typ || !strings.Contains(msg, msgPart) {
		t.Fatalf("%d %v, want %d %s saying %q", code, doc, status, typ, msgPart)
	}
}

// TestTokenOperations: CreateToken, GetToken and DeleteToken through the
// real router, with the wire shapes clients read.
func TestTokenOperations(t *testing.T) {
	f := newSignInFixture(t)
	tok := f.createToken("app")
	if tok["appId"] != "app" || tok["ttl"] != "900" || len(tok["challengeCode"].(string)) != 32 || len(tok["sessionId"].(string)) != 36 || len(tok) != 4 {
		t.Fatalf("CreateToken = %v", tok)
	}
	f.advance(60 * time.Second)
	path := "/backend/app/challenge/" + tok["sessionId"].(string)
	code, got := f.call(sigTestCreds, http.MethodGet, path)
	if code != http.StatusOK || got["challengeCode"] != tok["challengeCode"] || got["sessionId"] != tok["sessionId"] || got["ttl"] != "840" {
		t.Fatalf("GetToken = %d %v, want the challenge with ttl 840", code, got)
	}
	code, got = f.call(sigTestCreds, http.MethodPost, path+"/remove")
	if code != http.StatusOK || got["isSuccess"] != true || len(got) != 1 {
		t.Fatalf("DeleteToken = %d %v", code, got)
	}
	code, got = f.call(sigTestCreds, http.MethodGet, path)
	wantAPIError(t, code, got, http.StatusNotFound, NotFound, "does not exist or was deleted")
	if got["resourceType"] != "token" {
		t.Errorf("resourceType %v, want token", got["resourceType"])
	}
	code, got = f.call(sigTestCreds, http.MethodPost, path+"/remove")
	wantAPIError(t, code, got, http.StatusNotFound, NotFound, "does not exist")
	code, got = f.signIn(exchangeBody(tok))
	wantAPIError(t, code, got, http.StatusForbidden, AccessDenied, "does not exist or was deleted")
}

// TestSignInOnce: the exchange works once; the session key signs calls;
// a replay, a GetToken of the used challenge and wrong codes are refused.
func TestSignInOnce(t *testing.T) {
	f := newSignInFixture(t)
	tok := f.createToken("app")
	session := f.exchange(tok)
	if !strings.HasPrefix(session.AccessKeyID, "ASIA") {
		t.Fatalf("session key %q", session.AccessKeyID)
	}
	// The session's key signs a call on its app.
	code, doc := f.call(session, http.MethodPost, "/backend/app/challenge")
	if code != http.StatusOK || doc["appId"] != "app" {
		t.Fatalf("CreateToken signed with the session's key: %d %v", code, doc)
	}

	code, doc = f.signIn(exchangeBody(tok))
	wantAPIError(t, code, doc, http.StatusForbidden, AccessDenied, "has already been used")
	code, doc = f.call(sigTestCreds, http.MethodGet, "/backend/app/challenge/"+tok["sessionId"].(string))
	wantAPIError(t, code, doc, http.StatusNotFound, NotFound, "has already been used")

	other := f.createToken("app")
	wrong := map[string]any{"appId": "app", "sessionId": other["sessionId"], "challengeCode": "00000000000000000000000000000000"}
	for i := 1; i <= signin.MaxFailures; i++ {
		code, doc = f.signIn(exchangeBody(wrong))
		want := "wrong challenge code"
		if i == signin.MaxFailures {
			want = "withdrawn after 5 wrong challenge codes"
		}
		wantAPIError(t, code, doc, http.StatusForbidden, AccessDenied, want)
	}
	code, doc = f.signIn(exchangeBody(other))
	wantAPIError(t, code, doc, http.StatusForbidden, AccessDenied, "withdrawn")

	// Neither the codes nor the secret reach the log.
	f.logs.Lock()
	log := f.log.String()
	f.logs.Unlock()
	for _, secret := range []string{tok["challengeCode"].(string), other["challengeCode"].(string), session.SecretAccessKey} {
		if strings.Contains(log, secret) {
			t.Fatalf("the log holds a secret %q:\n%s", secret, log)
		}
	}
}

// TestSignInExpiry: a challenge past its TTL is refused; a session past
// its TTL is ExpiredTokenException on a signed call.
func TestSignInExpiry(t *testing.T) {
	f := newSignInFixture(t)
	late := f.createToken("app")
	session := f.exchange(f.createToken("app"))
	f.advance(signin.DefaultChallengeTTL)
	code, doc := f.signIn(exchangeBody(late))
	wantAPIError(t, code, doc, http.StatusForbidden, AccessDenied, "has expired")
	code, doc = f.call(sigTestCreds, http.MethodGet, "/backend/app/challenge/"+late["sessionId"].(string))
	wantAPIError(t, code, doc, http.StatusNotFound, NotFound, "has expired")

	f.advance(signin.DefaultSessionTTL)
	code, doc = f.call(session, http.MethodPost, "/backend/app/challenge")
	wantAPIError(t, code, doc, http.StatusForbidden, ExpiredToken, "expired")
}

// TestDeleteTokenSignsOut: deleting the challenge ends the session it
// issued; the key is then unknown.
func TestDeleteTokenSignsOut(t *testing.T) {
	f := newSignInFixture(t)
	tok := f.createToken("app")
	session := f.exchange(tok)
	code, doc := f.call(session, http.MethodPost, "/backend/app/challenge/"+tok["sessionId"].(string)+"/remove")
	if code != http.StatusOK || doc["isSuccess"] != true {
		t.Fatalf("DeleteToken with the session's own key: %d %v", code, doc)
	}
	code, doc = f.call(session, http.MethodPost, "/backend/app/challenge")
	wantAPIError(t, code, doc, http.StatusForbidden, UnrecognizedClient, "invalid")
}

// TestSignInSurvivesRestart: the store keeps sessions and used challenges.
func TestSignInSurvivesRestart(t *testing.T) {
	f := newSignInFixture(t)
	tok := f.createToken("app")
	session := f.exchange(tok)
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	f.start()
	if code, doc := f.call(session, http.MethodPost, "/backend/app/challenge"); code != http.StatusOK {
		t.Fatalf("the session's key after a restart: %d %v", code, doc)
	}
	code, doc := f.signIn(exchangeBody(tok))
	wantAPIError(t, code, doc, http.StatusForbidden, AccessDenied, "has already been used")
}

// TestSignInBadRequests: the exchange refuses what it cannot read with a
// 400 naming the field or the limit, and is not signed.
func TestSignInBadRequests(t *testing.T) {
	f := newSignInFixture(t)
	for _, tt := range []struct {
		body, msg string
	}{
		{`{"appId":"app","sessionId":"s","challengeCode":"` + strings.Repeat("a", MaxSignInBody) + `"}`, "larger than 4096 bytes"},
		{`not json`, "not valid JSON"},
		{`[]`, "must be a JSON object"},
		{`{"appId":"app","sessionId":"s"}`, "Missing required field challengeCode"},
		{`{"sessionId":"s","challengeCode":"c"}`, "Missing required field appId"},
		{`{"appId":"app","sessionId":7,"challengeCode":"c"}`, "Invalid sessionId: must be a string"},
		{`{"appId":"app","SessionId":"s","sessionId":"","challengeCode":"c"}`, "Missing required field sessionId"},
	} {
		code, doc := f.signIn(tt.body)
		wantAPIError(t, code, doc, http.StatusBadRequest, BadRequest, tt.msg)
	}
	// Signed or not, the exchange needs no key: a signature is ignored.
	r := httptest.NewRequest(http.MethodGet, "http://api.example.com/console-api/sign-in", nil)
	if code, doc := f.serve(r); code != http.StatusForbidden {
		t.Fatalf("GET of the exchange: %d %v, want the signed routes' 403 for an unsigned request", code, doc)
	}
}

// TestInvitationDepthIsBounded: a session may invite, and so may the
// session its invitation gives, but only four (signin.MaxInvitationDepth)
// deep:
// every call a session signs looks up its whole chain of inviters, so an
// unbounded chain made each call of its holder as costly as they liked.
// The refusal writes no challenge, and the deepest session still works.
func TestInvitationDepthIsBounded(t *testing.T) {
	f := newSignInFixture(t)
	creds := sigTestCreds
	for depth := 1; depth <= 4; depth++ {
		code, tok := f.call(creds, http.MethodPost, "/backend/app/challenge")
		if code != http.StatusOK {
			t.Fatalf("CreateToken by a session %d deep: %d %v", depth-1, code, tok)
		}
		creds = f.exchange(tok)
	}
	before := f.snapshot()
	code, doc := f.call(creds, http.MethodPost, "/backend/app/challenge")
	wantAPIError(t, code, doc, http.StatusBadRequest, BadRequest, "chain of 4 sign-in invitations")
	if !bytes.Equal(before, f.snapshot()) {
		t.Error("a refused CreateToken changed the store")
	}
	if code, doc := f.call(creds, http.MethodGet, "/console-api/caller"); code != http.StatusOK {
		t.Errorf("the deepest session signs calls: %d %v", code, doc)
	}
}

// snapshot is the whole store file.
func (f *signInFixture) snapshot() []byte {
	f.t.Helper()
	var b bytes.Buffer
	if _, err := f.st.Backup(context.Background(), &b); err != nil {
		f.t.Fatal(err)
	}
	return b.Bytes()
}

// TestSessionKeyOnAClosedStore: a sign-in session's key is read from the
// store, so once the bbolt store can no longer be read (closed under the
// server) a call signed with it, and the exchange, are answered 500
// InternalFailure as every other call on that store is, never 403
// "security token invalid", which tells the console its credentials are
// bad. The failure is the server's, so it is logged.
func TestSessionKeyOnAClosedStore(t *testing.T) {
	f := newSignInFixture(t)
	session := f.exchange(f.createToken("app"))
	tok := f.createToken("app")
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	code, doc := f.call(session, http.MethodPost, "/backend/app/challenge")
	wantAPIError(t, code, doc, http.StatusInternalServerError, InternalFailure, "")
	code, doc = f.signIn(exchangeBody(tok))
	wantAPIError(t, code, doc, http.StatusInternalServerError, InternalFailure, "")
	f.logs.Lock()
	log := f.log.String()
	f.logs.Unlock()
	if !strings.Contains(log, "look up sign-in session key") {
		t.Errorf("the failed lookup is not logged:\n%s", log)
	}
}
