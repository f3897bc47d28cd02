package store

import (
	"reflect"
	"testing"
	"time"
)

func TestScopes(t *testing.T) {
	f := setup(t)
	base := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	jobs := []struct{ id, app, env string }{
		{"1", "app", "dev"}, {"2", "app", "prod"}, {"3", "app", "dev"},
		{"4", "other", "dev"}, {"5", "app", "dev\x01x"}, {"6", "ap", "dev"},
	}
	for i, j := range jobs {
		job := newJob(j.id, j.app, j.env, "r", StatusCompleted)
		job.CreateTime = base.Add(time.Duration(i) * time.Minute)
		f.mustUpdate(func(tx *Tx) error { return tx.InsertJob(job) })
	}
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

func TestScopesEmpty(t *testing.T) {
	f := setup(t)
	var got []Scope
	if err := f.s.View(f.ctx, func(tx *Tx) (err error) { got, err = tx.Scopes(); return }); err != nil || got != nil {
		t.Fatalf("empty store: %v, %v", got, err)
	}
}
