package store

import (
	"bytes"
	"fmt"
	"time"
)

// Challenge is a one-time sign-in challenge (the API's CreateToken): whoever
// holds its session id and code may exchange them, once, for temporary
// credentials scoped to its app. It is kept after its exchange, marked
// Used, for as long as credentials issued from it live, so DeleteToken can
// still end them and a replay is told the challenge was used.
type Challenge struct {
	SessionID string
	AppID     string
	Code      string
	// Creator is the access key id of the key that created the challenge;
	// sessions issued from it never do more than that key may now.
	Creator    string
	CreateTime time.Time
	Expires    time.Time
	// Failures counts the wrong codes presented; at the limit the
	// challenge is Burned.
	Failures int
	// Used is set by the one exchange the challenge allows.
	Used bool
	// Burned is set when too many wrong codes were presented.
	Burned bool
}

// SignInSession is the temporary credentials one exchange of a challenge
// issued.
type SignInSession struct {
	AccessKeyID string
	Secret      string
	AppID       string
	// SessionID is the challenge's: DeleteToken on it ends the session.
	SessionID  string
	Creator    string
	CreateTime time.Time
	Expires    time.Time
}

// Challenge returns the challenge with session id id.
func (t *Tx) Challenge(id string) (Challenge, error) {
	v := t.kv.Bucket(bucketChallenges).Get([]byte(id))
	if v == nil {
		return Challenge{}, &NotFoundError{Kind: KindChallenge, Name: id}
	}
	c, err := decodeChallenge(v)
	if err != nil {
		return Challenge{}, fmt.Errorf("challenge %q: %w", id, err)
	}
	return c, nil
}

// PutChallenge writes c, new or changed.
func (t *Tx) PutChallenge(c Challenge) error {
	if err := checkNames(c.SessionID, c.AppID); err != nil {
		return err
	}
	if c.SessionID == "" {
		return classed(ErrInvalid, "a challenge needs a session id")
	}
	return t.kv.Bucket(bucketChallenges).Put([]byte(c.SessionID), encodeChallenge(c))
}

// DeleteChallenge removes the challenge with session id id and ends every
// session issued from it, returning how many it ended.
func (t *Tx) DeleteChallenge(id string) (int, error) {
	if t.kv.Bucket(bucketChallenges).Get([]byte(id)) == nil {
		return 0, &NotFoundError{Kind: KindChallenge, Name: id}
	}
	ended, err := t.endSessionsOf(id)
	if err != nil {
		return ended, err
	}
	return ended, t.kv.Bucket(bucketChallenges).Delete([]byte(id))
}

// endSessionsOf removes the sessions issued from challenge id.
func (t *Tx) endSessionsOf(id string) (int, error) {
	prefix := []byte(id + "\x00")
	var keys [][]byte
	c := t.kv.Bucket(bucketSessionsByChallenge).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := t.kv.Bucket(bucketSessions).Delete(k[len(prefix):]); err != nil {
			return 0, err
		}
		if err := t.kv.Bucket(bucketSessionsByChallenge).Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// SignInSession returns the session of access key id id.
func (t *Tx) SignInSession(id string) (SignInSession, error) {
	v := t.kv.Bucket(bucketSessions).Get([]byte(id))
	if v == nil {
		return SignInSession{}, &NotFoundError{Kind: KindSession, Name: id}
	}
	s, err := decodeSession(v)
	if err != nil {
		return SignInSession{}, fmt.Errorf("sign-in session %q: %w", id, err)
	}
	return s, nil
}

// InsertSession records a new session, with its entry in its challenge's
// index. The challenge must exist: a session nothing can end is refused.
func (t *Tx) InsertSession(s SignInSession) error {
	if err := checkNames(s.AccessKeyID, s.SessionID); err != nil {
		return err
	}
	if t.kv.Bucket(bucketChallenges).Get([]byte(s.SessionID)) == nil {
		return &NotFoundError{Kind: KindChallenge, Name: s.SessionID}
	}
	if t.kv.Bucket(bucketSessions).Get([]byte(s.AccessKeyID)) != nil {
		return classed(ErrAlreadyExists, "sign-in session %q already exists", s.AccessKeyID)
	}
	if err := t.kv.Bucket(bucketSessions).Put([]byte(s.AccessKeyID), encodeSession(s)); err != nil {
		return err
	}
	return t.kv.Bucket(bucketSessionsByChallenge).Put(sessionIndexKey(s), nil)
}

// SweepSignIns removes at most limit records that expired before cutoff
// (fewer on etcd, so the call stays well inside one Txn: limits.go):
// sessions first, then challenges that no live session was issued from
// (a challenge stays while its sessions do, so DeleteToken can end them).
// It returns how many it removed; running it again is harmless.
func (t *Tx) SweepSignIns(cutoff time.Time, limit int) (int, error) {
	limit = boundedOnEtcd(t.kv.etcd != nil, limit, signInRemovalWrites)
	sessions, challenges := t.kv.Bucket(bucketSessions), t.kv.Bucket(bucketChallenges)
	index := t.kv.Bucket(bucketSessionsByChallenge)
	var gone []SignInSession
	c := sessions.Cursor()
	for k, v := c.First(); k != nil && len(gone) < limit; k, v = c.Next() {
		s, err := decodeSession(v)
		if err != nil {
			return 0, fmt.Errorf("sign-in session %q: %w", k, err)
		}
		if s.Expires.Before(cutoff) {
			gone = append(gone, s)
		}
	}
	for _, s := range gone {
		if err := sessions.Delete([]byte(s.AccessKeyID)); err != nil {
			return 0, err
		}
		if err := index.Delete(sessionIndexKey(s)); err != nil {
			return 0, err
		}
	}
	var ids [][]byte
	c = challenges.Cursor()
	for k, v := c.First(); k != nil && len(gone)+len(ids) < limit; k, v = c.Next() {
		ch, err := decodeChallenge(v)
		if err != nil {
			return len(gone), fmt.Errorf("challenge %q: %w", k, err)
		}
		prefix := []byte(ch.SessionID + "\x00")
		if issued, _ := index.Cursor().Seek(prefix); ch.Expires.Before(cutoff) && !bytes.HasPrefix(issued, prefix) {
			ids = append(ids, append([]byte(nil), k...))
		}
	}
	for _, id := range ids {
		if err := challenges.Delete(id); err != nil {
			return len(gone), err
		}
	}
	return len(gone) + len(ids), nil
}

// hasKey reports whether b holds k; an index entry's value is empty,
// which Get does not tell from a missing key.
func hasKey(b kvBucket, k []byte) bool {
	found, _ := b.Cursor().Seek(k)
	return bytes.Equal(found, k)
}

// sessionIndexKey is the session's entry under its challenge:
// challenge session id \x00 access key id.
func sessionIndexKey(s SignInSession) []byte {
	return []byte(s.SessionID + "\x00" + s.AccessKeyID)
}

func encodeChallenge(c Challenge) []byte {
	e := encoder{b: make([]byte, 0, 128)}
	e.b = append(e.b, recordFormat)
	e.str(c.SessionID)
	e.str(c.AppID)
	e.str(c.Code)
	e.str(c.Creator)
	e.time(c.CreateTime)
	e.time(c.Expires)
	e.uvarint(uint64(c.Failures))
	e.flags(c.Used, c.Burned)
	return seal(e.b)
}

func decodeChallenge(b []byte) (Challenge, error) {
	d, f := sealed(b)
	d.format(f)
	var c Challenge
	c.SessionID, c.AppID, c.Code, c.Creator = d.str(), d.str(), d.str(), d.str()
	c.CreateTime, c.Expires = d.time(), d.time()
	c.Failures = int(d.uvarint())
	fl := d.flags()
	c.Used, c.Burned = fl&1 != 0, fl&2 != 0
	if d.err != nil {
		return Challenge{}, d.err
	}
	return c, nil
}

func encodeSession(s SignInSession) []byte {
	e := encoder{b: make([]byte, 0, 160)}
	e.b = append(e.b, recordFormat)
	e.str(s.AccessKeyID)
	e.str(s.Secret)
	e.str(s.AppID)
	e.str(s.SessionID)
	e.str(s.Creator)
	e.time(s.CreateTime)
	e.time(s.Expires)
	return seal(e.b)
}

func decodeSession(b []byte) (SignInSession, error) {
	d, f := sealed(b)
	d.format(f)
	var s SignInSession
	s.AccessKeyID, s.Secret, s.AppID, s.SessionID, s.Creator = d.str(), d.str(), d.str(), d.str(), d.str()
	s.CreateTime, s.Expires = d.time(), d.time()
	if d.err != nil {
		return SignInSession{}, d.err
	}
	return s, nil
}

// createSignInBuckets is migration 5.
func createSignInBuckets(tx kvTx) error {
	for _, b := range [][]byte{bucketChallenges, bucketSessions, bucketSessionsByChallenge} {
		if _, err := tx.CreateBucket(b); err != nil {
			return err
		}
	}
	return nil
}

// checkSignIns holds every challenge and session to its key and seal,
// every session to its index entry and its challenge, and the index to
// the sessions (integrity.go).
func checkSignIns(btx kvTx, damaged func(string, ...any) error) error {
	challenges, sessions, index := btx.Bucket(bucketChallenges), btx.Bucket(bucketSessions), btx.Bucket(bucketSessionsByChallenge)
	err := challenges.ForEach(func(k, v []byte) error {
		if c, err := decodeChallenge(v); err != nil || string(k) != c.SessionID {
			return damaged("challenge %q does not verify (checksum, encoding or key)", k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	n := 0
	err = sessions.ForEach(func(k, v []byte) error {
		s, err := decodeSession(v)
		if err != nil || string(k) != s.AccessKeyID {
			return damaged("sign-in session %q does not verify (checksum, encoding or key)", k)
		}
		if !hasKey(index, sessionIndexKey(s)) || challenges.Get([]byte(s.SessionID)) == nil {
			return damaged("sign-in session %q has no index entry or no challenge", k)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if m := index.KeyN(); m != n {
		return damaged("the sign-in session index has %d entries for %d sessions", m, n)
	}
	return nil
}
