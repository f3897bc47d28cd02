// Command abattack attacks an amplifybackendd on this machine the way an
// unsigned client can: uploads that announce a body, send all of it but the
// last byte and stall, and keep-alive connections left idle. Meanwhile it
// reads the server's RSS from /proc, times /healthz, and checks that a
// signed client's calls keep succeeding; then it prints what it saw.
//
//	abattack --endpoint http://127.0.0.1:8080 --credentials data/credentials --stalled 1000 --idle 2000 --duration 30s
//
// Counts, body size and duration are bounded, and only loopback endpoints
// are accepted. It exits 1 when a signed call failed or a stalled upload
// was still open when the attack ended.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/credfile"
	"github.com/amplifybackendd/amplifybackendd/internal/load"
)

func main() {
	var cfg load.AttackConfig
	var credsFile, profile string
	flag.StringVar(&cfg.Endpoint, "endpoint", "http://127.0.0.1:8080", "API endpoint (loopback only)")
	flag.IntVar(&cfg.PID, "pid", 0, "the server's process id (default: the process listening on the endpoint's port)")
	flag.StringVar(&credsFile, "credentials", "data/credentials", "AWS shared-credentials file with the API key of the signed client")
	flag.StringVar(&profile, "profile", "default", "profile in the credentials file")
	flag.IntVar(&cfg.Stalled, "stalled", 1000, "unsigned uploads that stall before their last byte")
	flag.IntVar(&cfg.Idle, "idle", 2000, "keep-alive connections left idle after one request")
	flag.IntVar(&cfg.BodySize, "body-size", 1<<20, "bytes each stalled upload announces")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to hold the attack")
	flag.BoolVar(&cfg.UntilClosed, "until-closed", false, "end as soon as the server has closed every connection")
	flag.Parse()
	fail := func(code int, err error) {
		fmt.Fprintln(os.Stderr, "abattack:", err)
		os.Exit(code)
	}
	if err := load.CheckLoopback(cfg.Endpoint); err != nil {
		fail(2, err)
	}
	if cfg.PID == 0 {
		u, _ := url.Parse(cfg.Endpoint)
		port, err := strconv.Atoi(u.Port())
		if err != nil {
			fail(2, fmt.Errorf("endpoint %s names no port: give --pid", cfg.Endpoint))
		}
		if cfg.PID, err = load.PIDListening(port); err != nil {
			fail(2, fmt.Errorf("%w: give --pid", err))
		}
	}
	creds, err := credfile.Profile(credsFile, profile)
	if err != nil {
		fail(2, err)
	}
	cfg.Credentials = creds
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := load.Attack(ctx, cfg)
	if err != nil {
		fail(2, err)
	}
	fmt.Print(rep)
	if rep.SignedFailed > 0 || rep.Stalled.Closed < rep.Stalled.Opened {
		os.Exit(1)
	}
}
