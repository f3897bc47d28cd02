package load

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// AttackConfig describes one bounded attack on a server on this machine:
// unsigned uploads that announce a body, send all of it but the last byte
// and stall, and keep-alive connections left idle after one request, while
// the server's memory, /healthz and a signed client are watched.
type AttackConfig struct {
	Endpoint    string // API endpoint, e.g. http://127.0.0.1:8080
	PID         int    // the server's process, whose RSS is read
	Credentials aws.Credentials
	Region      string // signing region (default us-east-1)
	// Stalled and Idle are how many connections of each kind are opened;
	// BodySize is what each stalled upload announces (default 1 MiB).
	Stalled, Idle, BodySize int
	// Duration bounds the attack (default 30s); with UntilClosed it ends
	// as soon as the server has closed every connection.
	Duration    time.Duration
	UntilClosed bool
}

// Attack bounds: enough for the figure, and a run that cannot grow into a
// real denial of service by a typo.
const (
	MaxAttackConns    = 10000
	MaxAttackBody     = 16 << 20
	MaxAttackDuration = 10 * time.Minute
)

// ConnStats is what became of one kind of attacking connection. Closing
// times run from the moment the connection was left waiting (after the
// headers for a stalled upload, after the answer for an idle one).
type ConnStats struct {
	Opened, Refused int // connected (and for idle ones answered), or not
	Closed          int // closed by the server before the attack ended
	P50, P99, Max   time.Duration
}

// AttackReport is the outcome of an attack.
type AttackReport struct {
	Config         AttackConfig
	Held           time.Duration
	RSSBefore      int64 // bytes, before the first connection
	RSSPeak        int64 // bytes, the most sampled during the attack
	Stalled, Idle  ConnStats
	Healthz        int // /healthz calls during the attack
	HealthzFailed  int
	HealthzP50     time.Duration
	HealthzP99     time.Duration
	HealthzMax     time.Duration
	Signed         int // signed calls during the attack
	SignedFailed   int
	SignedFailures []string // the first few, for the operator
}

func (c *AttackConfig) defaults() error {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	c.BodySize = cmp.Or(c.BodySize, 1<<20)
	if c.Duration <= 0 {
		c.Duration = 30 * time.Second
	}
	switch {
	case c.Stalled < 0 || c.Idle < 0 || c.Stalled+c.Idle > MaxAttackConns:
		return fmt.Errorf("stalled and idle connections must be 0 to %d in all", MaxAttackConns)
	case c.BodySize < 2 || c.BodySize > MaxAttackBody:
		return fmt.Errorf("the announced body must be 2 bytes to %d", MaxAttackBody)
	case c.Duration > MaxAttackDuration:
		return fmt.Errorf("the attack may last at most %s", MaxAttackDuration)
	case c.PID <= 0:
		return errors.New("the server's pid is needed to read its memory")
	}
	return CheckLoopback(c.Endpoint)
}

// CheckLoopback refuses an endpoint that is not on this machine: the load
// tools are for measuring a server one runs oneself.
func CheckLoopback(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("endpoint %q: want http://host:port", endpoint)
	}
	if h := u.Hostname(); h != "localhost" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("refusing endpoint %q: not a loopback address", endpoint)
		}
	}
	return nil
}

// Attack runs the attack and reports what the server did. It raises the
// soft limit of open files when the connections need it.
func Attack(ctx context.Context, cfg AttackConfig) (AttackReport, error) {
	if err := cfg.defaults(); err != nil {
		return AttackReport{}, err
	}
	rep := AttackReport{Config: cfg}
	if err := raiseFileLimit(uint64(cfg.Stalled + cfg.Idle + 256)); err != nil {
		return rep, err
	}
	u, _ := url.Parse(cfg.Endpoint)
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	var err error
	if rep.RSSBefore, err = ReadRSS(cfg.PID); err != nil {
		return rep, err
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	var watchers sync.WaitGroup
	var peak atomic.Int64
	peak.Store(rep.RSSBefore)
	watchers.Go(func() { sampleRSS(ctx, cfg.PID, &peak) })
	var healthz []time.Duration
	watchers.Go(func() { healthz, rep.HealthzFailed = probeHealthz(ctx, cfg.Endpoint) })
	watchers.Go(func() { rep.Signed, rep.SignedFailed, rep.SignedFailures = probeSigned(ctx, &cfg) })

	var idle, stalled attackConns
	idle.open(ctx, cfg.Idle, addr, func(c net.Conn) (*bufio.Reader, error) { return KeepIdle(c, u.Host) })
	stalled.open(ctx, cfg.Stalled, addr, func(c net.Conn) (*bufio.Reader, error) { return stall(c, u.Host, cfg.BodySize) })
	if cfg.UntilClosed {
		idle.waitClosed(ctx)
		stalled.waitClosed(ctx)
		cancel()
	}
	<-ctx.Done()
	rep.Held = time.Since(start)
	idle.stop()
	stalled.stop()
	watchers.Wait()

	rep.RSSPeak = peak.Load()
	rep.Idle, rep.Stalled = idle.stats(), stalled.stats()
	rep.Healthz = len(healthz) + rep.HealthzFailed
	rep.HealthzP50, rep.HealthzP99, rep.HealthzMax = quantiles(healthz)
	return rep, nil
}

// attackConns is one kind of attacking connection, each watched by a
// goroutine that notes when the server closes it.
type attackConns struct {
	mu       sync.Mutex
	conns    []net.Conn
	closedIn []time.Duration
	refused  int
	// stopping is set before the attack closes what is left, so those
	// closes are not taken for the server's.
	stopping atomic.Bool
	watchers sync.WaitGroup
	// unclosed counts the connections whose watcher has not returned.
	unclosed sync.WaitGroup
}

// dialers bounds the connections being set up at once, so the attack does
// not overflow the server's accept queue and measure that instead.
const dialers = 64

// open makes n connections, each prepared by prepare (which leaves it
// waiting on the server), and returns once all are made.
func (a *attackConns) open(ctx context.Context, n int, addr string, prepare func(net.Conn) (*bufio.Reader, error)) {
	sem := make(chan struct{}, dialers)
	var setup sync.WaitGroup
	for range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		setup.Go(func() {
			defer func() { <-sem }()
			var d net.Dialer
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			c, err := d.DialContext(dctx, "tcp", addr)
			cancel()
			var br *bufio.Reader
			if err == nil {
				br, err = prepare(c)
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			if err != nil {
				a.refused++
				if c != nil {
					c.Close()
				}
				return
			}
			a.conns = append(a.conns, c)
			a.unclosed.Add(1)
			a.watchers.Go(func() { a.watch(c, br) })
		})
	}
	setup.Wait()
}

// watch reads until the server closes c (an answer may come first).
func (a *attackConns) watch(c net.Conn, br *bufio.Reader) {
	defer a.unclosed.Done()
	waiting := time.Now()
	_, _ = io.Copy(io.Discard, br)
	if a.stopping.Load() {
		return
	}
	a.mu.Lock()
	a.closedIn = append(a.closedIn, time.Since(waiting))
	a.mu.Unlock()
}

// waitClosed returns once the server has closed every connection, or ctx
// ends.
func (a *attackConns) waitClosed(ctx context.Context) {
	done := make(chan struct{})
	go func() { a.unclosed.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// stop closes what the server left open and waits for the watchers.
func (a *attackConns) stop() {
	a.stopping.Store(true)
	a.mu.Lock()
	for _, c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	a.watchers.Wait()
}

func (a *attackConns) stats() ConnStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := ConnStats{Opened: len(a.conns), Refused: a.refused, Closed: len(a.closedIn)}
	st.P50, st.P99, st.Max = quantiles(a.closedIn)
	return st
}

// KeepIdle sends one GET /healthz on c, reads the answer and leaves the
// connection open, as a client's idle keep-alive pool does.
func KeepIdle(c net.Conn, host string) (*bufio.Reader, error) {
	if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(c, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.Close {
		err = errors.New("the server would not keep the connection")
	}
	return br, err
}

// attackBody is what every stalled upload sends; they only read it.
var attackBody = []byte(strings.Repeat("{", MaxAttackBody))

// stall announces an unsigned upload of size bytes on c and sends all but
// the last byte, in the background: a server that refuses the upload
// early stops reading, and the send then fails, which is no concern here.
func stall(c net.Conn, host string, size int) (*bufio.Reader, error) {
	head := "POST /backend/attack/storage HTTP/1.1\r\nHost: " + host +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	if _, err := io.WriteString(c, head); err != nil {
		return nil, err
	}
	go func() { _, _ = c.Write(attackBody[:size-1]) }()
	return bufio.NewReaderSize(c, 1024), nil
}

// ReadRSS is a process's resident memory in bytes, from /proc.
func ReadRSS(pid int) (int64, error) {
	kb, err := ReadStatusKB(pid, "VmRSS")
	return kb << 10, err
}

// ReadStatusKB reads one of the kB figures of /proc/PID/status, such as
// VmRSS or its parts RssAnon (the process's own memory) and RssFile (pages
// of mapped files, which the kernel can drop and read again).
func ReadStatusKB(pid int, field string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the server's memory: %w", err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %q: %w", field, v, err)
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// sampleRSS keeps the largest RSS seen in peak until ctx ends.
func sampleRSS(ctx context.Context, pid int, peak *atomic.Int64) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if rss, err := ReadRSS(pid); err == nil && rss > peak.Load() {
			peak.Store(rss)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probeHealthz calls /healthz over one keep-alive connection every 10 ms
// until ctx ends, timing each answer.
func probeHealthz(ctx context.Context, endpoint string) (took []time.Duration, failed int) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return took, failed
		case <-tick.C:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/healthz", nil)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				failed++
			}
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failed++
			continue
		}
		took = append(took, time.Since(t0))
	}
}

// probeSigned makes a signed ListS3Buckets call every 100 ms until ctx
// ends, as a client of the server would while it is attacked.
func probeSigned(ctx context.Context, cfg *AttackConfig) (calls, failed int, failures []string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &client{cfg: &Config{Endpoint: cfg.Endpoint, Credentials: cfg.Credentials, Region: cfg.Region},
		http: &http.Client{Transport: tr, Timeout: 10 * time.Second}, signer: v4.NewSigner()}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return calls, failed, failures
		case <-tick.C:
		}
		status, answer := c.do(ctx, http.MethodPost, "/s3Buckets", map[string]any{})
		if status == 0 && ctx.Err() != nil {
			return calls, failed, failures // cut off by the end of the attack
		}
		calls++
		if status != http.StatusOK {
			failed++
			if len(failures) < 5 {
				failures = append(failures, fmt.Sprintf("%d %v %v", status, answer["__type"], answer["message"]))
			}
		}
	}
}

// raiseFileLimit lifts the soft limit of open files to at least need, up
// to the hard limit.
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read the open-files limit: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	if lim.Max < need {
		return fmt.Errorf("the attack needs %d open files; the hard limit is %d (ulimit -Hn)", need, lim.Max)
	}
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise the open-files limit to %d: %w", need, err)
	}
	return nil
}

// PIDListening finds the process that listens on a local TCP port, from
// /proc/net/tcp{,6} and the processes' open sockets.
func PIDListening(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(raw)) {
			// sl local_address rem_address st ... inode
			fields := strings.Fields(line)
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); ok && err == nil && int(p) == port {
				inodes["socket:["+fields[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on port %d", port)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && inodes[target] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process of ours holds the socket listening on port %d", port)
}

// String renders the report as the README quotes it.
func (r AttackReport) String() string {
	const mib = 1 << 20
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "attack: %d stalled unsigned uploads announcing %d bytes, %d idle keep-alive connections, held %.1fs\n",
		c.Stalled, c.BodySize, c.Idle, r.Held.Seconds())
	fmt.Fprintf(&b, "server RSS: before %.1f MiB, peak %.1f MiB, growth %.1f MiB\n",
		float64(r.RSSBefore)/mib, float64(r.RSSPeak)/mib, float64(r.RSSPeak-r.RSSBefore)/mib)
	fmt.Fprintf(&b, "/healthz during the attack: %d calls, %d failed, p50 %s, p99 %s, max %s\n",
		r.Healthz, r.HealthzFailed, r.HealthzP50.Round(10*time.Microsecond), r.HealthzP99.Round(10*time.Microsecond), r.HealthzMax.Round(10*time.Microsecond))
	for _, k := range []struct {
		name, since string
		st          ConnStats
	}{{"stalled uploads", "their headers", r.Stalled}, {"idle connections", "their answer", r.Idle}} {
		fmt.Fprintf(&b, "%s: %d opened (%d could not be), %d closed by the server", k.name, k.st.Opened, k.st.Refused, k.st.Closed)
		if k.st.Closed > 0 {
			fmt.Fprintf(&b, " after p50 %s, p99 %s, max %s from %s", k.st.P50.Round(10*time.Microsecond), k.st.P99.Round(10*time.Microsecond), k.st.Max.Round(10*time.Microsecond), k.since)
		}
		fmt.Fprintf(&b, "; %d still open at the end\n", k.st.Opened-k.st.Closed)
	}
	fmt.Fprintf(&b, "signed calls during the attack: %d, %d failed", r.Signed, r.SignedFailed)
	if len(r.SignedFailures) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(r.SignedFailures, "; "))
	}
	b.WriteString("\n")
	return b.String()
}

// clockTicks is the unit of the CPU times in /proc/PID/stat (USER_HZ),
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// ReadCPU returns the CPU time (user and system, all threads) that process
// pid has used so far, from /proc/PID/stat, in steps of 10 ms.
func ReadCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read the server's CPU time: %w", err)
	}
	return statCPU(pid, string(raw))
}

// statCPU reads the CPU time out of a /proc/PID/stat line.
func statCPU(pid int, raw string) (time.Duration, error) {
	// The command name, in parentheses, may hold spaces; the fields after
	// its closing parenthesis start at field 3 (state). utime and stime
	// are fields 14 and 15.
	_, rest, ok := cutLast(raw, ")")
	if !ok {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name", pid, len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: CPU time %q: %w", pid, v, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
