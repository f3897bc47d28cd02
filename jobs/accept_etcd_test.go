package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// TestAcceptAcrossReplicasOnEtcd: two replicas, each a runner over its
// own store on one etcd prefix, accept the same calls at once. One job
// per resource holds across them: of two creates of a resource, one is
// accepted, its job and resource written together, and the other is
// refused having written nothing; a change to a resource whose job is
// pending is refused by either replica, naming that job.
func TestAcceptAcrossReplicasOnEtcd(t *testing.T) {
	t.Parallel()
	endpoints := etcdtest.Start(t, 1).Endpoints()
	ctx := context.Background()
	var replicas [2]*Runner
	for i := range replicas {
		st, err := store.OpenEtcd(ctx, store.EtcdOptions{Endpoints: endpoints}, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		replicas[i] = New(st, nil, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}

	const resources = 8
	type outcome struct {
		job store.Job
		err error
	}
	var outcomes [resources][2]outcome
	var wg sync.WaitGroup
	for n := range resources {
		for i, r := range replicas {
			wg.Go(func() {
				k := store.ResourceKey{AppID: "app", Env: "dev", Name: fmt.Sprintf("r%d", n)}
				j, err := r.Create(ctx, CreateInput{Key: k, Bucket: fmt.Sprintf("bucket-%d", n)})
				outcomes[n][i] = outcome{j, err}
			})
		}
	}
	wg.Wait()

	for n, pair := range outcomes {
		k := store.ResourceKey{AppID: "app", Env: "dev", Name: fmt.Sprintf("r%d", n)}
		var won store.Job
		for _, o := range pair {
			switch {
			case o.err == nil && won.ID == "":
				won = o.job
			case o.err == nil:
				t.Fatalf("resource %s: both replicas accepted a create (jobs %s and %s)", k.Name, won.ID, o.job.ID)
			case !errors.Is(o.err, store.ErrAlreadyExists) && !errors.Is(o.err, store.ErrConflict):
				t.Fatalf("resource %s: the losing create: %v, want the resource taken", k.Name, o.err)
			}
		}
		if won.ID == "" {
			t.Fatalf("resource %s: no create accepted: %v", k.Name, pair)
		}
		for i, r := range replicas {
			var jobs []store.Job
			err := r.store.View(ctx, func(tx *store.Tx) (err error) {
				res, err := tx.Resource(k)
				if err == nil && res.ActiveJob != won.ID {
					err = fmt.Errorf("resource's job %s", res.ActiveJob)
				}
				if err == nil {
					jobs, _, err = tx.Jobs("app", "dev", nil, 100, func(j store.Job) bool { return j.Resource == k.Name })
				}
				return err
			})
			if err != nil || len(jobs) != 1 || jobs[0].ID != won.ID {
				t.Fatalf("resource %s read through replica %d: %d jobs (%v), want only the accepted %s", k.Name, i, len(jobs), err, won.ID)
			}
			_, err = r.Update(ctx, k, store.Permissions{Authenticated: []string{"READ"}})
			var pending *PendingJobError
			if !errors.As(err, &pending) || *pending != (PendingJobError{Resource: k, Job: won.ID}) {
				t.Fatalf("resource %s: an update through replica %d while its create is pending: %v", k.Name, i, err)
			}
		}
	}
}

// TestRemoveAllBackendsBoundOnEtcd: RemoveAllBackends holds every
// environment of its app in one etcd Txn. At store.EtcdEnvsPerCall
// environments it is accepted and holds them all; past it (here past what
// one Txn takes), it is refused naming the app, the count and the limit,
// and writes nothing (it used to fail inside etcd, "too many operations in
// txn request", an internal error the clients retried in vain).
func TestRemoveAllBackendsBoundOnEtcd(t *testing.T) {
	t.Parallel()
	endpoints := etcdtest.Start(t, 1).Endpoints()
	ctx := context.Background()
	st, err := store.OpenEtcd(ctx, store.EtcdOptions{Endpoints: endpoints}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := New(st, nil, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	envs := func(app string, n int) {
		t.Helper()
		for from := 0; from < n; from += 50 {
			err := st.Update(ctx, func(tx *store.Tx) error {
				for i := from; i < min(n, from+50); i++ {
					if err := tx.PutEnvironment(store.Environment{AppID: app, Env: fmt.Sprintf("e%d", i), CreateTime: time.Now()}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	envs("fits", store.EtcdEnvsPerCall)
	envs("big", 2*store.EtcdEnvsPerCall) // more than one Txn takes

	j, err := r.RemoveAllBackends(ctx, "fits", false)
	if err != nil {
		t.Fatalf("RemoveAllBackends of %d environments: %v", store.EtcdEnvsPerCall, err)
	}
	var held []store.Environment
	if err := st.View(ctx, func(tx *store.Tx) (err error) { held, err = heldEnvs(tx, j); return err }); err != nil || len(held) != store.EtcdEnvsPerCall {
		t.Fatalf("the job holds %d environments (%v), want %d", len(held), err, store.EtcdEnvsPerCall)
	}

	_, err = r.RemoveAllBackends(ctx, "big", false)
	var tooMany *TooManyEnvironmentsError
	if !errors.As(err, &tooMany) || !errors.Is(err, store.ErrInvalid) || tooMany.Count != 2*store.EtcdEnvsPerCall || tooMany.Max != store.EtcdEnvsPerCall {
		t.Fatalf("RemoveAllBackends of %d environments: %v, want TooManyEnvironmentsError", 2*store.EtcdEnvsPerCall, err)
	}
	err = st.View(ctx, func(tx *store.Tx) error {
		all, err := tx.Environments("big")
		for _, e := range all {
			if e.ActiveJob != "" {
				return fmt.Errorf("environment %s held by %s", e.Env, e.ActiveJob)
			}
		}
		if _, ok, _ := tx.App("big"); ok {
			return errors.New("the refused call recorded the app")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCloneBackendBoundOnEtcd: a CloneBackend records a copy of every
// storage resource of its source in the transaction that accepts it. On
// etcd an environment of store.EtcdResourcesPerClone resources is cloned,
// and the rollback's removal of the copies fits one transaction too; one
// of more is refused, naming the count and the limit, and nothing is
// written (it was refused by etcd, "too many operations in txn request",
// an internal error the clients retried in vain).
func TestCloneBackendBoundOnEtcd(t *testing.T) {
	t.Parallel()
	endpoints := etcdtest.Start(t, 1).Endpoints()
	ctx := context.Background()
	st, err := store.OpenEtcd(ctx, store.EtcdOptions{Endpoints: endpoints}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := New(st, nil, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	resources := func(env string, n int) {
		t.Helper()
		for from := 0; from < n; from += 40 {
			err := st.Update(ctx, func(tx *store.Tx) error {
				now := time.Now()
				for i := from; i < min(n, from+40); i++ {
					err := tx.CreateResource(store.Resource{ResourceKey: store.ResourceKey{AppID: "app", Env: env, Name: fmt.Sprintf("r%03d", i)},
						Bucket: fmt.Sprintf("%s-bucket-%03d", env, i), Phase: store.PhaseActive, CreateTime: now, UpdateTime: now})
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	resources("fits", store.EtcdResourcesPerClone)
	resources("big", 2*store.EtcdResourcesPerClone) // more than one Txn takes

	j, err := r.CloneBackend(ctx, "app", "fits", "copy")
	if err != nil {
		t.Fatalf("CloneBackend of %d resources: %v", store.EtcdResourcesPerClone, err)
	}
	err = st.Update(ctx, func(tx *store.Tx) error {
		copied, err := tx.Resources("app", "copy")
		if err != nil || len(copied) != store.EtcdResourcesPerClone {
			return fmt.Errorf("the clone recorded %d resources (%v), want %d", len(copied), err, store.EtcdResourcesPerClone)
		}
		held, err := heldEnvs(tx, j)
		if err != nil {
			return err
		}
		for _, e := range held {
			if e.Creating {
				return removeEnvironment(tx, e) // what the rollback's settle writes
			}
		}
		return errors.New("the clone's new environment is not held")
	})
	if err != nil {
		t.Fatal(err)
	}

	_, err = r.CloneBackend(ctx, "app", "big", "bigcopy")
	var tooMany *TooManyResourcesError
	if !errors.As(err, &tooMany) || !errors.Is(err, store.ErrInvalid) || tooMany.Count != 2*store.EtcdResourcesPerClone || tooMany.Max != store.EtcdResourcesPerClone {
		t.Fatalf("CloneBackend of %d resources: %v, want TooManyResourcesError", 2*store.EtcdResourcesPerClone, err)
	}
	err = st.View(ctx, func(tx *store.Tx) error {
		if e, _, err := tx.Environment("app", "big"); err != nil || e.ActiveJob != "" {
			return fmt.Errorf("the refused clone's source: %+v, %v", e, err)
		}
		if _, ok, err := tx.Environment("app", "bigcopy"); err != nil || ok {
			return fmt.Errorf("the refused clone's target is recorded (%v)", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
