package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/amplifybackendd/amplifybackendd/embedded"
)

// localEndpoint is the API of the server this machine runs, as its own
// settings (AMPLIFYBACKENDD_LISTEN, AMPLIFYBACKENDD_TLS_CERT) describe it:
// what the commands that talk to that server default to.
func localEndpoint() string {
	u := embedded.EndpointURL(envOr("listen", "127.0.0.1:8080"))
	if envOr("tls-cert", "") != "" {
		u = embedded.HTTPS(u)
	}
	return u
}

// localCABundle is the CA bundle the commands that call the local server
// trust by default: the server's own (AMPLIFYBACKENDD_TLS_CA_BUNDLE, else
// its certificate, AMPLIFYBACKENDD_TLS_CERT), empty when it serves HTTP.
func localCABundle() string {
	return envOr("tls-ca-bundle", envOr("tls-cert", ""))
}

// caBundleFlag registers --tls-ca-bundle on a command that calls the
// server: a server started with --tls-cert on its command line, not in
// the environment, is otherwise reached only through the system's CAs,
// which do not hold a self-signed certificate.
func caBundleFlag(fs *flag.FlagSet) *string {
	return fs.String("tls-ca-bundle", localCABundle(), "PEM CA bundle (or the self-signed certificate) to verify an https:// --endpoint with; the chain is checked, not the name (env "+envName("tls-ca-bundle")+", else "+envName("tls-cert")+")")
}

// localClient is the HTTP client for the local server: with a CA bundle,
// it trusts that bundle alone. The chain is verified but not the name: the
// commands dial the server's loopback address, which a certificate made
// for its public name does not carry.
func localClient(bundle string) (*http.Client, error) {
	if bundle == "" {
		return http.DefaultClient, nil
	}
	roots, err := bundlePool(bundle)
	if err != nil {
		return nil, err
	}
	verify := func(cs tls.ConnectionState) error {
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		return err
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS12, InsecureSkipVerify: true, VerifyConnection: verify,
	}}}, nil
}

// bundlePool reads a PEM CA bundle.
func bundlePool(bundle string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(bundle)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", bundle)
	}
	return roots, nil
}

// bundleClient is an HTTP client that trusts the CAs of bundle, and
// verifies names as any client does.
func bundleClient(bundle string) (*http.Client, error) {
	roots, err := bundlePool(bundle)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	return &http.Client{Transport: tr}, nil
}

// runReady exits 0 when the local server answers /readyz with 200: the
// container image's HEALTHCHECK, which has no curl to run.
func runReady(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("amplifybackendd ready", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: amplifybackendd ready [flags]\n\nExits 0 when the server answers GET /readyz with 200, else prints why and exits 1 (2 for a wrong command line).")
		fs.PrintDefaults()
	}
	endpoint := fs.String("endpoint", envOr("endpoint", localEndpoint()), "the server's API address (env "+envName("endpoint")+")")
	bundle := caBundleFlag(fs)
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// An address given as an argument would otherwise be ignored and the
	// default one checked, which may well answer.
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: ready takes only flags; give the address as --endpoint URL", fs.Arg(0))}
	}
	if err := checkServerURL(*endpoint); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(*endpoint, "/")+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := doLocal(req, *bundle)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	return resp.Body.Close()
}

// parseFlags parses the flags of a command that calls or stops beside a
// server. A wrong one is a usageError (exit status 2, as for keys and
// migrate), stated once with where the flags are listed, instead of the
// flag package's message, the whole usage and the message again; -h
// prints the usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	case err != nil:
		return usageError{fmt.Errorf("%w (%s -h lists the flags)", err, fs.Name())}
	}
	return nil
}

// checkServerURL refuses an --endpoint that is not an http:// or https://
// URL. Given as host:port, net/http's own error ("first path segment in
// URL cannot contain colon") does not say what to write instead.
func checkServerURL(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	example := "http://127.0.0.1:8080"
	if !strings.Contains(endpoint, "://") && endpoint != "" {
		example = "http://" + endpoint
	}
	return usageError{fmt.Errorf("--endpoint %q is not a URL: give the server's, such as %s (https:// for a server started with --tls-cert)", endpoint, example)}
}

// doLocal sends req to the local server with localClient and returns the
// answer if it is a 200; any other status is an error quoting the start
// of the body, which says why.
func doLocal(req *http.Request, bundle string) (*http.Response, error) {
	client, err := localClient(bundle)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var unknown x509.UnknownAuthorityError
		var unverified *tls.CertificateVerificationError
		if errors.As(err, &unknown) || errors.As(err, &unverified) {
			return nil, fmt.Errorf("%w (give --tls-ca-bundle: the CA bundle or self-signed certificate the server was started with)", err)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (no server listens at %s: start it, or give --endpoint the URL of its --listen address)", err, req.URL.Host)
		}
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("the server answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return resp, nil
}
