package main

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// occupied returns a loopback address another listener holds for the test.
func occupied(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func mustConfig(t *testing.T, args ...string) config {
	t.Helper()
	cfg, err := parseConfig(args)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPortClashNamesEveryFlagAndLeavesNewDataDirAbsent(t *testing.T) {
	t.Parallel()
	api, s3, metrics := occupied(t), occupied(t), occupied(t)
	dir := filepath.Join(t.TempDir(), "new")
	cfg := mustConfig(t, "--data-dir", dir, "--listen", api, "--embedded-s3-listen", s3, "--embedded-iam-listen", "127.0.0.1:0", "--metrics-listen", metrics)
	err := run(context.Background(), cfg)
	if err == nil {
		t.Fatal("started on taken ports")
	}
	for _, want := range []string{api + " is in use (choose another --listen)", s3 + " is in use (choose another --embedded-s3-listen)",
		metrics + " is in use (choose another --metrics-listen)"} {
		if strings.Count(err.Error(), want) != 1 {
			t.Errorf("error does not say %q once: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "--embedded-iam-listen") {
		t.Errorf("the free IAM address is blamed: %v", err)
	}
	if _, serr := os.Stat(dir); !errors.Is(serr, fs.ErrNotExist) {
		t.Fatalf("a refused start created the data directory: %v", serr)
	}
}

func TestPortClashOnlyForAddressesTheModeUses(t *testing.T) {
	t.Parallel()
	cfg := mustConfig(t, "--target", "external", "--listen", "127.0.0.1:0", "--embedded-s3-listen", occupied(t), "--embedded-iam-listen", occupied(t))
	lns, err := listenAll(cfg.listenAddrs())
	if err != nil {
		t.Fatalf("external target refused for embedded addresses it never binds: %v", err)
	}
	closeAll(lns)
}

func TestSameAddressForTwoFlags(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().String()
	ln.Close()
	_, err = listenAll([]listenAddr{{"listen", free}, {"embedded-s3-listen", free}})
	if err == nil || err.Error() != free+" is given to both --listen and --embedded-s3-listen" {
		t.Fatalf("got %v", err)
	}
	// All or nothing: the first address was released again.
	lns, err := listenAll([]listenAddr{{"listen", free}})
	if err != nil {
		t.Fatalf("first address still held after the refusal: %v", err)
	}
	closeAll(lns)
}

func TestSecondClaimOnDataDirNamesTheHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lock, lns, err := claim(dir, mustConfig(t, "--target", "external", "--listen", "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	defer closeAll(lns)
	// Its ports clash too, but the directory is what to report.
	_, _, err = claim(dir, mustConfig(t, "--target", "external", "--listen", lns[0].Addr().String()))
	want := "data directory " + dir + " is in use by process " + strconv.Itoa(os.Getpid()) + " (amplifybackendd, API on 127.0.0.1:0, since "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "; stop it or choose another --data-dir") {
		t.Fatalf("second claim: %v", err)
	}
}
