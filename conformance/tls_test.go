package conformance

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/internal/external"
	"github.com/amplifybackendd/amplifybackendd/internal/testcert"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestClientsOverTLS runs boto3, the AWS CLI and the JS SDK against a
// server serving HTTPS with a certificate from a self-signed CA generated
// here. The Python clients learn the endpoint and the CA from the config
// file the server wrote (its ca_bundle); Node is given the CA through
// NODE_EXTRA_CA_CERTS, which it reads instead. A signed call succeeds and a
// wrong secret is refused: SigV4 is verified behind TLS.
func TestClientsOverTLS(t *testing.T) {
	external.Require(t)
	ca, certFile, keyFile := testcert.Serving(t, t.TempDir())
	s := testserver.Start(t, "--tls-cert", certFile, "--tls-key", keyFile, "--tls-ca-bundle", ca.File)

	for _, c := range []struct {
		name string
		argv func(t *testing.T) ([]string, []string)
		want []string
	}{
		{"boto3", func(t *testing.T) ([]string, []string) {
			return []string{need(t, "python3"), "clients/tls_scenario.py"}, nil
		}, []string{"https_endpoint", "signed_call", "invalid_signature", "embedded_s3"}},
		{"aws-cli", func(t *testing.T) ([]string, []string) {
			return []string{need(t, "python3"), "clients/tls_scenario.py"}, []string{"AB_AWS=" + need(t, "aws")}
		}, []string{"signed_call", "invalid_signature"}},
		{"aws-sdk-js-v3", func(t *testing.T) ([]string, []string) {
			if _, err := os.Stat("clients/js/node_modules/@aws-sdk/client-amplifybackend"); err != nil {
				t.Fatalf("run npm ci in conformance/clients/js first (.ci/run does): %v", err)
			}
			return []string{need(t, "node"), "clients/js/tls.mjs"}, []string{"NODE_EXTRA_CA_CERTS=" + ca.File}
		}, []string{"https_endpoint", "signed_call", "invalid_signature"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			argv, env := c.argv(t)
			// A bound for a hung client, not a measure.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			// Without the machine's AWS_CA_BUNDLE, which would win over
			// the config's ca_bundle.
			base := slices.DeleteFunc(cleanEnv(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_CA_BUNDLE=") })
			cmd.Env = append(base, append(env,
				"AWS_CONFIG_FILE="+filepath.Join(s.DataDir, "config"),
				"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(s.DataDir, "credentials"),
				"AB_KEY_ID="+s.APICreds.AccessKeyID, "AB_WRONG_SECRET=wrong"+s.APICreds.SecretAccessKey)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("%s exited with %v; stderr:\n%s", c.name, err, stderr.String())
			}
			wantChecks(t, readChecks(t, "tls-"+c.name, out), c.want)
		})
	}
}
