// Command abbench measures one amplifybackendd operation at a time with
// keep-alive clients on loopback and prints throughput and latency:
//
//	abbench --op healthz --clients 32 --duration 10s
//	abbench --op GetBackendStorage --app a --env e --resource r
//	abbench --op CreateBackendStorage --clients 64 --random-names --server-pid $(pgrep -n amplifybackendd)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/load"
)

func main() {
	var cfg load.BenchConfig
	var credsFile string
	flag.StringVar(&cfg.Endpoint, "endpoint", "http://127.0.0.1:8080", "API endpoint (loopback only)")
	flag.StringVar(&credsFile, "credentials", "data/credentials", "credentials file; profile default signs")
	flag.StringVar(&cfg.Op, "op", "healthz", "healthz, GetBackendStorage, GetBackendJob or CreateBackendStorage")
	flag.IntVar(&cfg.Clients, "clients", 32, "concurrent keep-alive clients")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to measure")
	flag.StringVar(&cfg.App, "app", "bench", "app id")
	flag.StringVar(&cfg.Env, "env", "dev", "environment (reads)")
	flag.StringVar(&cfg.Resource, "resource", "data", "resource name (GetBackendStorage)")
	flag.StringVar(&cfg.JobID, "job", "", "job id (GetBackendJob)")
	flag.BoolVar(&cfg.SignEach, "sign-each", false, "sign every read afresh instead of replaying one signed request per client")
	flag.BoolVar(&cfg.RandomNames, "random-names", false, "creates: environment and resource names in random order, instead of from one shared counter")
	flag.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's process id: report its CPU time per request over the window (Linux)")
	flag.Parse()
	if err := load.CheckLoopback(cfg.Endpoint); err != nil {
		fmt.Fprintln(os.Stderr, "abbench:", err)
		os.Exit(2)
	}
	creds, err := credfile.Profile(credsFile, "default")
	if err != nil {
		fmt.Fprintln(os.Stderr, "abbench:", err)
		os.Exit(2)
	}
	cfg.Credentials = creds
	res, err := load.Bench(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "abbench:", err)
		os.Exit(1)
	}
	fmt.Println(res)
}
