package s3iam

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/metrics"
)

// DefaultRegion is used when neither Config.Region nor the SDK's own
// configuration (AWS_REGION, shared config) names one.
const DefaultRegion = "us-east-1"

// iamSigningRegion is the region IAM requests are signed for. IAM is a global
// service signed in us-east-1 on AWS, and Versity's IAM API rejects any other
// scope; Ceph RGW accepts any (measured with us-east-1 and eu-west-1). It
// only matters for explicit endpoints, since the SDK's own endpoint
// resolution already picks the right region for AWS partitions.
const iamSigningRegion = "us-east-1"

// sdkMaxAttempts caps the SDK's own retries (first try included). The job
// layer retries with its own backoff and budget, so the SDK only smooths over
// a dropped connection or a short throttling burst.
const sdkMaxAttempts = 3

// Config says where the S3 and IAM APIs are and how to sign for them. The
// zero value means AWS through the SDK's default chain.
type Config struct {
	// Region is the region buckets are created in and S3 requests are
	// signed for. Default: the SDK's configured region, else DefaultRegion.
	Region string
	// S3Endpoint is the base URL of a non-AWS S3 API (path-style addressing
	// is used). Empty leaves resolution to the SDK, which also honours
	// AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL.
	S3Endpoint string
	// IAMEndpoint is the base URL of a non-AWS IAM API; empty leaves it to
	// the SDK (AWS_ENDPOINT_URL_IAM, AWS_ENDPOINT_URL, else AWS).
	IAMEndpoint string
	// NoIAM disables IAM: for S3 servers without an IAM API, such as MinIO.
	// The IAM methods then return ErrNoIAM.
	NoIAM bool
	// AccessKey and SecretKey are static credentials for both APIs. Empty
	// uses the SDK's default credential chain.
	AccessKey, SecretKey string
	// HTTPClient optionally replaces the SDK's HTTP client (tests, proxies).
	HTTPClient *http.Client
	// Metrics, when set, counts and times every S3 and IAM call.
	Metrics *metrics.Metrics
}

// Target is a connected S3 (and optionally IAM) API. It is safe for
// concurrent use by many jobs.
type Target struct {
	s3 *s3.Client
	// presign is s3 without the SDK's optional checksums, for URLs a
	// browser uses (objects.go).
	presign *s3.Client
	iam     *iam.Client // nil when IAM is disabled
	region  string
	// customS3 and customIAM are set for explicit (non-AWS) endpoints,
	// where the workarounds for other servers' quirks apply.
	customS3, customIAM bool
}

// New builds the clients. It does not contact the target; use Ping for that.
func New(ctx context.Context, cfg Config) (*Target, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = sdkMaxAttempts })
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		if cfg.AccessKey == "" || cfg.SecretKey == "" {
			return nil, fmt.Errorf("target: access key and secret key must be given together")
		}
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("target: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultRegion
	}

	t := &Target{region: awsCfg.Region}
	// A caller's HTTP client is set on the service clients rather than
	// through LoadDefaultConfig, which refuses a plain *http.Client when
	// AWS_CA_BUNDLE is set: whoever supplies the client owns its TLS setup.
	if cfg.HTTPClient != nil {
		awsCfg.HTTPClient = cfg.HTTPClient
	}
	if awsCfg.HTTPClient == nil {
		awsCfg.HTTPClient = awshttp.NewBuildableClient() // what the service clients default to
	}
	awsCfg.HTTPClient = ownBodies{awsCfg.HTTPClient}
	t.s3 = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Metrics != nil {
			o.APIOptions = append(o.APIOptions, observeCalls(cfg.Metrics, "s3"))
		}
		if cfg.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.S3Endpoint)
		}
		// BaseEndpoint is also set here when the SDK found
		// AWS_ENDPOINT_URL_S3: any explicit endpoint is treated as non-AWS.
		if o.BaseEndpoint != nil {
			t.customS3 = true
			o.UsePathStyle = true
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
	t.presign = s3.New(t.s3.Options(), func(o *s3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	if !cfg.NoIAM {
		t.iam = iam.NewFromConfig(awsCfg, func(o *iam.Options) {
			o.APIOptions = append(o.APIOptions, addS3StyleIAMErrors)
			if cfg.Metrics != nil {
				o.APIOptions = append(o.APIOptions, observeCalls(cfg.Metrics, "iam"))
			}
			if cfg.IAMEndpoint != "" {
				o.BaseEndpoint = aws.String(cfg.IAMEndpoint)
			}
			if o.BaseEndpoint != nil {
				t.customIAM = true
				o.Region = iamSigningRegion
			}
		})
	}
	return t, nil
}

// Region is the region buckets are created in; jobs and ListS3Buckets report
// it.
func (t *Target) Region() string { return t.region }

// HasIAM reports whether role policies can be written; without IAM a job
// records that it could only write the bucket policy.
func (t *Target) HasIAM() bool { return t.iam != nil }

// MayNarrowRolePolicies reports whether the target may store a narrower
// role policy than the one written: an IAM endpoint other than AWS's may
// refuse policy variables in resources, and PutRolePolicy then writes the
// document without them (policy.WithoutResourceVariables).
func (t *Target) MayNarrowRolePolicies() bool { return t.iam != nil && t.customIAM }

// Ping is a cheap authenticated call (ListBuckets, one bucket asked for) used
// by /readyz to tell whether the target is reachable with our credentials.
func (t *Target) Ping(ctx context.Context) error {
	_, err := t.s3.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1)})
	if err != nil {
		return fmt.Errorf("s3 ListBuckets: %w", err)
	}
	return nil
}

// ownBodies hands net/http a private in-memory copy of every request body.
// The SDK closes a request's body as soon as the answer's headers are in,
// and net/http may not be done with it yet when a target answers before it
// has read the whole request (Ceph RGW answers a PUT to a missing bucket or
// an IAM call it refuses that fast): the transport then fails its own write
// and drops the connection, and the answer's body with it ("use of closed
// network connection"). Measured on RGW: about a quarter of the error
// answers to requests with a body were lost that way; with private copies,
// none. The bodies this package sends are small documents.
type ownBodies struct{ next aws.HTTPClient }

func (o ownBodies) Do(r *http.Request) (*http.Response, error) {
	if gate, ok := r.Context().Value(gateKey{}).(func() error); ok {
		if err := gate(); err != nil {
			return nil, gateClosed{err}
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return o.next.Do(r)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	own := r.Clone(r.Context())
	own.Body = io.NopCloser(bytes.NewReader(body))
	own.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return o.next.Do(own)
}

// gateKey carries WithGate's gate in a context.
type gateKey struct{}

// WithGate returns ctx whose S3 and IAM requests are each sent only while
// gate answers nil; otherwise the call fails with gate's error, sending
// nothing, and the SDK does not retry it. It is checked right before
// every attempt goes out, the SDK's retries included: the jobs of a replica that lost its claim (its lease
// ran out while the process was stopped) must not reach the target,
// though the cancel of their context is still on its way.
func WithGate(ctx context.Context, gate func() error) context.Context {
	return context.WithValue(ctx, gateKey{}, gate)
}

// gateClosed is a request its gate refused: the SDK does not retry it.
type gateClosed struct{ error }

func (g gateClosed) Unwrap() error      { return g.error }
func (gateClosed) RetryableError() bool { return false }
