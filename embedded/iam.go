package embedded

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/valyala/fasthttp"
	"github.com/versity/versitygw/iamapi"
	"github.com/versity/versitygw/iamapi/private"

	"github.com/amplifybackendd/amplifybackendd/internal/drain"
)

// maxIAMBody is the largest request body the IAM endpoint reads: the
// largest request a job sends, an inline role policy of IAM's 10,240
// characters form-encoded (up to three bytes each), fits with room to spare.
const maxIAMBody = 64 << 10

// runIAM serves Versity's IAM API on addr and its private endpoints (which
// the gateway uses to resolve IAM users' keys and evaluate policies) on
// sock, both over store, until ctx ends. It is what embedgw.RunIAMAPI wires,
// minus the web UI; RunIAMAPI cannot be used because it builds its own
// store, and ours puts roleStore in front of the file store.
func runIAM(ctx context.Context, store *roleStore, cfg Config, certs *iamapi.CertStorage, addr, sock string) error {
	root := iamapi.RootCredentials{Access: cfg.AccessKey, Secret: cfg.SecretKey}
	opts := []iamapi.Option{
		iamapi.WithConcurrencyLimiter(maxConnections, maxRequests),
		iamapi.WithKeepAlive(),
		iamapi.WithQuiet(),
		// No outbound TLS fetches from a loopback server: an OIDC provider
		// registered here must carry its thumbprint.
		iamapi.WithOIDCThumbprintAutoFetchDisabled(),
	}
	if certs != nil {
		opts = append(opts, iamapi.WithTLS(certs))
	}
	api, err := iamapi.New(store, root, opts...)
	if err != nil {
		return fmt.Errorf("init IAM API: %w", err)
	}
	if err := addManagedPolicyActions(api, store); err != nil {
		return err
	}
	// Before serving: its timeouts, and see package drain.
	srv := fiberApp(api).Server()
	// fasthttp allocates a body's announced length before reading it, and
	// reads it whole before the signature is checked: at fiber's 4 MiB
	// default, unsigned clients that announced 4 MiB and stalled held
	// about 2 MiB of memory each. IAM requests are form-encoded documents
	// of at most a few tens of KiB.
	srv.MaxRequestBodySize = maxIAMBody
	answerMalformed(srv)
	cfg.IAMTimeouts.apply(srv)
	drain.FastHTTP(ctx, srv)
	priv, err := private.New(store, root, private.WithPrivateQuiet())
	if err != nil {
		return fmt.Errorf("init private IAM API: %w", err)
	}
	served := make(chan error, 2)
	go func() { served <- api.ServeMultiPort([]string{addr}) }()
	go func() { served <- servePrivate(priv, sock) }()
	select {
	case <-ctx.Done():
	case err = <-served:
		if err == nil {
			err = errors.New("IAM API stopped serving")
		}
	}
	// Shutdown errors after a clean stop only say in-flight requests were
	// cut at Versity's deadline; the first serve error is what matters.
	api.Shutdown()
	priv.Shutdown()
	return err
}

// servePrivate serves the private endpoints on a unix socket. Their
// ServeMultiPort takes TLS options of a type in Versity's internal
// package, which a unix socket does not use; reflection is the only way to
// hand it their zero value from outside that module.
func servePrivate(p *private.PrivateAPI, sock string) error {
	serve := reflect.ValueOf(p).MethodByName("ServeMultiPort")
	if !serve.IsValid() || serve.Type().NumIn() != 2 || serve.Type().NumOut() != 1 {
		return errors.New("embedded: the private IAM API's ServeMultiPort has changed shape")
	}
	out := serve.Call([]reflect.Value{reflect.ValueOf([]string{sock}), reflect.Zero(serve.Type().In(1))})
	err, _ := out[0].Interface().(error)
	return err
}

// answerMalformed answers a request the IAM endpoint cannot parse (not
// HTTP, headers past the buffer) itself: Versity's handler answers such a
// request 500, as a failure of its own, and prints it, the client's bytes
// quoted, straight to the process's stderr, outside the server's log and
// its format.
func answerMalformed(srv *fasthttp.Server) {
	srv.ErrorHandler = func(ctx *fasthttp.RequestCtx, err error) {
		if errors.As(err, new(*fasthttp.ErrSmallBuffer)) {
			ctx.Error("Request Header Fields Too Large", fasthttp.StatusRequestHeaderFieldsTooLarge)
			return
		}
		if errors.Is(err, fasthttp.ErrBodyTooLarge) {
			ctx.Error("Request Entity Too Large", fasthttp.StatusRequestEntityTooLarge)
			return
		}
		ctx.Error("Bad Request: the request could not be parsed", fasthttp.StatusBadRequest)
	}
}
