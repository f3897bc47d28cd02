// Package load drives an amplifybackendd with many concurrent signed clients
// for a bounded time and reports throughput, latency per operation, server
// errors and lost jobs. cmd/abload runs it from the command line; tests run
// it in a short mode.
package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Config describes one load run.
type Config struct {
	Endpoint    string // API endpoint, e.g. http://127.0.0.1:8080
	Credentials aws.Credentials
	Region      string        // signing region (default us-east-1)
	Clients     int           // concurrent clients (default 64)
	Duration    time.Duration // how long to send (default 60s)
	// WriteShare is the fraction of requests that start jobs (default 0.2).
	WriteShare float64
	// App names the app the run works in (default "load-<unix time>").
	App string
	// Settle bounds the wait for accepted jobs to finish (default 2m).
	Settle time.Duration
}

// OpStats is the outcome of one operation kind.
type OpStats struct {
	Op        string
	Count     int
	Errors4xx int
	Errors5xx int
	Transport int
	P50, P99  time.Duration
	PerSecond float64
}

// Report is the outcome of a run.
type Report struct {
	Duration   time.Duration
	Requests   int
	PerSecond  float64
	ServerErrs int // 5xx answers
	Transport  int // requests that got no answer
	Accepted   int // jobs answered 200
	Lost       int // accepted jobs the server no longer knows
	Unsettled  int // accepted jobs still RUNNING after Settle
	Ops        []OpStats
}

func (c *Config) defaults() {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.Clients <= 0 {
		c.Clients = 64
	}
	if c.Duration <= 0 {
		c.Duration = 60 * time.Second
	}
	if c.WriteShare <= 0 {
		c.WriteShare = 0.2
	}
	if c.App == "" {
		c.App = fmt.Sprintf("load-%d", time.Now().Unix())
	}
	if c.Settle <= 0 {
		c.Settle = 2 * time.Minute
	}
}

// client is one simulated user: its own HTTP connection pool and resource.
type client struct {
	cfg    *Config
	http   *http.Client
	signer *v4.Signer
	env    string
	rng    *rand.Rand
	jobs   []string
	exists bool
	n      int
}

type sample struct {
	op     string
	status int // 0: transport error
	took   time.Duration
}

// Run drives the server and returns the report. It stops sending when ctx
// ends or Duration passes, then waits for accepted jobs to settle.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg.defaults()
	transport := &http.Transport{MaxIdleConnsPerHost: cfg.Clients, MaxConnsPerHost: cfg.Clients}
	defer transport.CloseIdleConnections()
	signer := v4.NewSigner()
	sendCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	results := make(chan []sample, cfg.Clients)
	clients := make([]*client, cfg.Clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		c := &client{cfg: &cfg, http: &http.Client{Transport: transport, Timeout: 30 * time.Second}, signer: signer,
			env: fmt.Sprintf("c%03d", i), rng: rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))}
		clients[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- c.loop(sendCtx)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(results)

	byOp := map[string][]sample{}
	var rep Report
	rep.Duration = elapsed
	for rs := range results {
		for _, s := range rs {
			byOp[s.op] = append(byOp[s.op], s)
			rep.Requests++
			switch {
			case s.status == 0:
				rep.Transport++
			case s.status >= 500:
				rep.ServerErrs++
			}
		}
	}
	rep.PerSecond = float64(rep.Requests) / elapsed.Seconds()
	for op, ss := range byOp {
		rep.Ops = append(rep.Ops, summarize(op, ss, elapsed))
	}
	sort.Slice(rep.Ops, func(i, j int) bool { return rep.Ops[i].Op < rep.Ops[j].Op })

	// Every accepted job must still be known and must settle.
	settleCtx, cancelSettle := context.WithTimeout(ctx, cfg.Settle)
	defer cancelSettle()
	for _, c := range clients {
		for _, id := range c.jobs {
			rep.Accepted++
			status, err := c.waitJob(settleCtx, id)
			switch {
			case err != nil:
				return rep, err
			case status == "":
				rep.Lost++
			case status == "RUNNING":
				rep.Unsettled++
			}
		}
	}
	return rep, nil
}

func summarize(op string, ss []sample, elapsed time.Duration) OpStats {
	st := OpStats{Op: op, Count: len(ss), PerSecond: float64(len(ss)) / elapsed.Seconds()}
	var took []time.Duration
	for _, s := range ss {
		switch {
		case s.status == 0:
			st.Transport++
		case s.status >= 500:
			st.Errors5xx++
		case s.status >= 400:
			st.Errors4xx++
		}
		took = append(took, s.took)
	}
	st.P50, st.P99, _ = quantiles(took)
	return st
}

// quantiles are the median, 99th percentile and largest of ds (which it
// sorts); zero for none.
func quantiles(ds []time.Duration) (p50, p99, most time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)*50/100], ds[min(len(ds)-1, len(ds)*99/100)], ds[len(ds)-1]
}

func (c *client) loop(ctx context.Context) []sample {
	var out []sample
	for ctx.Err() == nil {
		op, method, path, body := c.next()
		t0 := time.Now()
		status, resp := c.do(ctx, method, path, body)
		if ctx.Err() != nil && status == 0 {
			break // cut off by the end of the run, not by the server
		}
		out = append(out, sample{op: op, status: status, took: time.Since(t0)})
		if status == 200 && (op == "CreateBackendStorage" || op == "UpdateBackendStorage") {
			if id, _ := resp["jobId"].(string); id != "" {
				c.jobs = append(c.jobs, id)
			}
			c.exists = true
		}
	}
	return out
}

// next picks the client's next request: mostly reads of its own resource
// and jobs, some creates and updates.
func (c *client) next() (op, method, path string, body any) {
	app := url.PathEscape(c.cfg.App)
	c.n++
	if !c.exists || c.rng.Float64() < c.cfg.WriteShare {
		perms := map[string]any{"authenticated": []string{"READ"}, "unAuthenticated": pick(c.rng)}
		if !c.exists {
			return "CreateBackendStorage", "POST", "/backend/" + app + "/storage", map[string]any{
				"backendEnvironmentName": c.env, "resourceName": "data",
				"resourceConfig": map[string]any{"serviceName": "S3", "permissions": perms}}
		}
		return "UpdateBackendStorage", "POST", "/backend/" + app + "/storage/" + c.env, map[string]any{
			"resourceName": "data", "resourceConfig": map[string]any{"serviceName": "S3", "permissions": perms}}
	}
	switch c.rng.IntN(3) {
	case 0:
		return "GetBackendStorage", "POST", "/backend/" + app + "/storage/" + c.env + "/details", map[string]any{"resourceName": "data"}
	case 1:
		if len(c.jobs) > 0 {
			return "GetBackendJob", "GET", "/backend/" + app + "/job/" + c.env + "/" + c.jobs[c.rng.IntN(len(c.jobs))], nil
		}
	}
	return "ListBackendJobs", "POST", "/backend/" + app + "/job/" + c.env, map[string]any{"maxResults": 10}
}

func pick(r *rand.Rand) []string {
	all := []string{"READ", "CREATE_AND_UPDATE", "DELETE"}
	return all[:r.IntN(len(all)+1)]
}

// do sends one signed request; status 0 means no answer.
func (c *client) do(ctx context.Context, method, path string, body any) (int, map[string]any) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.Endpoint+path, bytes.NewReader(raw))
	if err != nil {
		return 0, nil
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(raw)
	if err := c.signer.SignHTTP(ctx, c.cfg.Credentials, req, hex.EncodeToString(sum[:]), "amplifybackend", c.cfg.Region, time.Now()); err != nil {
		return 0, nil
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// waitJob polls a job until it settles; "" means the server does not know it.
func (c *client) waitJob(ctx context.Context, id string) (string, error) {
	path := "/backend/" + url.PathEscape(c.cfg.App) + "/job/" + c.env + "/" + id
	for {
		status, resp := c.do(ctx, "GET", path, nil)
		switch {
		case status == 404:
			return "", nil
		case status == 200:
			if st, _ := resp["status"].(string); st != "RUNNING" {
				return st, nil
			}
		case status == 0 && ctx.Err() != nil:
			return "RUNNING", nil
		}
		select {
		case <-ctx.Done():
			return "RUNNING", nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// String renders the report as the table the README quotes.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests in %.1fs (%.0f/s); 5xx: %d; no answer: %d; jobs accepted: %d, lost: %d, unsettled: %d\n",
		r.Requests, r.Duration.Seconds(), r.PerSecond, r.ServerErrs, r.Transport, r.Accepted, r.Lost, r.Unsettled)
	fmt.Fprintf(&b, "%-22s %8s %8s %6s %6s %10s %10s\n", "operation", "count", "per sec", "4xx", "5xx", "p50", "p99")
	for _, o := range r.Ops {
		fmt.Fprintf(&b, "%-22s %8d %8.0f %6d %6d %10s %10s\n", o.Op, o.Count, o.PerSecond, o.Errors4xx, o.Errors5xx,
			o.P50.Round(10*time.Microsecond), o.P99.Round(10*time.Microsecond))
	}
	return b.String()
}
