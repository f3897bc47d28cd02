package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/amplifybackendd/amplifybackendd/embedded"
)

// runGateway serves the embedded S3 and IAM gateway on its own, with no
// API: an external target that replicas on etcd can share, for trying
// them on one machine and for tests. It is one process, so it is no
// target for production. Its data directory is laid out as the server's
// (the gateway's files under embedded/, its root key as profile
// embedded-s3 of credentials), so a server started later on the same
// directory finds the same buckets and key.
func runGateway(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("amplifybackendd gateway", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: amplifybackendd gateway [flags]

Serves the embedded S3 and IAM gateway alone, as an external target that several
servers (--store etcd --target external --s3-endpoint ... --iam-endpoint ...) share.
Its root key is profile `+profileEmbedded+` of DATA-DIR/credentials, made (mode 0600)
at the first start; the lines it prints say how to point servers at it. One
process holds every object: for trying replicas and for tests, not production.
SIGTERM or SIGINT stops it.`)
		fs.PrintDefaults()
	}
	str := envFlags{fs}.str
	var dataDir, s3Listen, iamListen, region, origin string
	var lim limits
	str(&dataDir, "data-dir", "./data", "directory for the gateway's buckets, IAM data and root key")
	str(&s3Listen, "s3-listen", defaultS3Listen, "address of the S3 endpoint")
	str(&iamListen, "iam-listen", defaultIAMListen, "address of the IAM endpoint")
	str(&region, "region", firstNonEmpty(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), embedded.DefaultRegion), "region the gateway reports and expects in signatures")
	str(&origin, "console-origin", "", "origin of an admin console browsers may call buckets from when a bucket has no CORS rules of its own (empty: none)")
	lim.registerTimeouts(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: the gateway takes only flags", fs.Arg(0))}
	}
	if err := checkEnv(fs); err != nil {
		return usageError{err}
	}
	if err := lim.validateTimeouts(); err != nil {
		return usageError{err}
	}
	if err := checkOrigin(origin); err != nil {
		return usageError{fmt.Errorf("--console-origin: %w", err)}
	}
	// Absolute before the gateway starts: it changes the working directory.
	dir, err := filepath.Abs(dataDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	lock, err := lockDataDir(dir, "amplifybackendd gateway, S3 on "+s3Listen)
	if err != nil {
		return err
	}
	defer lock.Release()
	// Both addresses are tried before anything starts, so one message
	// names every one that is taken, as the server's does.
	lns, err := listenAll([]listenAddr{{"s3-listen", s3Listen}, {"iam-listen", iamListen}})
	if err != nil {
		return err
	}
	closeAll(lns) // Versity binds them itself
	creds, err := loadOrCreateCredentials(dir, profileEmbedded)
	if err != nil {
		return err
	}
	log := newLogger("text", slog.LevelInfo)
	creds.warnReplaced(log)
	gcfg := gatewayConfig(dir, creds.profiles[profileEmbedded], lim, log)
	gcfg.S3Listen, gcfg.IAMListen, gcfg.Region, gcfg.CORSAllowOrigin = s3Listen, iamListen, region, origin
	gw, err := embedded.Start(ctx, gcfg)
	if err != nil {
		return fmt.Errorf("start the gateway: %w", err)
	}
	fmt.Printf("amplifybackendd gateway: S3 on %s and IAM on %s (data in %s)\n", gw.S3Endpoint, gw.IAMEndpoint, dir)
	// The bucket policy limit is the server's for its embedded target: the
	// gateway keeps a policy in an extended attribute (see the server's
	// --bucket-policy-limit). Guest access is too: nothing on the gateway
	// assumes the Cognito roles, so guests get only what the bucket policy
	// grants, which an external target leaves out by default.
	fmt.Printf("  servers use it with: --target external --s3-endpoint %s --iam-endpoint %s --region %s --bucket-policy-limit 3584 --public-guest-access true\n",
		gw.S3Endpoint, gw.IAMEndpoint, gw.Region)
	fmt.Printf("  signing with its root key: AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=%s\n", creds.path, profileEmbedded)
	// Wait returns on a signal (ctx, given to Start, ends) or when either
	// half fails on its own, which stops the other.
	if err := gw.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("the gateway stopped with an error: %w", err)
	}
	return nil
}

// gatewayConfig is the embedded gateway of the data directory dataDir:
// its files under dataDir/embedded, signed with root, with lim's
// timeouts. The server and the gateway command both start it this way,
// so a data directory either one made serves the other.
func gatewayConfig(dataDir string, root keyPair, lim limits, log *slog.Logger) embedded.Config {
	s3Timeouts, iamTimeouts := lim.embedded()
	return embedded.Config{Dir: filepath.Join(dataDir, "embedded"), AccessKey: root.AccessKey, SecretKey: root.SecretKey,
		S3Timeouts: s3Timeouts, IAMTimeouts: iamTimeouts, Logger: log}
}
