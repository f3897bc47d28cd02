package store

import (
	"bytes"
	"time"
)

// Scope is an app and environment that exists (is recorded; see
// Environment), with the time of its newest job, or of its creation when
// no job of it is kept.
type Scope struct {
	AppID   string
	Env     string
	LastJob time.Time
}

// Scopes lists every environment that exists, in key order: one that
// DeleteBackend removed is gone even though its jobs are kept, and one
// whose jobs the retention sweep removed, or that CreateBackend made and
// nothing has used yet, is still there. It reads each environment's record
// and its newest job (the first entry of its part of the job index), so it
// costs the number of environments, not of jobs.
func (t *Tx) Scopes() ([]Scope, error) {
	var out []Scope
	jobs := t.kv.Bucket(bucketJobs)
	c := t.kv.Bucket(bucketByEnv).Cursor()
	for k, v := c.First(); k != nil; {
		prefix, tag, _, ok := splitTreeKey(k)
		if !ok {
			return nil, malformedTreeKey(k)
		}
		if tag != tagEnv {
			// Jobs kept of an environment removed, or of the whole app.
			k, v = c.Seek(pastEnv(prefix))
			continue
		}
		// The record comes first; the newest job, if any, right after it.
		app, env := prefixNames(prefix)
		sc, record := Scope{AppID: app, Env: env}, v
		if k, v = c.Next(); len(k) > len(prefix) && bytes.HasPrefix(k, prefix) && k[len(prefix)] == tagJob {
			j, err := decodeIndexed(jobs, v)
			if err != nil {
				return nil, err
			}
			sc.LastJob = j.CreateTime
		} else {
			e, err := decodeEnvironment(app, env, record)
			if err != nil {
				return nil, err
			}
			sc.LastJob = e.CreateTime
		}
		out = append(out, sc)
		k, v = c.Seek(pastEnv(prefix))
	}
	return out, nil
}
