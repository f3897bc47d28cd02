package store

import (
	"bytes"
	"fmt"
	"time"
)

// Scope is an app and environment that exists (its record) or in which a
// job was recorded, with the time of its newest job (of its creation, when
// no job of it is kept).
type Scope struct {
	AppID   string
	Env     string
	LastJob time.Time
}

// Scopes lists every app and environment that is recorded or has jobs, in
// key order: an environment whose jobs the retention sweep removed, or that
// CreateBackend made and nothing has used yet, is still one. It reads the
// environment records and one index entry and one job per environment,
// skipping over the rest of each environment's jobs, so it costs the number
// of environments, not of jobs.
func (t *Tx) Scopes() ([]Scope, error) {
	withJobs, err := t.scopesWithJobs()
	if err != nil {
		return nil, err
	}
	var out []Scope
	i := 0
	err = t.tx.Bucket(bucketEnvs).ForEach(func(k, v []byte) error {
		app, env, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("malformed environment key %q", k)
		}
		rec := Scope{AppID: string(app), Env: string(env)}
		for i < len(withJobs) && scopeLess(withJobs[i], rec) {
			out = append(out, withJobs[i])
			i++
		}
		if i < len(withJobs) && withJobs[i].AppID == rec.AppID && withJobs[i].Env == rec.Env {
			out = append(out, withJobs[i])
			i++
			return nil
		}
		e, err := decodeEnvironment(rec.AppID, rec.Env, v)
		if err != nil {
			return err
		}
		rec.LastJob = e.CreateTime
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append(out, withJobs[i:]...), nil
}

// scopeLess orders scopes as their keys sort: app \x00 env.
func scopeLess(a, b Scope) bool {
	return bytes.Compare(envKey(a.AppID, a.Env), envKey(b.AppID, b.Env)) < 0
}

// scopesWithJobs lists every app and environment that has jobs (the same
// test as CheckScope), in key order.
func (t *Tx) scopesWithJobs() ([]Scope, error) {
	var out []Scope
	c := t.tx.Bucket(bucketJobsByEnv).Cursor()
	jobs := t.tx.Bucket(bucketJobs)
	for k, v := c.First(); k != nil; {
		// k is app \x00 env \x00 ^seq (8 bytes); names never hold NUL.
		if len(k) < 10 {
			return nil, fmt.Errorf("malformed job index key %q", k)
		}
		prefix := k[:len(k)-8]
		app, env, ok := bytes.Cut(prefix[:len(prefix)-1], []byte{0})
		if !ok {
			// app \x00 ^seq: a job of the whole app (RemoveAllBackends),
			// which names no environment. Its ^seq starts with 0xff, so
			// these sort after the app's environments; the app is known
			// through them.
			k, v = c.Next()
			continue
		}
		j, err := decodeIndexed(jobs, v)
		if err != nil {
			return nil, err
		}
		// The first key of an environment is its newest job.
		out = append(out, Scope{AppID: string(app), Env: string(env), LastJob: j.CreateTime})
		// Skip to the first key past this environment: replacing the final
		// NUL of the prefix by \x01 sorts after every key that carries it.
		next := append(bytes.Clone(prefix[:len(prefix)-1]), 1)
		k, v = c.Seek(next)
	}
	return out, nil
}
