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
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchConfig measures one operation at a time with keep-alive clients.
type BenchConfig struct {
	Endpoint    string
	Credentials aws.Credentials
	Clients     int           // concurrent keep-alive clients (default 32)
	Duration    time.Duration // default 10s
	// Op is "healthz" (unsigned GET /healthz), "GetBackendStorage",
	// "GetBackendJob" or "CreateBackendStorage".
	Op string
	// App, Env, Resource and JobID name what the read operations read;
	// creates go to App with a new environment per request.
	App, Env, Resource, JobID string
	// PresignPerClient is how many creates each client signs before the
	// clock starts (default 2000).
	PresignPerClient int
	// SignEach signs every read afresh, as an SDK does, instead of
	// replaying one signed request per client; the generator's signing then
	// competes with the server for the CPU.
	SignEach bool
	// RandomNames gives each create an environment and a resource name in
	// random order, as independent clients send them, instead of names
	// numbered from one counter shared by all clients.
	RandomNames bool
	// ServerPID, when set, is the server's process: its CPU time over the
	// measured window is reported (BenchResult.ServerCPU). The server must
	// be a process of its own for the figure to be its alone.
	ServerPID int
	// Window, when set, is called as the clock starts; the function it
	// returns is called as the clock stops (e.g. to profile the server
	// over exactly the measured requests).
	Window func() (stop func())
}

// BenchResult is one measured operation.
type BenchResult struct {
	Op        string
	Clients   int
	Requests  int
	Errors    int
	PerSecond float64
	P50, P99  time.Duration
	// ServerCPU is the server's user and system CPU time over the window,
	// when BenchConfig.ServerPID is set.
	ServerCPU time.Duration
}

// CPUPerRequest is the server's CPU time per answered request.
func (r BenchResult) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Requests)
}

func (r BenchResult) String() string {
	s := fmt.Sprintf("%-22s clients=%-3d requests=%-8d errors=%-4d %9.0f/s  p50=%-10s p99=%s",
		r.Op, r.Clients, r.Requests, r.Errors, r.PerSecond, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
	if r.ServerCPU > 0 {
		s += fmt.Sprintf("  server CPU %s/request", r.CPUPerRequest().Round(100*time.Nanosecond))
	}
	return s
}

// Bench drives one operation for cfg.Duration. Reads are signed once per
// client and replayed (SigV4 allows it within the clock window), so the
// load generator's own signing does not compete with the server for CPU;
// creates are signed per request because each body differs.
func Bench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if cfg.Clients <= 0 {
		cfg.Clients = 32
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.PresignPerClient <= 0 {
		cfg.PresignPerClient = 2000
	}
	transport := &http.Transport{MaxIdleConnsPerHost: cfg.Clients, MaxConnsPerHost: cfg.Clients, DisableCompression: true}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	signer := v4.NewSigner()
	var seq atomic.Int64

	build := func(ctx context.Context) (*http.Request, []byte, error) {
		var method, path string
		var body any
		switch cfg.Op {
		case "healthz":
			method, path = "GET", "/healthz"
		case "GetBackendStorage":
			method, path = "POST", "/backend/"+cfg.App+"/storage/"+cfg.Env+"/details"
			body = map[string]string{"resourceName": cfg.Resource}
		case "GetBackendJob":
			method, path = "GET", "/backend/"+cfg.App+"/job/"+cfg.Env+"/"+cfg.JobID
		case "CreateBackendStorage":
			method, path = "POST", "/backend/"+cfg.App+"/storage"
			env, name := fmt.Sprintf("b%d-%08d", time.Now().Unix(), seq.Add(1)), "data"
			if cfg.RandomNames {
				env, name = fmt.Sprintf("e%016x", rand.Uint64()), fmt.Sprintf("r%08x", rand.Uint32())
			}
			body = map[string]any{"backendEnvironmentName": env, "resourceName": name,
				"resourceConfig": map[string]any{"serviceName": "S3", "permissions": map[string]any{"authenticated": []string{"READ"}, "unAuthenticated": []string{"READ"}}}}
		default:
			return nil, nil, fmt.Errorf("unknown op %q", cfg.Op)
		}
		var raw []byte
		if body != nil {
			raw, _ = json.Marshal(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, cfg.Endpoint+path, bytes.NewReader(raw))
		if err != nil {
			return nil, nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if cfg.Op != "healthz" {
			sum := sha256.Sum256(raw)
			if err := signer.SignHTTP(ctx, cfg.Credentials, req, hex.EncodeToString(sum[:]), "amplifybackend", "us-east-1", time.Now()); err != nil {
				return nil, nil, err
			}
		}
		return req, raw, nil
	}
	if _, _, err := build(ctx); err != nil {
		return BenchResult{}, err
	}

	// Creates differ per request, so each client signs its share before the
	// clock starts; reads replay one signed request per client. The shares
	// interleave (client i gets environments i, i+n, i+2n, ...), so the
	// clients together send names in about the order a shared counter
	// would, as the raw bbolt loop writes its keys; contiguous shares would
	// scatter each group commit over one insertion point per client.
	presigned := make([][]*http.Request, cfg.Clients)
	presignedBody := make([][][]byte, cfg.Clients)
	if cfg.Op == "CreateBackendStorage" {
		per := max(1, cfg.PresignPerClient)
		for k := 0; k < per; k++ {
			for i := range presigned {
				req, raw, err := build(ctx)
				if err != nil {
					return BenchResult{}, err
				}
				presigned[i] = append(presigned[i], req)
				presignedBody[i] = append(presignedBody[i], raw)
			}
		}
	}
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	var cpu0 time.Duration
	if cfg.ServerPID != 0 {
		var err error
		if cpu0, err = ReadCPU(cfg.ServerPID); err != nil {
			return BenchResult{}, err
		}
	}
	stopWindow := func() {}
	if cfg.Window != nil {
		stopWindow = cfg.Window()
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	for i := 0; i < cfg.Clients; i++ {
		wg.Add(1)
		go func(mineReqs []*http.Request, mineBodies [][]byte) {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			tmpl, raw, _ := build(runCtx)
			signedAt := time.Now()
			for n := 0; runCtx.Err() == nil; n++ {
				req := tmpl
				switch {
				case n < len(mineReqs):
					req, raw = mineReqs[n], mineBodies[n]
				case cfg.Op == "CreateBackendStorage" || cfg.SignEach || time.Since(signedAt) > time.Minute:
					req, raw, _ = build(runCtx)
					tmpl, signedAt = req, time.Now()
				}
				r := req.Clone(runCtx)
				r.Body = io.NopCloser(bytes.NewReader(raw))
				t0 := time.Now()
				resp, err := hc.Do(r)
				if err != nil {
					if runCtx.Err() == nil {
						bad++
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad++
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}(presigned[i], presignedBody[i])
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := BenchResult{Op: cfg.Op, Clients: cfg.Clients, Requests: len(lat), Errors: errs, PerSecond: float64(len(lat)) / elapsed.Seconds()}
	if cfg.ServerPID != 0 {
		cpu1, err := ReadCPU(cfg.ServerPID)
		if err != nil {
			return BenchResult{}, err
		}
		res.ServerCPU = cpu1 - cpu0
	}
	stopWindow()
	res.P50, res.P99, _ = quantiles(lat)
	return res, nil
}
