package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// etcdFlags say which etcd cluster holds the store and how to reach it.
// The server (--store etcd) and migrate share them, so a store is named
// the same way wherever it is opened.
type etcdFlags struct {
	endpoints    string
	prefix       string
	caFile       string
	certFile     string
	keyFile      string
	username     string
	passwordFile string
	dialTimeout  time.Duration
	reqTimeout   time.Duration
	leaseTTL     time.Duration
}

func (f *etcdFlags) register(fs *flag.FlagSet) {
	str := envFlags{fs}.str
	dur := envFlags{fs}.dur
	str(&f.endpoints, "etcd-endpoints", "", "etcd client addresses, comma-separated host:port or URLs (with --store etcd)")
	str(&f.prefix, "etcd-prefix", store.DefaultEtcdPrefix, "key prefix of the store in etcd; replicas sharing a store use the same one")
	str(&f.caFile, "etcd-ca-file", "", "PEM CA bundle that verifies etcd's certificate (enables TLS to etcd)")
	str(&f.certFile, "etcd-cert-file", "", "PEM client certificate for etcd (with --etcd-key-file)")
	str(&f.keyFile, "etcd-key-file", "", "PEM private key of --etcd-cert-file")
	str(&f.username, "etcd-username", "", "etcd user to authenticate as (with --etcd-password-file)")
	str(&f.passwordFile, "etcd-password-file", "", "file holding the etcd user's password (a file, so it is not on the command line)")
	dur(&f.dialTimeout, "etcd-dial-timeout", 5*time.Second, "longest connecting to etcd may take at start-up")
	dur(&f.reqTimeout, "etcd-request-timeout", store.DefaultEtcdRequestTimeout, "longest one request to etcd may take before the API answers a retryable error")
	f.leaseTTL = store.DefaultLeaseTTL
}

// registerLease adds the flag of a replica's lease, which only a server
// holds (migrate runs no jobs).
func (f *etcdFlags) registerLease(fs *flag.FlagSet) {
	envFlags{fs}.dur(&f.leaseTTL, "etcd-lease-ttl", store.DefaultLeaseTTL, "life of a replica's lease: its jobs move to another replica this long after it stops renewing it")
}

// checkEndpoint refuses an etcd address the client cannot dial: etcd
// speaks gRPC over http:// or https://, or host:port for plain http.
func checkEndpoint(e string) error {
	if scheme, rest, ok := strings.Cut(e, "://"); ok {
		if scheme != "http" && scheme != "https" || rest == "" {
			return fmt.Errorf("--etcd-endpoints: %q must be host:port, http://host:port or https://host:port", e)
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(e); err != nil {
		return fmt.Errorf("--etcd-endpoints: %q must be host:port, http://host:port or https://host:port", e)
	}
	return nil
}

// options turns the flags into store.EtcdOptions, reading the files they
// name. It refuses a half-given pair and values that cannot work.
func (f *etcdFlags) options() (store.EtcdOptions, error) {
	var o store.EtcdOptions
	for _, e := range strings.Split(f.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			if err := checkEndpoint(e); err != nil {
				return o, err
			}
			o.Endpoints = append(o.Endpoints, e)
		}
	}
	if len(o.Endpoints) == 0 {
		return o, errors.New("--etcd-endpoints must name at least one etcd client address, such as 127.0.0.1:2379")
	}
	o.Prefix = f.prefix
	if o.Prefix == "" || !strings.HasPrefix(o.Prefix, "/") || strings.HasSuffix(o.Prefix, "/") {
		return o, fmt.Errorf("--etcd-prefix must start with / and not end with one, such as %s, not %q", store.DefaultEtcdPrefix, f.prefix)
	}
	if strings.Contains(o.Prefix, "//") || strings.IndexFunc(o.Prefix, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		// Such a prefix is a key etcd takes, but not one an operator
		// types the same way twice (etcdctl, another replica's flags).
		return o, fmt.Errorf("--etcd-prefix must be path segments without spaces, control characters or empty segments, such as %s, not %q", store.DefaultEtcdPrefix, f.prefix)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"etcd-dial-timeout", f.dialTimeout}, {"etcd-request-timeout", f.reqTimeout}} {
		if d.v <= 0 {
			return o, fmt.Errorf("--%s must be a positive duration, not %s", d.name, d.v)
		}
	}
	if f.leaseTTL < 2*time.Second {
		// etcd grants leases in whole seconds, and a renewal must fit
		// well within one.
		return o, fmt.Errorf("--etcd-lease-ttl must be at least 2s, not %s", f.leaseTTL)
	}
	o.DialTimeout, o.RequestTimeout, o.LeaseTTL = f.dialTimeout, f.reqTimeout, f.leaseTTL
	if (f.certFile == "") != (f.keyFile == "") {
		return o, errors.New("--etcd-cert-file and --etcd-key-file must be given together")
	}
	if f.caFile != "" || f.certFile != "" {
		for _, e := range o.Endpoints {
			// The etcd client speaks plaintext to an http:// endpoint
			// whatever TLS it is given: against a TLS member it would wait
			// out the dial timeout, and against one serving both it would
			// send the store and the password in the clear.
			if strings.HasPrefix(strings.ToLower(e), "http://") {
				return o, fmt.Errorf("etcd endpoint %q is plain http, but --etcd-ca-file or --etcd-cert-file ask for TLS: give it as https://host:port or host:port", e)
			}
		}
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if f.caFile != "" {
			pem, err := os.ReadFile(f.caFile)
			if err != nil {
				return o, fmt.Errorf("--etcd-ca-file: %w", err)
			}
			o.TLS.RootCAs = x509.NewCertPool()
			if !o.TLS.RootCAs.AppendCertsFromPEM(pem) {
				return o, fmt.Errorf("--etcd-ca-file %s: no PEM certificate in it", f.caFile)
			}
		}
		if f.certFile != "" {
			cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
			if err != nil {
				return o, fmt.Errorf("--etcd-cert-file/--etcd-key-file: %w", err)
			}
			o.TLS.Certificates = []tls.Certificate{cert}
		}
	}
	if (f.username == "") != (f.passwordFile == "") {
		return o, errors.New("--etcd-username and --etcd-password-file must be given together")
	}
	if f.username != "" {
		pw, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return o, fmt.Errorf("--etcd-password-file: %w", err)
		}
		o.Username, o.Password = f.username, strings.TrimRight(string(pw), "\r\n")
	}
	return o, nil
}
