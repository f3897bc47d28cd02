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
