//go:build ignore

// This program wrote store-v2.db, the store of a data directory as the
// release before role names were recorded (schema version 2) leaves it:
// three environments, each with a create accepted and not yet executed.
// Under that release's naming two of them (app "upgrade-a-b" environment
// "c", and app "upgrade-a" environment "b-c") share the roles
// amplify-upgrade-a-b-c-authRole and -unauthRole. It was run from a
// checkout of that release (commit 012b94b):
//
//	go run ./jobs/testdata/upgrade/generate.go jobs/testdata/upgrade/store-v2.db
//
// It is kept to show how the fixture was made; it builds only against that
// release.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/store"
)

func main() {
	if err := generate(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func generate(path string) error {
	st, err := store.Open(path)
	if err != nil {
		return err
	}
	defer st.Close()
	// Accepting needs no target; the jobs stay pending for the next release.
	r := jobs.New(st, nil, jobs.Config{})
	ctx := context.Background()
	for i, env := range []struct{ app, env string }{
		{"upgrade-a-b", "c"},  // oldest: keeps the role the two share
		{"upgrade-a", "b-c"},  // shares it
		{"UpgradeApp", "dev"}, // a role name IAM folds to "upgradeapp"
	} {
		_, err := r.Create(ctx, jobs.CreateInput{
			Key:         store.ResourceKey{AppID: env.app, Env: env.env, Name: "photos"},
			Bucket:      fmt.Sprintf("upgrade-fixture-%d", i+1),
			Permissions: store.Permissions{Authenticated: []string{"READ"}, Unauthenticated: []string{"READ"}},
		})
		if err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond) // distinct creation times, in this order
	}
	return nil
}
