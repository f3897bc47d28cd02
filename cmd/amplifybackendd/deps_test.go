package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLinksNoTestPackages: every package linked into the binary is
// initialised at each start, whatever the command and the store, so what
// only tests and the load tools use (an etcd server to test against, its
// raft, our test servers, fault injectors and load generator, the testing
// package itself) must never reach it through a stray import.
func TestBinaryLinksNoTestPackages(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the binary's packages")
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/amplifybackendd/amplifybackendd/"
	forbidden := []string{
		"testing", "net/http/httptest",
		"go.etcd.io/etcd/server/", "go.etcd.io/raft/",
		module + "internal/etcdtest", module + "internal/testserver", module + "internal/testcert",
		module + "internal/faultproxy", module + "internal/boltdamage", module + "internal/load",
		module + "embedded/embeddedtest", module + "embedded/lifecycletest",
	}
	for pkg := range strings.Lines(string(out)) {
		pkg = strings.TrimSpace(pkg)
		for _, f := range forbidden {
			if pkg == f || strings.HasPrefix(pkg, strings.TrimSuffix(f, "/")+"/") {
				t.Errorf("the binary links %s, which only tests and load tools use", pkg)
			}
		}
	}
}
