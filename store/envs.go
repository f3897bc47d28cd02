package store

import (
	"bytes"
	"fmt"
	"time"
)

// App is what is recorded of an app beyond the work done in it: the name
// CreateBackend gave it (GetBackend's appName), and the app-wide job that
// holds it.
type App struct {
	AppID string
	// Name is empty for an app known only through its storage.
	Name string
	// ActiveJob is the RemoveAllBackends job removing the app; while it
	// runs, no job is accepted in any of its environments.
	ActiveJob string
	// Clean is set by a RemoveAllBackends with cleanAmplifyApp: when it
	// completes, the app's record (its name) goes too.
	Clean      bool
	CreateTime time.Time
}

// Environment is a backend environment of an app. It is recorded by
// CreateBackend, by the first storage resource made in it, and (for data
// directories of earlier releases) by migration 6; DeleteBackend and
// RemoveAllBackends remove it.
type Environment struct {
	AppID string
	Env   string
	// ActiveJob is the whole-environment job (CreateBackend, CloneBackend,
	// DeleteBackend, RemoveAllBackends) that holds the environment: while
	// it runs, no job is accepted on any of its resources.
	ActiveJob string
	// Creating is true from a CreateBackend or CloneBackend's acceptance
	// until it completes: a failed or cancelled one removes the record.
	Creating   bool
	CreateTime time.Time
}

// EnvironmentExistsError is a CreateBackend or CloneBackend whose
// environment is already recorded.
type EnvironmentExistsError struct{ AppID, Env string }

func (e *EnvironmentExistsError) Error() string {
	return fmt.Sprintf("environment %q of app %q already exists", e.Env, e.AppID)
}

// Is makes errors.Is(err, ErrAlreadyExists) true.
func (e *EnvironmentExistsError) Is(target error) bool { return target == ErrAlreadyExists }

// App returns the app's record; ok is false when none is recorded.
func (t *Tx) App(appID string) (a App, ok bool, err error) {
	v := t.kv.Bucket(bucketApps).Get([]byte(appID))
	if v == nil {
		return App{}, false, nil
	}
	a, err = decodeApp(appID, v)
	return a, err == nil, err
}

func decodeApp(appID string, v []byte) (App, error) {
	d, f := sealed(v)
	d.format(f)
	a := App{AppID: appID, Name: d.str(), ActiveJob: d.str()}
	a.Clean = d.flags()&1 != 0
	a.CreateTime = d.time()
	if d.err != nil {
		return App{}, fmt.Errorf("app %q: %w", appID, d.err)
	}
	return a, nil
}

// PutApp records a.
func (t *Tx) PutApp(a App) error {
	if err := checkNames(a.AppID, a.Name); err != nil {
		return err
	}
	e := encoder{b: []byte{recordFormat}}
	e.str(a.Name)
	e.str(a.ActiveJob)
	e.flags(a.Clean)
	e.time(a.CreateTime)
	return t.kv.Bucket(bucketApps).Put([]byte(a.AppID), seal(e.b))
}

// DeleteApp removes the app's record; its environments are the caller's.
func (t *Tx) DeleteApp(appID string) error {
	return t.kv.Bucket(bucketApps).Delete([]byte(appID))
}

// Environment returns the environment's record; ok is false when none is
// recorded.
func (t *Tx) Environment(appID, env string) (e Environment, ok bool, err error) {
	v := t.kv.Bucket(bucketByEnv).Get(envRecordKey(appID, env))
	if v == nil {
		return Environment{}, false, nil
	}
	e, err = decodeEnvironment(appID, env, v)
	return e, err == nil, err
}

func decodeEnvironment(appID, env string, v []byte) (Environment, error) {
	d, f := sealed(v)
	d.format(f)
	e := Environment{AppID: appID, Env: env, ActiveJob: d.str()}
	e.Creating = d.flags()&1 != 0
	e.CreateTime = d.time()
	if d.err != nil {
		return Environment{}, fmt.Errorf("environment %q of app %q: %w", env, appID, d.err)
	}
	return e, nil
}

// PutEnvironment records e.
func (t *Tx) PutEnvironment(e Environment) error {
	if err := checkNames(e.AppID, e.Env); err != nil {
		return err
	}
	return t.kv.Bucket(bucketByEnv).Put(envRecordKey(e.AppID, e.Env), encodeEnvironment(e))
}

func encodeEnvironment(e Environment) []byte {
	enc := encoder{b: []byte{recordFormat}}
	enc.str(e.ActiveJob)
	enc.flags(e.Creating)
	enc.time(e.CreateTime)
	return seal(enc.b)
}

// DeleteEnvironment removes the environment's record; its resources are
// the caller's.
func (t *Tx) DeleteEnvironment(appID, env string) error {
	return t.kv.Bucket(bucketByEnv).Delete(envRecordKey(appID, env))
}

// Environments lists the recorded environments of an app in name order.
// It reads each environment's first key, where its record is when it has
// one, and seeks past the rest.
func (t *Tx) Environments(appID string) ([]Environment, error) {
	var out []Environment
	c := t.kv.Bucket(bucketByEnv).Within(appPrefix(appID))
	for k, v := c.First(); k != nil; {
		prefix, tag, _, ok := splitTreeKey(k)
		if !ok {
			return nil, malformedTreeKey(k)
		}
		if tag == tagEnv {
			_, env := prefixNames(prefix)
			e, err := decodeEnvironment(appID, env, v)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		k, v = c.Seek(pastEnv(prefix))
	}
	return out, nil
}

// EnsureEnvironment records the environment if it is not yet; the first
// storage resource made in it does (CreateResource).
func (t *Tx) EnsureEnvironment(appID, env string, now time.Time) (Environment, error) {
	e, ok, err := t.Environment(appID, env)
	if err != nil || ok {
		return e, err
	}
	e = Environment{AppID: appID, Env: env, CreateTime: now}
	return e, t.PutEnvironment(e)
}

// recordEnvironments is migration 6: every environment that has a
// resource or recorded roles gets an environment record, so whole
// environments made by earlier releases can be deleted and cloned; and
// imported buckets are indexed under their resource too (bucketIndexKey),
// so one bucket can be imported into several environments.
func recordEnvironments(tx kvTx) error {
	for _, b := range [][]byte{bucketApps, bucketEnvs} {
		if _, err := tx.CreateBucket(b); err != nil {
			return err
		}
	}
	envs, index := tx.Bucket(bucketEnvs), tx.Bucket(bucketBuckets)
	add := func(appID, env string, since time.Time) error {
		k := envKey(appID, env)
		if v := envs.Get(k); v != nil {
			if e, err := decodeEnvironment(appID, env, v); err == nil && !e.CreateTime.After(since) {
				return nil
			}
		}
		return envs.Put(k, encodeEnvironment(Environment{AppID: appID, Env: env, CreateTime: since}))
	}
	err := tx.Bucket(bucketResources).ForEach(func(k, v []byte) error {
		r, err := decodeResource(v)
		if err != nil {
			return fmt.Errorf("resource %q: %w", k, err)
		}
		if r.Imported {
			if err := index.Delete([]byte(r.Bucket)); err != nil {
				return err
			}
			if err := index.Put(bucketIndexKey(r), k); err != nil {
				return err
			}
		}
		return add(r.AppID, r.Env, r.CreateTime)
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketEnvRoles).ForEach(func(k, _ []byte) error {
		app, env, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("malformed environment roles key %q", k)
		}
		if envs.Get(k) != nil {
			return nil
		}
		return add(string(app), string(env), time.Time{})
	})
}
