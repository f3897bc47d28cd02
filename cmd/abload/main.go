// Command abload is a bounded load generator for amplifybackendd: many
// concurrent SigV4-signed clients send a mix of reads and job-starting writes
// to one server on this machine, then it checks that every accepted job is
// still known and settled, and prints throughput and p50/p99 per operation.
//
//	abload --endpoint http://127.0.0.1:8080 --credentials data/credentials --clients 64 --duration 60s
//
// It exits 1 when any answer was a 5xx or any accepted job was lost.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/load"
)

func main() {
	var cfg load.Config
	var credsFile, profile string
	flag.StringVar(&cfg.Endpoint, "endpoint", "http://127.0.0.1:8080", "API endpoint (loopback only: this is a load test)")
	flag.StringVar(&credsFile, "credentials", "data/credentials", "AWS shared-credentials file with the API key")
	flag.StringVar(&profile, "profile", "default", "profile in the credentials file")
	flag.IntVar(&cfg.Clients, "clients", 64, "concurrent clients")
	flag.DurationVar(&cfg.Duration, "duration", 60*time.Second, "how long to send")
	flag.Float64Var(&cfg.WriteShare, "write-share", 0.2, "fraction of requests that start jobs")
	flag.StringVar(&cfg.App, "app", "", "app id to work in (default: a new one)")
	flag.Parse()
	if err := load.CheckLoopback(cfg.Endpoint); err != nil {
		fmt.Fprintln(os.Stderr, "abload:", err)
		os.Exit(2)
	}
	creds, err := credfile.Profile(credsFile, profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "abload:", err)
		os.Exit(2)
	}
	cfg.Credentials = creds
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := load.Run(ctx, cfg)
	fmt.Print(rep)
	if err != nil {
		fmt.Fprintln(os.Stderr, "abload:", err)
		os.Exit(1)
	}
	if rep.ServerErrs > 0 || rep.Lost > 0 || rep.Unsettled > 0 {
		os.Exit(1)
	}
}
