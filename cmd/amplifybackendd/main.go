// Command amplifybackendd serves the AWS AmplifyBackend storage API.
//
// With no configuration it runs an S3 + IAM server (Versity gateway) inside
// the process, keeps its state under ./data, and prints how to point boto3
// and the AWS CLI at it. With --s3-endpoint (or the AWS SDK's own settings
// and --target external) it provisions on AWS, Ceph, MinIO or Versity.
// With --store etcd several replicas share one store kept in etcd and one
// external target (amplifybackendd gateway serves the embedded gateway
// alone, for trying that on one machine).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/amplifybackendd/amplifybackendd/access"
	"github.com/amplifybackendd/amplifybackendd/caller"
	"github.com/amplifybackendd/amplifybackendd/embedded"
	"github.com/amplifybackendd/amplifybackendd/handlers"
	"github.com/amplifybackendd/amplifybackendd/internal/drain"
	"github.com/amplifybackendd/amplifybackendd/jobs"
	"github.com/amplifybackendd/amplifybackendd/metrics"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/signin"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// config is every setting, from flags with AMPLIFYBACKENDD_* fallbacks.
type config struct {
	listen            string
	metricsListen     string
	debugListen       string
	dataDir           string
	embeddedS3        string
	embeddedIAM       string
	targetKind        string
	s3Endpoint        string
	iamEndpoint       string
	noIAM             bool
	region            string
	accountID         string
	workers           int
	authRole          string
	unauthRole        string
	identityPool      string
	publicGuestAccess string
	deleteBuckets     bool
	jobTimeout        time.Duration
	jobRetention      time.Duration
	challengeTTL      time.Duration
	sessionTTL        time.Duration
	retry             jobs.RetryPolicy
	bucketPolicyLimit int
	logLevel          string
	level             slog.Level // logLevel read
	logFormat         string
	limits            limits
	checkStore        store.CheckMode
	acceptStoreLoss   bool
	// tlsCert and tlsKey are absolute (the embedded gateway changes the
	// working directory, and SIGHUP reads them again); empty: plain HTTP.
	tlsCert, tlsKey string
	// tlsCABundle is what clients are told to verify the API with.
	tlsCABundle string
	// consoleOrigin is the origin browsers open the console at (empty:
	// the API's own URL).
	consoleOrigin string
	// storeKind is where the store is kept: storeBbolt or storeEtcd.
	storeKind string
	etcd      etcdFlags
	// etcdOptions are etcd's flags checked and read (with storeEtcd).
	etcdOptions store.EtcdOptions
	// keysDir holds the API key files (credentials, policies.json); empty:
	// the data directory. Replicas each have a data directory of their own
	// and share this one.
	keysDir string
}

// The embedded gateway's addresses, the server's and the gateway
// command's alike: fixed, so the clients' config stays true across starts.
const (
	defaultS3Listen  = "127.0.0.1:9000"
	defaultIAMListen = "127.0.0.1:9001"
)

// Where the store is kept (--store).
const (
	storeBbolt = "bbolt"
	storeEtcd  = "etcd"
)

func parseConfig(args []string) (config, error) {
	return parseConfigTo(args, os.Stderr)
}

// parseConfigTo is parseConfig writing its usage and flag errors to out.
// The usage names the commands before the server's flags, or --help would
// never tell a new user that keys, backup, restore and ready exist.
func parseConfigTo(args []string, out io.Writer) (c config, err error) {
	fs := flag.NewFlagSet("amplifybackendd", flag.ContinueOnError)
	defer func() { err = fromEnvironment(err, fs) }()
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: amplifybackendd [flags]            runs the server\n"+
			"       amplifybackendd COMMAND [flags]    commands: %s (COMMAND --help for each)\n\nflags of the server:\n",
			strings.Join(slices.Sorted(maps.Keys(commands)), ", "))
		fs.PrintDefaults()
	}
	str := envFlags{fs}.str
	str(&c.listen, "listen", "127.0.0.1:8080", "address of the AmplifyBackend API")
	str(&c.metricsListen, "metrics-listen", "", "address of the Prometheus metrics listener, unsigned (empty: none)")
	str(&c.debugListen, "debug-listen", "", "loopback address serving Go's runtime profiles (/debug/pprof/), unsigned (empty: none)")
	str(&c.dataDir, "data-dir", "./data", "directory for the store, credentials and the embedded S3 data")
	str(&c.keysDir, "keys-dir", "", "directory of the API key files (credentials, policies.json), which replicas share (default: --data-dir)")
	str(&c.storeKind, "store", storeBbolt, "where the store is kept: bbolt (a file in --data-dir, one process) or etcd (shared by replicas; --etcd-endpoints and an external target)")
	str(&c.embeddedS3, "embedded-s3-listen", defaultS3Listen, "address of the embedded S3 endpoint")
	str(&c.embeddedIAM, "embedded-iam-listen", defaultIAMListen, "address of the embedded IAM endpoint")
	str(&c.targetKind, "target", "auto", "embedded, external, or auto (external when an S3 endpoint is configured)")
	str(&c.s3Endpoint, "s3-endpoint", "", "S3 endpoint of an external target (default: AWS, or AWS_ENDPOINT_URL_S3)")
	str(&c.iamEndpoint, "iam-endpoint", "", "IAM endpoint of an external target (default: AWS, or AWS_ENDPOINT_URL_IAM)")
	str(&c.region, "region", firstNonEmpty(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), "us-east-1"), "region of the target")
	str(&c.accountID, "account-id", access.DefaultAccount, "12-digit account id in the ARNs key policies name (with --region)")
	str(&c.authRole, "auth-role-template", jobs.DefaultAuthRoleTemplate, "name of the authenticated role; {appId} and {env} are replaced, and both must appear")
	str(&c.unauthRole, "unauth-role-template", jobs.DefaultUnauthRoleTemplate, "name of the unauthenticated role; {appId} and {env} are replaced, and both must appear")
	str(&c.identityPool, "identity-pool-id", "", "Cognito identity pool the roles trust; {appId} and {env} are replaced (empty: a placeholder id per app and env)")
	str(&c.publicGuestAccess, "public-guest-access", "auto", "write guest permissions into bucket policies for Principal \"*\": true, false, or auto (true for the embedded target)")
	str(&c.tlsCert, "tls-cert", "", "PEM certificate (with its chain) the API, console and embedded gateway serve HTTPS with; reloaded on SIGHUP (empty: plain HTTP)")
	str(&c.tlsKey, "tls-key", "", "PEM private key of --tls-cert; reloaded on SIGHUP")
	str(&c.tlsCABundle, "tls-ca-bundle", "", "CA bundle <data-dir>/config tells clients to verify the API and embedded gateway with (default: --tls-cert itself, right for a self-signed certificate)")
	str(&c.consoleOrigin, "console-origin", "", "origin the admin console is opened at, which the embedded gateway answers CORS preflights for on buckets without CORS rules (default: the API's URL, e.g. http://127.0.0.1:8080)")
	str(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	str(&c.logFormat, "log-format", "text", "text (logfmt key=value lines) or json (one object a line)")
	checkStore := envOr("check-store", string(store.CheckAuto))
	fs.StringVar(&checkStore, "check-store", checkStore, "how much of the store to check, and when: auto (full before serving up to 32 MiB, else background), full (before serving), background (after opening; writes wait for it) or quick (env "+envName("check-store")+")")
	fs.BoolVar(&c.acceptStoreLoss, "accept-store-loss", envBool("accept-store-loss"), "start on a store that was refused as damaged or as having lost data, accepting the loss; use once (env "+envName("accept-store-loss")+")")
	fs.BoolVar(&c.noIAM, "no-iam", envBool("no-iam"), "the external target has no IAM API; role policies are skipped with a warning (env "+envName("no-iam")+")")
	fs.BoolVar(&c.deleteBuckets, "delete-buckets", envBool("delete-buckets"), "let DeleteBackendStorage remove empty buckets this service created (env "+envName("delete-buckets")+")")
	fs.IntVar(&c.workers, "workers", envInt("workers", 8), "most jobs executed at once; how many do, up to it, is chosen from how the target answers (env "+envName("workers")+")")
	fs.IntVar(&c.bucketPolicyLimit, "bucket-policy-limit", envInt("bucket-policy-limit", 0), "largest bucket policy in bytes the target takes (default 20480; 3584 for the embedded target) (env "+envName("bucket-policy-limit")+")")
	fs.IntVar(&c.retry.Attempts, "retry-attempts", envInt("retry-attempts", 8), "most times one job step runs when the target keeps failing transiently (env "+envName("retry-attempts")+")")
	fs.DurationVar(&c.retry.Base, "retry-base", envDuration("retry-base", 250*time.Millisecond), "first retry backoff; it doubles up to --retry-max, with full jitter (env "+envName("retry-base")+")")
	fs.DurationVar(&c.retry.Max, "retry-max", envDuration("retry-max", 15*time.Second), "longest retry backoff (env "+envName("retry-max")+")")
	fs.DurationVar(&c.jobTimeout, "job-timeout", envDuration("job-timeout", 10*time.Minute), "longest one job may run before it fails (env "+envName("job-timeout")+")")
	fs.DurationVar(&c.jobRetention, "job-retention", envDuration("job-retention", jobs.DefaultJobRetention), "how long finished jobs are kept after their last update; each resource's latest job is always kept (0: forever) (env "+envName("job-retention")+")")
	fs.DurationVar(&c.challengeTTL, "sign-in-challenge-ttl", envDuration("sign-in-challenge-ttl", signin.DefaultChallengeTTL), "how long a sign-in challenge from CreateToken can be exchanged (env "+envName("sign-in-challenge-ttl")+")")
	fs.DurationVar(&c.sessionTTL, "sign-in-session-ttl", envDuration("sign-in-session-ttl", signin.DefaultSessionTTL), "how long the temporary credentials of a console sign-in last (env "+envName("sign-in-session-ttl")+")")
	c.limits.register(fs)
	c.etcd.register(fs)
	c.etcd.registerLease(fs)
	// A mistyped flag is one line naming it, not that line, every flag
	// of the server and the line again.
	if err := parseFlags(fs, args); err != nil {
		return c, err
	}
	if err := checkEnv(fs); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		// A mistyped command (amplifybackendd key list) would otherwise
		// start a server.
		return c, fmt.Errorf("unexpected argument %q: the server takes only flags; its commands are %s", fs.Arg(0), strings.Join(slices.Sorted(maps.Keys(commands)), ", "))
	}
	if err := c.limits.validate(); err != nil {
		return c, err
	}
	// The job runner would take zero or less as "its default" and run with
	// 8 workers or a 10-minute timeout unasked; say so instead.
	for _, n := range []struct {
		flag  string
		value int
		least int
	}{{"workers", c.workers, 1}, {"retry-attempts", c.retry.Attempts, 1}, {"bucket-policy-limit", c.bucketPolicyLimit, 0}} {
		if n.value < n.least {
			return c, fmt.Errorf("--%s must be at least %d, not %d", n.flag, n.least, n.value)
		}
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{{"job-timeout", c.jobTimeout}, {"retry-base", c.retry.Base}, {"retry-max", c.retry.Max}} {
		if d.value <= 0 {
			return c, fmt.Errorf("--%s must be a positive duration, not %s", d.flag, d.value)
		}
	}
	// The backoff doubles from the base up to the max, so a base past the
	// max would make every wait the max: a mistake, not a policy.
	if c.retry.Base > c.retry.Max {
		return c, fmt.Errorf("--retry-base (%s) must not be longer than --retry-max (%s)", c.retry.Base, c.retry.Max)
	}
	if c.region == "" {
		return c, errors.New("--region must name the target's region, such as us-east-1; it is empty")
	}
	if c.jobRetention < 0 {
		return c, fmt.Errorf("--job-retention must be 0 (keep finished jobs forever) or a positive duration such as 720h, not %s", c.jobRetention)
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{{"sign-in-challenge-ttl", c.challengeTTL}, {"sign-in-session-ttl", c.sessionTTL}} {
		if d.value < time.Second {
			return c, fmt.Errorf("--%s must be at least 1s, such as 15m or 8h, not %s", d.flag, d.value)
		}
	}
	if !accountIDPattern.MatchString(c.accountID) {
		return c, fmt.Errorf("--account-id must be 12 digits, as in an AWS ARN, not %q", c.accountID)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return c, fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)
	}
	if err := c.level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return c, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", c.logLevel)
	}
	// Checked here, before anything is written to the data directory: a
	// value the server cannot use refuses the start and changes nothing.
	if _, err := guestAccessFor(c.publicGuestAccess, false); err != nil {
		return c, err
	}
	if c.checkStore, err = store.ParseCheckMode(checkStore); err != nil {
		return c, fmt.Errorf("--check-store: %w", err)
	}
	if err := c.checkTLS(); err != nil {
		return c, err
	}
	if err := checkDebugListen(c.debugListen); err != nil {
		return c, err
	}
	if err := checkOrigin(c.consoleOrigin); err != nil {
		return c, fmt.Errorf("--console-origin: %w", err)
	}
	switch c.targetKind {
	case "auto":
		c.targetKind = "embedded"
		if c.s3Endpoint != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != "" {
			c.targetKind = "external"
		}
	case "embedded", "external":
	default:
		return c, fmt.Errorf("--target must be embedded, external or auto, not %q", c.targetKind)
	}
	if err := c.checkStoreKind(); err != nil {
		return c, err
	}
	for _, t := range []struct{ flag, value string }{{"auth-role-template", c.authRole}, {"unauth-role-template", c.unauthRole}} {
		if err := jobs.CheckRoleTemplate(t.value); err != nil {
			return c, fmt.Errorf("--%s: %w", t.flag, err)
		}
	}
	if strings.EqualFold(c.authRole, c.unauthRole) {
		return c, fmt.Errorf("--auth-role-template and --unauth-role-template must differ: both are %q, so signed-in users and guests would share one role", c.authRole)
	}
	return c, nil
}

// guestAccessFor reads --public-guest-access for a target: auto is on for
// the embedded gateway, where nothing assumes the Cognito roles, so the
// bucket policy is all that gives guests their access.
func guestAccessFor(setting string, embeddedMode bool) (bool, error) {
	if setting == "auto" {
		return embeddedMode, nil
	}
	on, err := strconv.ParseBool(setting)
	if err != nil {
		return false, fmt.Errorf("--public-guest-access must be true, false or auto, not %q", setting)
	}
	return on, nil
}

// accountIDPattern is an AWS account id: what the ARNs of key policies
// name after the region.
var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// jobRetention maps the flag, where 0 means forever, to jobs.Config, where
// 0 means the default and a negative value forever.
func jobRetention(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// checkStoreKind refuses a store that cannot work with the rest of the
// configuration, and reads etcd's flags when the store is kept there.
func (c *config) checkStoreKind() error {
	switch c.storeKind {
	case storeBbolt:
		if c.etcd.endpoints != "" {
			// Most likely --store etcd was forgotten: a server that went
			// on with a file of its own would not share what its peers do.
			return errors.New("--etcd-endpoints is given but --store is bbolt: add --store etcd to keep the store in etcd, or drop --etcd-endpoints")
		}
		return nil
	case storeEtcd:
	default:
		return fmt.Errorf("--store must be bbolt or etcd, not %q", c.storeKind)
	}
	if c.targetKind == "embedded" {
		return errors.New("--store etcd needs an external target: the embedded S3/IAM gateway lives inside one process, and replicas must share one target. " +
			"Give --target external with --s3-endpoint and --iam-endpoint (or AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_IAM); " +
			"to try replicas on one machine, run `amplifybackendd gateway` and point them at it")
	}
	if c.acceptStoreLoss {
		return errors.New("--accept-store-loss applies to a bbolt store file, not to --store etcd: etcd checks its own data (restore an etcd snapshot instead: etcdutl snapshot restore)")
	}
	var err error
	c.etcdOptions, err = c.etcd.options()
	return err
}

// checkTLS refuses a half-given pair and makes the paths absolute.
func (c *config) checkTLS() error {
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key must be given together: one without the other cannot serve HTTPS")
	}
	if c.tlsCert == "" {
		if c.tlsCABundle != "" {
			return errors.New("--tls-ca-bundle needs --tls-cert and --tls-key: without them the API serves plain HTTP")
		}
		return nil
	}
	if c.tlsCABundle == "" {
		c.tlsCABundle = c.tlsCert
	}
	for _, p := range []*string{&c.tlsCert, &c.tlsKey, &c.tlsCABundle} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("TLS file %s: %w", *p, err)
		}
		*p = abs
	}
	return nil
}

// envFlags registers flags whose defaults come from their AMPLIFYBACKENDD_*
// variables, each usage naming its variable, so every command's flags
// fall back to the environment the same way.
type envFlags struct{ fs *flag.FlagSet }

func (f envFlags) str(p *string, name, def, usage string) {
	f.fs.StringVar(p, name, envOr(name, def), usage+" (env "+envName(name)+")")
}

func (f envFlags) dur(p *time.Duration, name string, def time.Duration, usage string) {
	f.fs.DurationVar(p, name, envDuration(name, def), usage+" (env "+envName(name)+")")
}

func envName(flagName string) string {
	return "AMPLIFYBACKENDD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envOr is the flag's variable, or def where it is unset or empty. Empty
// reads as unset, as for the boolean, number and duration flags: an env
// file or a compose setting of an unset ${VAR} writes AMPLIFYBACKENDD_LISTEN=,
// which taken as written served the API on every interface at a random
// port, and AMPLIFYBACKENDD_DATA_DIR= kept the keys in the working folder.
func envOr(flagName, def string) string {
	if v := os.Getenv(envName(flagName)); v != "" {
		return v
	}
	return def
}

// fromEnvironment names the AMPLIFYBACKENDD_* variable behind a refused
// value. A refusal names the flag (--workers must be at least 1), but a
// value set in the environment (a unit file, a container's settings) is on
// no command line, where its reader would look for it.
func fromEnvironment(err error, fs *flag.FlagSet) error {
	if err == nil {
		return nil
	}
	msg, ok := strings.CutPrefix(err.Error(), "--")
	if !ok {
		return err
	}
	name := msg[:len(msg)-len(strings.TrimLeft(msg, "abcdefghijklmnopqrstuvwxyz0123456789-"))]
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	v := os.Getenv(envName(name))
	if fs.Lookup(name) == nil || given || v == "" {
		return err
	}
	return fmt.Errorf("%s=%q: %w", envName(name), v, err)
}

// checkEnv refuses an AMPLIFYBACKENDD_* variable its flag cannot read.
// envBool, envInt and envDuration fall back to the default on such a
// value, so without this AMPLIFYBACKENDD_DELETE_BUCKETS=yes or
// AMPLIFYBACKENDD_JOB_TIMEOUT=10 (no unit) would be ignored without a word,
// where the same value as a flag is refused. A flag given on the command
// line wins over its variable, which is then not read.
func checkEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if err != nil || given[f.Name] || !ok {
			return
		}
		var want string
		switch g.Get().(type) {
		case bool:
			want = "true or false"
		case int, int64:
			want = "a whole number"
		case time.Duration:
			want = "a duration such as 90s or 10m"
		default: // strings are taken as they are, and checked with their flag
			return
		}
		// The variable set but empty reads as unset, as envBool,
		// envInt and envDuration take it.
		if v := os.Getenv(envName(f.Name)); v != "" && f.Value.Set(v) != nil {
			err = fmt.Errorf("%s=%q (--%s) must be %s", envName(f.Name), v, f.Name, want)
		}
	})
	return err
}

func envBool(flagName string) bool {
	b, _ := strconv.ParseBool(os.Getenv(envName(flagName)))
	return b
}

func envInt(flagName string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(envName(flagName))); err == nil {
		return v
	}
	return def
}

func envDuration(flagName string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(envName(flagName))); err == nil {
		return v
	}
	return def
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// embeddedGaps are the optional bucket settings the embedded Versity
// gateway answers 501 for.
var embeddedGaps = []jobs.BucketSetting{jobs.SettingDefaultEncryption}

func main() {
	if len(os.Args) > 1 && commands[os.Args[1]] != nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := commands[os.Args[1]](ctx, os.Args[2:])
		stop()
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "amplifybackendd %s: %v\n", os.Args[1], err)
			if errors.As(err, new(usageError)) {
				os.Exit(2)
			}
			os.Exit(1)
		}
		return
	}
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "amplifybackendd:", err)
		os.Exit(2)
	}
	// Request and job ids are UUIDs; drawing their randomness in blocks
	// keeps crypto/rand off the per-request path. Set once, before any use.
	uuid.EnableRandPool()
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "amplifybackendd:", err)
		os.Exit(1)
	}
}

// tuneGC trades some memory for CPU unless GOGC or GOMEMLIMIT say
// otherwise. The live heap is small (records live in bbolt's memory map,
// not the heap), so at Go's default the collector runs every few
// megabytes and took about a tenth of the CPU under load; collecting at
// five times the live heap, with a soft ceiling, takes a fraction of that.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}

func run(ctx context.Context, cfg config) error {
	log := newLogger(cfg.logFormat, cfg.level)
	// Metrics cost nothing when no listener asks for them: a nil *Metrics
	// observes nothing.
	var m *metrics.Metrics
	if cfg.metricsListen != "" {
		m = metrics.New()
	}

	var cert *servingCert
	if cfg.tlsCert != "" {
		var err error
		if cert, err = loadServingCert(cfg.tlsCert, cfg.tlsKey); err != nil {
			return err
		}
	}
	// Absolute before anything else: the embedded gateway changes the
	// process's working directory.
	dataDir, err := filepath.Abs(cfg.dataDir)
	if err != nil {
		return err
	}
	lock, lns, err := claim(dataDir, cfg)
	if err != nil {
		return err
	}
	defer lock.Release()
	defer closeAll(lns)
	// The API listener is bound before the target is started so reads are
	// served while the target comes up.
	ln, embeddedLns := lns[0], lns[1:]
	var metricsLn, debugLn net.Listener
	if cfg.metricsListen != "" {
		metricsLn, embeddedLns = embeddedLns[0], embeddedLns[1:]
	}
	if cfg.debugListen != "" {
		debugLn, embeddedLns = embeddedLns[0], embeddedLns[1:]
		if err := checkDebugBound(cfg.debugListen, debugLn.Addr()); err != nil {
			return err
		}
	}
	embeddedMode := cfg.targetKind == "embedded"
	profiles := []string{profileAPI}
	if embeddedMode {
		profiles = append(profiles, profileEmbedded)
	}
	keysDir, err := cfg.keyFilesDir(dataDir)
	if err != nil {
		return err
	}
	creds, err := loadOrCreateCredentials(keysDir, profiles...)
	if err != nil {
		return err
	}
	creds.warnReplaced(log)
	st, err := openStore(ctx, cfg, dataDir, store.Options{Check: cfg.checkStore, AcceptLoss: cfg.acceptStoreLoss, Logger: log, Metrics: m})
	if err != nil {
		return err
	}
	defer st.Close()

	tcfg := s3iam.Config{Region: cfg.region, S3Endpoint: cfg.s3Endpoint, IAMEndpoint: cfg.iamEndpoint, NoIAM: cfg.noIAM, Metrics: m}
	embeddedCtx, stopEmbedded := context.WithCancel(context.Background())
	defer stopEmbedded()
	var gw *embedded.Server
	if embeddedMode {
		root := creds.profiles[profileEmbedded]
		closeAll(embeddedLns) // Versity binds these addresses itself
		origin := cfg.consoleOrigin
		if origin == "" {
			if origin = apiURL(cfg.listen, ln.Addr()); cert != nil {
				origin = embedded.HTTPS(origin)
			}
		}
		gcfg := gatewayConfig(dataDir, root, cfg.limits, log)
		gcfg.S3Listen, gcfg.IAMListen, gcfg.Region, gcfg.CORSAllowOrigin = cfg.embeddedS3, cfg.embeddedIAM, cfg.region, origin
		gcfg.TLSCert, gcfg.TLSKey = cfg.tlsCert, cfg.tlsKey
		gw, err = embedded.Start(embeddedCtx, gcfg)
		if err != nil {
			ln.Close()
			return fmt.Errorf("start embedded S3/IAM: %w", err)
		}
		tcfg.S3Endpoint, tcfg.IAMEndpoint, tcfg.NoIAM, tcfg.Region = gw.S3Endpoint, gw.IAMEndpoint, false, gw.Region
		tcfg.AccessKey, tcfg.SecretKey = root.AccessKey, root.SecretKey
		if cert != nil {
			// The gateway serves the API's certificate: the control plane
			// verifies it as clients do.
			if tcfg.HTTPClient, err = bundleClient(cfg.tlsCABundle); err != nil {
				ln.Close()
				return err
			}
		}
	}
	ep := clientEndpoints{API: apiURL(cfg.listen, ln.Addr())}
	if cert != nil {
		ep.API, ep.CABundle = embedded.HTTPS(ep.API), cfg.tlsCABundle
	}
	if gw != nil {
		ep.S3, ep.IAM = gw.S3Endpoint, gw.IAMEndpoint
	}
	cliConfig, err := writeCLIConfig(dataDir, cfg.region, ep)
	if err != nil {
		ln.Close()
		return err
	}
	tg, err := s3iam.New(ctx, tcfg)
	if err != nil {
		ln.Close()
		return fmt.Errorf("configure target: %w", err)
	}

	publicGuest, err := guestAccessFor(cfg.publicGuestAccess, embeddedMode)
	if err != nil {
		ln.Close()
		return err
	}
	bucketPolicyLimit := cfg.bucketPolicyLimit
	if bucketPolicyLimit == 0 && embeddedMode {
		// The embedded gateway stores a bucket policy in an extended
		// attribute, which ext4 caps near 4 KB with the bucket's other
		// attributes; past that it answers 500.
		bucketPolicyLimit = 3584
	}
	var gaps []jobs.BucketSetting
	system := handlers.System{Target: cfg.targetKind, S3Endpoint: tcfg.S3Endpoint, IAMEndpoint: tcfg.IAMEndpoint,
		IAM: tg.HasIAM(), PublicGuestAccess: publicGuest, Started: time.Now().UTC()}
	if embeddedMode {
		// Known before any job runs: said once here, not on every job.
		gaps = embeddedGaps
		for _, g := range gaps {
			w := "the embedded gateway does not implement bucket " + string(g) + "; buckets are created without it"
			log.Warn(w)
			system.Warnings = append(system.Warnings, w)
		}
	}
	runner := jobs.New(st, tg, jobs.Config{
		BucketPolicyLimit: bucketPolicyLimit, KnownGaps: gaps,
		Workers: cfg.workers, AuthRoleTemplate: cfg.authRole, UnauthRoleTemplate: cfg.unauthRole,
		IdentityPoolID: cfg.identityPool, Region: cfg.region, PublicGuestAccess: publicGuest, DeleteBuckets: cfg.deleteBuckets,
		JobTimeout: cfg.jobTimeout, JobRetention: jobRetention(cfg.jobRetention), Retry: cfg.retry, Logger: log, Metrics: m,
	})

	rd := &readiness{
		store:     st.Ping,
		recovered: runner.Recovered(), checked: st.Checked(), now: time.Now, stale: probeStale,
	}
	keys := newAPIKeys(creds)
	if unscoped := creds.ring.Unscoped(); !creds.ring.HasPoliciesFile() && len(unscoped) > 0 {
		log.Warn("no policies.json beside the credentials file: every key in it is an administrator; if the file was lost, put it back",
			"keys_dir", keysDir, "administrators", strings.Join(unscoped, ","))
	}
	// Sign-in sessions answer for the keys the key files do not know; a
	// session's creator is looked up among all of them, so a session's own
	// invitations end with it.
	var callers caller.Chain
	signIns := signin.New(signin.Config{Store: st, Creators: &callers, ChallengeTTL: cfg.challengeTTL, SessionTTL: cfg.sessionTTL})
	callers = caller.Chain{keys, signIns}
	// Registered before anything is served: a SIGHUP that came before the
	// handler would end the process (the default action).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var reloadTLS func() error
	if cert != nil {
		reloadTLS = cert.reloader(gw.ReloadTLS)
	}
	go reloadOnHangup(ctx, hup, keys, reloadTLS, log)
	keyPoll := time.NewTicker(keyPollInterval)
	defer keyPoll.Stop()
	go keys.watch(ctx, keyPoll.C, log)
	e := handlers.New(handlers.Config{
		Store: st, Runner: runner, Buckets: tg, Objects: tg, Region: cfg.region, Logger: log,
		Keys: callers, SignIn: signIns, BodyBudget: cfg.limits.bodyBudget, System: system, Metrics: m,
		Ready: rd.check, Scope: access.Scope{Region: cfg.region, Account: cfg.accountID},
	})
	srv := cfg.limits.apiServer(e)
	drain.HTTP(srv)
	var metricsSrv *http.Server
	if metricsLn != nil {
		observeState(m, runner, keys)
		if cert != nil {
			m.ObserveTLS(cert.state)
		}
		metricsSrv = cfg.limits.apiServer(metricsHandler(m))
		drain.HTTP(metricsSrv)
	}

	runCtx, stopRunner := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := runner.Run(runCtx); err != nil {
			log.Error("job runner stopped", "error", err)
		}
	}()
	go func() {
		defer wg.Done()
		probeTarget(runCtx, tg.Ping, rd, log)
	}()
	serveErr := make(chan error, 1)
	ln = limitConnections(ln, cfg.limits.maxConns)
	if metricsLn != nil {
		metricsLn = limitConnections(metricsLn, cfg.limits.maxConns)
	}
	go func() {
		if cert != nil {
			srv.TLSConfig = cert.config()
			serveErr <- srv.ServeTLS(ln, "", "")
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	// Metrics or profiles that cannot be served are no reason to stop
	// serving the API.
	serveAside := func(name string, srv *http.Server, ln net.Listener) {
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				log.Error(name+" listener stopped", "error", err)
			}
		}()
	}
	if metricsSrv != nil {
		serveAside("metrics", metricsSrv, metricsLn)
	}
	var debugSrv *http.Server
	if debugLn != nil {
		debugSrv = debugServer(cfg.limits)
		drain.HTTP(debugSrv)
		serveAside("debug", debugSrv, debugLn)
	}

	// The URL clients reach, as the config names it: a listener on every
	// interface is reported as [::], which is no address to open.
	endpoint := ep.API
	fmt.Printf("amplifybackendd: AmplifyBackend API on %s (data in %s)\n", endpoint, dataDir)
	if cfg.storeKind == storeEtcd {
		fmt.Printf("amplifybackendd: store in etcd at %s under %s, API keys in %s\n", strings.Join(cfg.etcdOptions.Endpoints, ","), cfg.etcdOptions.Prefix, keysDir)
	}
	if gw != nil {
		fmt.Printf("amplifybackendd: embedded S3 on %s and IAM on %s (profile %s)\n", gw.S3Endpoint, gw.IAMEndpoint, profileEmbedded)
	}
	if metricsLn != nil {
		fmt.Printf("amplifybackendd: metrics on %s%s\n", apiURL(cfg.metricsListen, metricsLn.Addr()), metrics.Path)
	}
	if debugLn != nil {
		fmt.Printf("amplifybackendd: profiles on http://%s/debug/pprof/\n", debugLn.Addr())
	}
	fmt.Printf("  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=%s\n", creds.path, cliConfig)
	if cert != nil {
		// The config's ca_bundle reaches botocore; the JS SDK reads
		// Node's own setting instead.
		fmt.Printf("  export NODE_EXTRA_CA_CERTS=%s\n", cfg.tlsCABundle)
	}
	// The config names every endpoint; clients older than the
	// service-specific endpoint settings still need --endpoint-url (README).
	fmt.Printf("  aws amplifybackend list-s3-buckets\n")
	if gw != nil {
		fmt.Printf("  aws s3 ls --profile %s\n", profileEmbedded)
	}
	fmt.Printf("amplifybackendd: admin console on %s/console/ (sign in with the [default] key)\n", endpoint)

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		log.Error("API server stopped", "error", err)
	}
	// Stop in order: no new requests, then no new job steps (interrupted jobs
	// stay RUNNING and resume at the next start), then the store, then S3.
	rd.shuttingDown()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(shutdownCtx)
	}
	if debugSrv != nil {
		// A profile in progress is cut short rather than waited for.
		_ = debugSrv.Close()
	}
	stopRunner()
	wg.Wait()
	stopEmbedded()
	if gw != nil {
		if werr := gw.Wait(); werr != nil {
			log.Warn("embedded S3/IAM stopped with an error", "error", werr)
		}
	}
	log.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// newLogger returns the process's logger in the chosen format: text
// (logfmt key=value lines, for people) or json (one object a line, for log
// pipelines), with the same fields either way.
func newLogger(format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// reloadOnHangup reloads the API keys from the key files, and the
// TLS certificate with reloadTLS when one is served (nil: none), on each
// signal from hup (SIGHUP).
func reloadOnHangup(ctx context.Context, hup chan os.Signal, keys *apiKeys, reloadTLS func() error, log *slog.Logger) {
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			keys.reloadLogged(log, "SIGHUP")
			if reloadTLS == nil {
				continue
			}
			if err := reloadTLS(); err != nil {
				log.Error("TLS certificate not reloaded; the one loaded before is still served", "error", err)
			} else {
				log.Info("TLS certificate reloaded")
			}
		}
	}
}

// checkOrigin accepts an empty origin or a browser origin: scheme http or
// https, a host, an optional port, and nothing after it.
func checkOrigin(o string) error {
	if o == "" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an origin: give scheme://host[:port], e.g. https://admin.example.com", o)
	}
	return nil
}

// keyFilesDir is the absolute directory of the API key files: --keys-dir,
// created if missing, or the data directory.
func (c config) keyFilesDir(dataDir string) (string, error) {
	if c.keysDir == "" {
		return dataDir, nil
	}
	dir, err := filepath.Abs(c.keysDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return "", fmt.Errorf("--keys-dir: %w", err)
	}
	return dir, nil
}
