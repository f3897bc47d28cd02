package store

import (
	"bytes"
	"fmt"
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
	index := t.kv.Bucket(bucketJobsByEnv).Cursor()
	jobs := t.kv.Bucket(bucketJobs)
	err := t.kv.Bucket(bucketEnvs).ForEach(func(k, v []byte) error {
		app, env, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("malformed environment key %q", k)
		}
		sc := Scope{AppID: string(app), Env: string(env)}
		prefix := append(bytes.Clone(k), 0)
		if ik, iv := index.Seek(prefix); ik != nil && bytes.HasPrefix(ik, prefix) {
			j, err := decodeIndexed(jobs, iv)
			if err != nil {
				return err
			}
			sc.LastJob = j.CreateTime
		} else {
			e, err := decodeEnvironment(sc.AppID, sc.Env, v)
			if err != nil {
				return err
			}
			sc.LastJob = e.CreateTime
		}
		out = append(out, sc)
		return nil
	})
	return out, err
}
