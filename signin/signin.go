// Package signin turns the service's token operations into console
// sign-in: a key that may CreateToken on an app gets a one-time challenge
// (a session id and a code, valid for a short TTL); whoever holds both may
// exchange them once for temporary credentials scoped to that app, which
// the signature check then knows through Lookup.
//
// Challenges and sessions are store records (store/signin.go), so a
// restart signs nobody out. A session never does more than the key that
// created its challenge may do now: its policy is the app's full-access
// document within that key's current policy, read on every lookup, so
// narrowing or revoking the creating key narrows or ends its sessions at
// once.
//
// The exchange is decided in one store transaction: the code is compared in
// constant time, a wrong code is counted (the MaxFailures-th burns the
// challenge), and a right one marks the challenge used and records the
// session together, so two exchanges racing for one challenge cannot both
// win.
package signin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// Defaults of Config's TTLs: a challenge is meant to be passed on and used
// within minutes; a session lasts a working day.
const (
	DefaultChallengeTTL = 15 * time.Minute
	DefaultSessionTTL   = 8 * time.Hour
)

// MaxFailures is how many wrong codes burn a challenge: enough for a typo
// or two, far too few to guess 128 random bits.
const MaxFailures = 5

// MaxInvitationDepth is how many invitations deep a session may be: a
// key's invitation gives a session of depth 1, whose own invitation gives
// one of depth 2, and so on. Every call a session signs looks its whole
// chain of inviters up (any of them may have been narrowed or ended
// since), so without a bound one invited person could chain sessions
// until each of their calls cost the server as much as they liked.
const MaxInvitationDepth = 4

// DepthError is a challenge refused because the key asking for it is a
// session MaxInvitationDepth invitations deep already.
type DepthError struct {
	// Creator is the session's key.
	Creator string
}

func (e *DepthError) Error() string {
	return fmt.Sprintf("sign-in session %s is %d invitations deep and may not invite", e.Creator, MaxInvitationDepth)
}

// sweepGrace is how long expired records stay before a sweep removes them,
// so a client whose session just expired hears ExpiredTokenException, and
// a late exchange hears that its challenge expired, rather than that
// nothing is known of them.
const sweepGrace = time.Hour

// sweepLimit bounds the records one sweep removes, so the transaction it
// shares with a create or an exchange stays short.
const sweepLimit = 64

// Config sets up a Service.
type Config struct {
	Store *store.Store
	// Creators looks up the key that created a challenge, for what it may
	// do now; a key it no longer knows ends the sessions it invited.
	Creators caller.Keys
	// ChallengeTTL and SessionTTL default to DefaultChallengeTTL and
	// DefaultSessionTTL.
	ChallengeTTL, SessionTTL time.Duration
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// Service keeps challenges and the sessions they are exchanged for.
type Service struct {
	cfg Config
	// appPolicies keeps each app's full-access policy parsed: parsing it
	// is most of what a session's lookup, made on every call it signs,
	// would cost. It holds one entry per app a session was looked up for.
	appPolicies sync.Map // app id -> *access.Policy
}

// appPolicy is the app's full-access policy.
func (s *Service) appPolicy(appID string) *access.Policy {
	if p, ok := s.appPolicies.Load(appID); ok {
		return p.(*access.Policy)
	}
	p, _ := s.appPolicies.LoadOrStore(appID, access.MustParse(access.AppDocument(appID, false)))
	return p.(*access.Policy)
}

// New returns a Service for cfg.
func New(cfg Config) *Service {
	if cfg.ChallengeTTL <= 0 {
		cfg.ChallengeTTL = DefaultChallengeTTL
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}
}

// Reason says why a challenge cannot be used.
type Reason int

// The reasons, each phrased by Error.
const (
	// Unknown: no such challenge for the app (never created, deleted, or
	// long expired and swept).
	Unknown Reason = iota + 1
	// Used: it was exchanged already.
	Used
	// Expired: its TTL passed.
	Expired
	// Burned: too many wrong codes were presented.
	Burned
	// WrongCode: the code presented is not the challenge's.
	WrongCode
)

// Error is a challenge refused: which one and why. The API answers it 404
// on GetToken and DeleteToken, 403 on the exchange.
type Error struct {
	AppID, SessionID string
	Reason           Reason
	// AttemptsLeft is set with WrongCode.
	AttemptsLeft int
}

func (e *Error) Error() string {
	return fmt.Sprintf("sign-in challenge %q of app %q %s", e.SessionID, e.AppID, e.Why())
}

// Why phrases the reason for a client.
func (e *Error) Why() string {
	switch e.Reason {
	case Used:
		return "has already been used"
	case Expired:
		return "has expired"
	case Burned:
		return fmt.Sprintf("was withdrawn after %d wrong challenge codes", MaxFailures)
	case WrongCode:
		if e.AttemptsLeft == 1 {
			return "was presented with a wrong challenge code (1 attempt left)"
		}
		return fmt.Sprintf("was presented with a wrong challenge code (%d attempts left)", e.AttemptsLeft)
	}
	return "does not exist or was deleted"
}

// Challenge is what CreateToken and GetToken answer.
type Challenge struct {
	// Code is empty in what Get answers a key other than the creator.
	AppID, SessionID, Code string
	// TTL is how long the challenge stays valid from now, rounded up to a
	// whole second.
	TTL time.Duration
}

// Credentials are the temporary credentials an exchange issues.
type Credentials struct {
	AccessKeyID, SecretAccessKey, AppID string
	Expiration                          time.Time
}

func (s *Service) answer(c store.Challenge) Challenge {
	left := c.Expires.Sub(s.cfg.Now())
	return Challenge{AppID: c.AppID, SessionID: c.SessionID, Code: c.Code, TTL: time.Duration(math.Ceil(left.Seconds())) * time.Second}
}

// Create records a new challenge for appID, created by the key creator.
func (s *Service) Create(ctx context.Context, appID, creator string) (Challenge, error) {
	code, err := randomCode()
	if err != nil {
		return Challenge{}, err
	}
	now := s.cfg.Now()
	c := store.Challenge{SessionID: uuid.NewString(), AppID: appID, Code: code, Creator: creator,
		CreateTime: now.UTC(), Expires: now.Add(s.cfg.ChallengeTTL).UTC()}
	err = s.cfg.Store.Batch(ctx, func(tx *store.Tx) error {
		if err := checkDepth(tx, creator); err != nil {
			return err
		}
		if _, err := tx.SweepSignIns(now.Add(-sweepGrace), sweepLimit); err != nil {
			return err
		}
		return tx.PutChallenge(c)
	})
	var deep *DepthError
	if errors.As(err, &deep) {
		return Challenge{}, deep
	}
	if err != nil {
		return Challenge{}, fmt.Errorf("record sign-in challenge: %w", err)
	}
	return s.answer(c), nil
}

// checkDepth refuses a creator that is a session MaxInvitationDepth
// invitations deep, reading at most that many sessions. A link already
// gone ends the walk: the session it leads to can sign nothing anyway.
func checkDepth(tx *store.Tx, creator string) error {
	id, depth := creator, 0
	for IsSessionKey(id) && depth < MaxInvitationDepth {
		sess, err := tx.SignInSession(id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		id, depth = sess.Creator, depth+1
	}
	if depth == MaxInvitationDepth {
		return &DepthError{Creator: creator}
	}
	return nil
}

// usable returns the challenge when it can still be exchanged.
func (s *Service) usable(tx *store.Tx, appID, sessionID string) (store.Challenge, error) {
	c, err := s.find(tx, appID, sessionID)
	if err != nil {
		return c, err
	}
	switch {
	case c.Burned:
		return c, &Error{AppID: appID, SessionID: sessionID, Reason: Burned}
	case c.Used:
		return c, &Error{AppID: appID, SessionID: sessionID, Reason: Used}
	case !s.cfg.Now().Before(c.Expires):
		return c, &Error{AppID: appID, SessionID: sessionID, Reason: Expired}
	}
	return c, nil
}

// find returns the challenge of appID with sessionID, in whatever state.
func (s *Service) find(tx *store.Tx, appID, sessionID string) (store.Challenge, error) {
	c, err := tx.Challenge(sessionID)
	if errors.Is(err, store.ErrNotFound) || err == nil && c.AppID != appID {
		return store.Challenge{}, &Error{AppID: appID, SessionID: sessionID, Reason: Unknown}
	}
	return c, err
}

// Get returns the challenge while it can still be exchanged, as the key
// asker may see it: its code only to the key that created it. The code
// signs its holder in with the creator's rights (within the app), so a key
// allowed GetToken but narrower than the creator (a Deny of its own, say)
// must not be able to read it and step outside its policy.
func (s *Service) Get(ctx context.Context, appID, sessionID, asker string) (Challenge, error) {
	var c store.Challenge
	err := s.cfg.Store.View(ctx, func(tx *store.Tx) (err error) {
		c, err = s.usable(tx, appID, sessionID)
		return err
	})
	if err != nil {
		return Challenge{}, err
	}
	a := s.answer(c)
	if asker != c.Creator {
		a.Code = ""
	}
	return a, nil
}

// Delete removes the challenge, used or not, and ends the sessions issued
// from it: the console's sign-out, and an administrator's way to withdraw
// an invitation.
func (s *Service) Delete(ctx context.Context, appID, sessionID string) error {
	return s.cfg.Store.Batch(ctx, func(tx *store.Tx) error {
		if _, err := s.find(tx, appID, sessionID); err != nil {
			return err
		}
		_, err := tx.DeleteChallenge(sessionID)
		return err
	})
}

// Exchange trades the challenge's code for temporary credentials, once.
func (s *Service) Exchange(ctx context.Context, appID, sessionID, code string) (Credentials, error) {
	id, secret, err := caller.NewKeyPair(sessionKeyPrefix)
	if err != nil {
		return Credentials{}, err
	}
	// The exchange is unsigned: a challenge that cannot be exchanged is
	// refused from a read, so requests naming none cost no write (nor
	// fsync) however many are sent.
	if err := s.cfg.Store.View(ctx, func(tx *store.Tx) error {
		_, err := s.usable(tx, appID, sessionID)
		return err
	}); err != nil {
		return Credentials{}, err
	}
	now := s.cfg.Now()
	session := store.SignInSession{AccessKeyID: id, Secret: secret, AppID: appID, SessionID: sessionID,
		CreateTime: now.UTC(), Expires: now.Add(s.cfg.SessionTTL).UTC()}
	// A refusal that counts a wrong code must commit, so it is reported
	// through refused rather than as fn's error (which rolls back).
	var refused *Error
	err = s.cfg.Store.Batch(ctx, func(tx *store.Tx) error {
		refused = nil
		if _, err := tx.SweepSignIns(now.Add(-sweepGrace), sweepLimit); err != nil {
			return err
		}
		c, err := s.usable(tx, appID, sessionID)
		if errors.As(err, &refused) {
			return nil
		}
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(code), []byte(c.Code)) != 1 {
			c.Failures++
			c.Burned = c.Failures >= MaxFailures
			refused = &Error{AppID: appID, SessionID: sessionID, Reason: WrongCode, AttemptsLeft: MaxFailures - c.Failures}
			if c.Burned {
				refused.Reason = Burned
			}
			return tx.PutChallenge(c)
		}
		c.Used = true
		if err := tx.PutChallenge(c); err != nil {
			return err
		}
		issued := session
		issued.Creator = c.Creator
		return tx.InsertSession(issued)
	})
	if err != nil {
		return Credentials{}, fmt.Errorf("exchange sign-in challenge: %w", err)
	}
	if refused != nil {
		return Credentials{}, refused
	}
	return Credentials{AccessKeyID: id, SecretAccessKey: secret, AppID: appID, Expiration: session.Expires}, nil
}

// Lookup implements caller.Keys for sign-in sessions. A session whose
// creating key is gone (or may do nothing) is unknown; one past its expiry (or its creator's)
// is returned with that expiry, so the signature check answers
// ExpiredTokenException. A store that cannot be read is an error, not an
// unknown key: the client is told to try again rather than that its
// credentials are bad.
func (s *Service) Lookup(ctx context.Context, id string) (caller.Key, bool, error) {
	if !IsSessionKey(id) {
		return caller.Key{}, false, nil
	}
	var sess store.SignInSession
	err := s.cfg.Store.View(ctx, func(tx *store.Tx) (err error) {
		sess, err = tx.SignInSession(id)
		return err
	})
	var missing *store.NotFoundError
	if errors.As(err, &missing) {
		return caller.Key{}, false, nil
	}
	if err != nil {
		return caller.Key{}, false, fmt.Errorf("look up sign-in session key: %w", err)
	}
	creator, ok, err := s.cfg.Creators.Lookup(ctx, sess.Creator)
	if err != nil || !ok || creator.Policy == nil {
		return caller.Key{}, false, err
	}
	expires := sess.Expires
	if !creator.Expires.IsZero() && creator.Expires.Before(expires) {
		expires = creator.Expires
	}
	policy := s.appPolicy(sess.AppID).Within(creator.Policy)
	return caller.Key{Secret: sess.Secret, Name: SessionName(sess.AppID, sess.SessionID), Policy: policy, Expires: expires}, true, nil
}

// SessionName is how logs and the console name a session's key.
func SessionName(appID, sessionID string) string {
	return "session:" + appID + ":" + sessionID[:min(8, len(sessionID))]
}

// sessionKeyPrefix starts every session's access key id, as AWS's
// temporary credentials start with ASIA: long-lived keys never do, so a
// lookup of one costs no store read.
const sessionKeyPrefix = "ASIA"

// IsSessionKey reports whether id has the form of a session's key.
func IsSessionKey(id string) bool {
	return len(id) == len(sessionKeyPrefix)+16 && id[:len(sessionKeyPrefix)] == sessionKeyPrefix
}

// randomCode is a challenge code: 128 random bits in hex, easy to paste
// and to carry in a link.
func randomCode() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random challenge code: %w", err)
	}
	return hex.EncodeToString(b), nil
}
