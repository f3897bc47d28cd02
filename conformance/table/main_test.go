package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRewritesOnlyTheTableSection(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "results")
	os.MkdirAll(res, 0o755)
	os.WriteFile(filepath.Join(res, "b.json"), []byte(`{"variant":"b","client":"boto3","version":"1.0","checks":[
		{"check":"create_named","ok":true},{"check":"create_derived","ok":false},{"check":"paginate_paginator","ok":true}]}`), 0o644)
	os.WriteFile(filepath.Join(res, "a.json"), []byte(`{"variant":"a","client":"cli","version":"2","checks":[
		{"check":"create_named","ok":true},{"check":"create_derived","ok":true}]}`), 0o644)
	readme := filepath.Join(dir, "README.md")
	os.WriteFile(readme, []byte("before\n"+startMark+"\nold table\n"+endMark+"\nafter\n"), 0o644)
	if err := run(res, readme); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(readme)
	doc := string(b)
	for _, want := range []string{
		"before\n" + startMark + "\n| operation / behaviour | cli 2 | boto3 1.0 |",
		"| CreateBackendStorage (named and derived bucket) | ✅ | ❌ |",
		"| Pagination, 60 jobs, exactly once, newest first | – | ✅ |",
		endMark + "\nafter\n",
	} {
		if !strings.Contains(doc, want) {
			t.Fatalf("README lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "old table") {
		t.Fatal("old table kept")
	}
}
