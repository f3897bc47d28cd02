package store

import (
	"reflect"
	"testing"
	"time"
)

func TestScopes(t *testing.T) { forEachEngine(t, testScopes) }

func testScopes(f *fixture) {
	t := f.t
	base := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	jobs := []struct{ id, app, env string }{
		{"1", "app", "dev"}, {"2", "app", "prod"}, {"3", "app", "dev"},
		{"4", "other", "dev"}, {"5", "app", "dev\x01x"}, {"6", "ap", "dev"},
	}
	for i, j := range jobs {
		job := newJob(j.id, j.app, j.env, "r", StatusCompleted)
		job.CreateTime = base.Add(time.Duration(i) * time.Minute)
		f.mustUpdate(func(tx *Tx) error {
			if _, err := tx.EnsureEnvironment(j.app, j.env, base); err != nil {
				return err
			}
			return tx.InsertJob(job)
		})
	}
	// Jobs of an environment that no longer exists (DeleteBackend removed
	// its record) are kept, but the environment is not listed.
	gone := newJob("7", "gone", "dev", "r", StatusCompleted)
	f.mustUpdate(func(tx *Tx) error { return tx.InsertJob(gone) })
	var got []Scope
	if err := f.s.View(f.ctx, func(tx *Tx) (err error) { got, err = tx.Scopes(); return }); err != nil {
		t.Fatal(err)
	}
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	want := []Scope{
		{"ap", "dev", at(5)},
		{"app", "dev", at(2)},
		{"app", "dev\x01x", at(4)},
		{"app", "prod", at(1)},
		{"other", "dev", at(3)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Scopes() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestScopesEmpty(t *testing.T) { forEachEngine(t, testScopesEmpty) }

func testScopesEmpty(f *fixture) {
	t := f.t
	var got []Scope
	if err := f.s.View(f.ctx, func(tx *Tx) (err error) { got, err = tx.Scopes(); return }); err != nil || got != nil {
		t.Fatalf("empty store: %v, %v", got, err)
	}
}

// TestScopesIncludeRecordedEnvironments: an environment that exists but
// has no kept job (CreateBackend recorded it and nothing ran since the
// sweep, say) is listed too, in key order among those with jobs, dated by
// its creation.
func TestScopesIncludeRecordedEnvironments(t *testing.T) {
	forEachEngine(t, testScopesIncludeRecordedEnvironments)
}

func testScopesIncludeRecordedEnvironments(f *fixture) {
	t := f.t
	made := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	err := f.s.Update(f.ctx, func(tx *Tx) error {
		for _, sc := range [][2]string{{"a", "z-only-record"}, {"0first", "dev"}, {"m", "dev"}} {
			if _, err := tx.EnsureEnvironment(sc[0], sc[1], made); err != nil {
				return err
			}
		}
		return tx.InsertJob(Job{ID: "j1", AppID: "m", Env: "dev", Resource: "r", Operation: OpCreate, Status: StatusCompleted,
			CreateTime: made.Add(time.Hour), UpdateTime: made.Add(time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []Scope
	if err := f.s.View(f.ctx, func(tx *Tx) (err error) { got, err = tx.Scopes(); return }); err != nil {
		t.Fatal(err)
	}
	want := []Scope{{"0first", "dev", made}, {"a", "z-only-record", made}, {"m", "dev", made.Add(time.Hour)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Scopes() =\n%+v\nwant\n%+v", got, want)
	}
}
