package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/versity/versitygw/auth"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
	"github.com/versity/versitygw/iamapi"
	"github.com/versity/versitygw/iamapi/storage"
	"github.com/versity/versitygw/s3api"
	"github.com/versity/versitygw/s3api/middlewares"

	"github.com/amplifybackendd/amplifybackendd/internal/drain"
)

// running is set while a Server runs in this process.
var running atomic.Bool

// DefaultRegion is the region the gateway reports when Config.Region is empty.
const DefaultRegion = "us-east-1"

// Default listen addresses: loopback only, because the embedded server is a
// laptop convenience and must not be reachable from the network by accident.
const (
	DefaultS3Listen  = "127.0.0.1:0"
	DefaultIAMListen = "127.0.0.1:0"
)

const (
	// maxConnections and maxRequests bound the gateway's and the IAM API's
	// concurrency; a loopback server for one control plane needs far less
	// than Versity's datacentre defaults (250000/100000).
	maxConnections = 4096
	maxRequests    = 2048
	// readyTimeout bounds how long Start waits for a listener that neither
	// accepts connections nor fails.
	readyTimeout = 30 * time.Second
	// pollInterval is the step of the readiness poll loop.
	pollInterval = 5 * time.Millisecond
	// portAttempts is how often Start re-picks a free port when another
	// process took the one it picked between probing and binding.
	portAttempts = 5
	// maxSocketPath is the usable length of a unix socket path on Linux
	// (sun_path is 108 bytes including the terminating NUL).
	maxSocketPath = 107
)

// Config configures the in-process gateway. Only Dir and the root keys are
// required; the rest has loopback defaults.
type Config struct {
	// Dir is an absolute directory that holds everything the server keeps:
	// the posix root with the buckets (Dir/s3), the IAM database (Dir/iam)
	// and the private socket that links the two (Dir/iam.sock). It is created
	// when missing. Its filesystem must support user extended attributes.
	Dir string
	// S3Listen is the S3 gateway's TCP listen address ("host:port"). Port 0
	// picks a free port; Server.S3Endpoint reports the one chosen.
	// Default DefaultS3Listen.
	S3Listen string
	// IAMListen is the IAM API's TCP listen address, with the same rules as
	// S3Listen. Default DefaultIAMListen.
	IAMListen string
	// Region is the region the gateway reports to S3 clients and expects in
	// their signatures. Default DefaultRegion.
	Region string
	// AccessKey and SecretKey are the root credentials of both the gateway
	// and the IAM API. The caller generates and persists them so that clients
	// configured once keep working across restarts.
	AccessKey, SecretKey string
	// S3Timeouts and IAMTimeouts bound how long each listener waits on a
	// client. Zero fields take DefaultS3Timeouts and DefaultIAMTimeouts.
	S3Timeouts, IAMTimeouts Timeouts
	// LifecycleDay is how long a "day" of a lifecycle rule lasts and
	// LifecycleSweep how often incomplete multipart uploads are checked
	// against the rules. Zero takes DefaultLifecycleDay and
	// DefaultLifecycleSweep; tests shorten both to see a rule act.
	LifecycleDay, LifecycleSweep time.Duration
	// Logger receives what the gateway cannot answer to a client, such as
	// a lifecycle sweep that failed. Default slog.Default().
	Logger *slog.Logger
	// TLSCert and TLSKey, when set, are the PEM certificate and key both
	// listeners serve HTTPS with; Server.ReloadTLS reads them again.
	TLSCert, TLSKey string
	// CORSAllowOrigin is the origin (the admin console's) browsers may
	// call a bucket from when the bucket has no CORS configuration of its
	// own: preflights are answered for it and answers expose ETag, which a
	// multipart upload from a browser needs. A bucket's own rules, such as
	// the one jobs write, are applied as S3 applies them. Empty: none.
	CORSAllowOrigin string
}

// Server is a running embedded gateway and IAM API. Its endpoints are what
// the s3iam package and users' AWS tools are pointed at.
type Server struct {
	// S3Endpoint is the gateway's base URL, e.g. "http://127.0.0.1:9000".
	// Use path-style addressing against it.
	S3Endpoint string
	// IAMEndpoint is the IAM API's base URL, e.g. "http://127.0.0.1:9001".
	// Sign requests to it for region us-east-1, service iam.
	IAMEndpoint string
	// Region is the region the gateway was configured with.
	Region string

	tlsCert, tlsKey string
	certs           *iamapi.CertStorage // nil without TLS
	done            chan struct{}       // closed when both halves have stopped
	err             error               // set before done is closed
}

// withTLS is the gateway's option to serve HTTPS with certs (none: plain HTTP).
func withTLS(certs *iamapi.CertStorage) []s3api.Option {
	if certs == nil {
		return nil
	}
	return []s3api.Option{s3api.WithTLS(certs)}
}

// ReloadTLS reads Config.TLSCert and TLSKey again: connections opened
// from then on get the new certificate, those open keep theirs. On error
// the certificate served so far stays. Without TLS, or on a nil Server
// (no gateway runs), it does nothing.
func (s *Server) ReloadTLS() error {
	if s == nil || s.certs == nil {
		return nil
	}
	if err := s.certs.SetCertificate(s.tlsCert, s.tlsKey); err != nil {
		return fmt.Errorf("embedded: %w", err)
	}
	return nil
}

// Wait blocks until both the gateway and the IAM API have stopped and returns
// the first error either reported. It returns nil after a clean shutdown
// caused by cancelling the context given to Start.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

// Start runs the gateway and the IAM API in goroutines and returns once both
// accept connections, or with an error after stopping whatever it had
// started. Cancelling ctx shuts both down; Wait reports when they are gone.
// If either half fails later, the other is stopped too and Wait returns the
// failure.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if err := checkFiberApps(); err != nil {
		return nil, err
	}
	var certs *iamapi.CertStorage
	if cfg.TLSCert != "" {
		certs = iamapi.NewCertStorage()
		if err := certs.SetCertificate(cfg.TLSCert, cfg.TLSKey); err != nil {
			return nil, fmt.Errorf("embedded: %w", err)
		}
	}
	// Versity's posix backend changes the process's working directory, so a
	// second server would pull the first one's paths out from under it.
	if !running.CompareAndSwap(false, true) {
		return nil, errors.New("embedded: a server is already running; Versity supports only one instance per process")
	}
	started := false
	defer func() {
		if !started {
			running.Store(false)
		}
	}()
	s3Root := filepath.Join(cfg.Dir, "s3")
	iamDir := filepath.Join(cfg.Dir, "iam")
	for _, d := range []string{cfg.Dir, s3Root, iamDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("embedded: create %s: %w", d, err)
		}
	}
	if err := (meta.XattrMeta{}).Test(s3Root); err != nil {
		return nil, fmt.Errorf("embedded: %s must be on a filesystem with user extended attributes: %w", s3Root, err)
	}
	sock, err := privateSocket(cfg.Dir)
	if err != nil {
		return nil, err
	}
	files, err := storage.NewInternal(iamDir)
	if err != nil {
		return nil, fmt.Errorf("embedded: open IAM store: %w", err)
	}
	roles, err := openRoleStore(ctx, filepath.Join(iamDir, "roles.db"), files)
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	buckets, err := openBucketStore(filepath.Join(cfg.Dir, "buckets.db"), s3Root)
	if err != nil {
		roles.Close()
		return nil, fmt.Errorf("embedded: %w", err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	var (
		mu    sync.Mutex
		first error
		parts []*component
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	abort := func(err error) (*Server, error) {
		cancel()
		for _, p := range parts {
			<-p.done
		}
		roles.Close()
		buckets.Close()
		return nil, err
	}

	// The IAM API goes first: the gateway probes its private socket at start
	// and would otherwise sit in Versity's two-second retry loop.
	iamComp, iamAddr, err := startWithFreePort(runCtx, cfg.IAMListen, "iam", func(addr string) func() error {
		return func() error { return runIAM(runCtx, roles, cfg, certs, addr, sock) }
	}, sock)
	if err != nil {
		return abort(fmt.Errorf("embedded: start IAM API: %w", err))
	}
	parts = append(parts, iamComp)

	s3Comp, s3Addr, err := startWithFreePort(runCtx, cfg.S3Listen, "s3", func(addr string) func() error {
		return func() error {
			// The IAM client and the backend are made per attempt because
			// RunVersityGW shuts both down when it returns. Building the
			// standalone IAM client here rather than through
			// Config.StandaloneIAMEndpoint is the same thing (Versity never
			// cache-wraps it) minus an "initializing" line on stdout.
			var idp *auth.IAMServiceStandalone
			var err error
			withoutStdout(func() {
				idp, err = auth.NewIAMServiceStandalone(
					auth.Account{Access: cfg.AccessKey, Secret: cfg.SecretKey, Role: auth.RoleAdmin},
					auth.IAMServiceStandaloneConfig{Endpoint: sock, Region: cfg.Region},
				)
			})
			if err != nil {
				return fmt.Errorf("connect to the IAM API's private socket: %w", err)
			}
			// Idempotent; covers RunVersityGW's early returns, which skip it.
			defer idp.Shutdown()
			// posix.New chdirs into the root: every other path stays absolute.
			be, err := posix.New(s3Root, meta.XattrMeta{}, posix.PosixOpts{})
			if err != nil {
				return fmt.Errorf("open posix backend %s: %w", s3Root, err)
			}
			// Likewise: a second Shutdown only closes a closed directory.
			defer be.Shutdown()
			gwbe := &bucketBackend{Backend: be, meta: buckets}
			root := middlewares.RootUserConfig{Access: cfg.AccessKey, Secret: cfg.SecretKey}
			// The sweeper lives exactly as long as this backend.
			sweepCtx, stopSweep := context.WithCancel(runCtx)
			swept := make(chan struct{})
			go func() {
				defer close(swept)
				(&sweeper{be: gwbe, store: buckets, day: cfg.LifecycleDay, interval: cfg.LifecycleSweep, log: cfg.Logger}).run(sweepCtx)
			}()
			defer func() { stopSweep(); <-swept }()
			// RunVersityGW builds the server itself: the first option
			// catches it, and once its fiber app exists (at OnListen, just
			// before it serves) its timeouts are set and its unused
			// connections tracked.
			var gw *s3api.S3ApiServer
			return embedgw.RunVersityGW(runCtx, gwbe, &embedgw.Config{
				RootUserAccess:    cfg.AccessKey,
				RootUserSecret:    cfg.SecretKey,
				Region:            cfg.Region,
				Ports:             []string{addr},
				MaxConnections:    maxConnections,
				MaxRequests:       maxRequests,
				MultipartMaxParts: 10000,
				Quiet:             true,
				KeepAlive:         true,
				IAMService:        idp,
				CORSAllowOrigin:   cfg.CORSAllowOrigin,
				S3Options: append([]s3api.Option{
					func(s *s3api.S3ApiServer) { gw = s },
					s3api.WithOnListen(func() {
						srv := fiberApp(gw).Server()
						cfg.S3Timeouts.apply(srv)
						drain.FastHTTP(runCtx, srv)
					}),
				}, append(lifecycleRoutes(gwbe, idp, root, cfg.Region, buckets), withTLS(certs)...)...),
			})
		}
	})
	if err != nil {
		return abort(fmt.Errorf("embedded: start S3 gateway: %w", err))
	}
	parts = append(parts, s3Comp)

	srv := &Server{
		S3Endpoint:  EndpointURL(s3Addr),
		IAMEndpoint: EndpointURL(iamAddr),
		Region:      cfg.Region,
		tlsCert:     cfg.TLSCert, tlsKey: cfg.TLSKey, certs: certs,
		done: make(chan struct{}),
	}
	if certs != nil {
		srv.S3Endpoint, srv.IAMEndpoint = HTTPS(srv.S3Endpoint), HTTPS(srv.IAMEndpoint)
	}
	var watchers sync.WaitGroup
	for _, p := range parts {
		watchers.Go(func() {
			<-p.done
			if p.err != nil && !errors.Is(p.err, context.Canceled) {
				fail(fmt.Errorf("embedded: %s: %w", p.name, p.err))
			}
			// Either half stopping takes the other down: a gateway without
			// its IAM API rejects every non-root request.
			cancel()
		})
	}
	started = true
	go func() {
		watchers.Wait()
		if err := roles.Close(); err != nil {
			fail(fmt.Errorf("embedded: close IAM role store: %w", err))
		}
		if err := buckets.Close(); err != nil {
			fail(fmt.Errorf("embedded: close bucket store: %w", err))
		}
		mu.Lock()
		srv.err = first
		mu.Unlock()
		running.Store(false)
		close(srv.done)
	}()
	return srv, nil
}

// normalize fills defaults and rejects configurations Versity would only
// fail on later, or worse, interpret relative to a changed directory.
func (c Config) normalize() (Config, error) {
	if c.Dir == "" || !filepath.IsAbs(c.Dir) {
		return c, fmt.Errorf("embedded: Dir must be an absolute path, got %q", c.Dir)
	}
	c.Dir = filepath.Clean(c.Dir)
	if c.AccessKey == "" || c.SecretKey == "" {
		return c, errors.New("embedded: AccessKey and SecretKey are required")
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.S3Listen == "" {
		c.S3Listen = DefaultS3Listen
	}
	if c.IAMListen == "" {
		c.IAMListen = DefaultIAMListen
	}
	if c.LifecycleDay < 0 || c.LifecycleSweep < 0 {
		return c, errors.New("embedded: LifecycleDay and LifecycleSweep must not be negative (zero takes the default)")
	}
	if c.LifecycleDay == 0 {
		c.LifecycleDay = DefaultLifecycleDay
	}
	if c.LifecycleSweep == 0 {
		c.LifecycleSweep = DefaultLifecycleSweep
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.S3Timeouts, c.IAMTimeouts = c.S3Timeouts.or(DefaultS3Timeouts), c.IAMTimeouts.or(DefaultIAMTimeouts)
	if err := c.S3Timeouts.validate("S3"); err != nil {
		return c, err
	}
	if err := c.IAMTimeouts.validate("IAM"); err != nil {
		return c, err
	}
	for _, a := range []string{c.S3Listen, c.IAMListen} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return c, fmt.Errorf("embedded: listen address %q: %w", a, err)
		}
	}
	return c, nil
}

// privateSocket names the unix socket the IAM API serves its private
// endpoints on. A socket file under Dir is preferred (protected by Dir's
// permissions); when Dir is too deep for a socket path, a Linux abstract
// socket with a random name is used instead. Either way the private endpoints
// still require requests signed with the root key.
func privateSocket(dir string) (string, error) {
	p := filepath.Join(dir, "iam.sock")
	if len(p) <= maxSocketPath {
		return p, nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("embedded: name private socket: %w", err)
	}
	return "@amplifybackendd-iam-" + hex.EncodeToString(b[:]), nil
}

// component is one of the two servers running in its own goroutine.
type component struct {
	name string
	done chan struct{}
	err  error // set before done is closed
}

func launch(name string, run func() error) *component {
	c := &component{name: name, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.err = run()
	}()
	return c
}

// startWithFreePort launches a server on listen, resolving port 0 to a
// concrete free port first (Versity binds internally and never reports the
// port it got). Between probing and binding another process may take that
// port; the server then fails with EADDRINUSE and a new port is picked.
// It returns once the TCP address and any extra unix sockets accept
// connections.
func startWithFreePort(ctx context.Context, listen, name string, build func(addr string) func() error, sockets ...string) (*component, string, error) {
	for attempt := 1; ; attempt++ {
		addr, picked, err := resolvePort(listen)
		if err != nil {
			return nil, "", err
		}
		c := launch(name, build(addr))
		err = waitReady(ctx, c, addr, sockets)
		if err == nil {
			return c, addr, nil
		}
		<-c.done
		if picked && attempt < portAttempts && errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		return nil, "", err
	}
}

// resolvePort turns "host:0" into "host:N" for a port N that was free a
// moment ago, reporting whether it did so.
func resolvePort(listen string) (string, bool, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", false, fmt.Errorf("listen address %q: %w", listen, err)
	}
	if port != "0" {
		return listen, false, nil
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return "", false, fmt.Errorf("find a free port on %q: %w", listen, err)
	}
	defer l.Close()
	_, port, err = net.SplitHostPort(l.Addr().String())
	if err != nil {
		return "", false, fmt.Errorf("find a free port on %q: %w", listen, err)
	}
	return net.JoinHostPort(host, port), true, nil
}

// waitReady polls until addr (TCP) and every socket (unix) accept a
// connection, the component exits, ctx ends, or readyTimeout passes.
func waitReady(ctx context.Context, c *component, addr string, sockets []string) error {
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	targets := [][2]string{{"tcp", dialAddr(addr)}}
	for _, s := range sockets {
		targets = append(targets, [2]string{"unix", s})
	}
	for {
		for len(targets) > 0 {
			conn, err := net.DialTimeout(targets[0][0], targets[0][1], time.Second)
			if err != nil {
				break
			}
			conn.Close()
			targets = targets[1:]
		}
		if len(targets) == 0 {
			return nil
		}
		select {
		case <-c.done:
			if c.err != nil {
				return c.err
			}
			return errors.New("stopped before accepting connections")
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%s not accepting connections after %v", targets[0][1], readyTimeout)
		case <-tick.C:
		}
	}
}

// dialAddr maps a listen address to one a local client can connect to:
// an empty or unspecified host means "all interfaces", reachable on loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			return net.JoinHostPort("127.0.0.1", port)
		}
		return net.JoinHostPort("::1", port)
	}
	return listen
}

// EndpointURL is the URL a local client reaches a server listening on
// listen at: the data directory's client config and the gateway's own
// endpoints name loopback where the server listens on all interfaces.
func EndpointURL(listen string) string {
	return "http://" + dialAddr(listen)
}

// HTTPS is an EndpointURL for a listener that serves TLS.
func HTTPS(endpoint string) string { return "https" + strings.TrimPrefix(endpoint, "http") }
