package embedded

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/xml"
	"fmt"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/versity/versitygw/auth"
	"github.com/versity/versitygw/backend"
	"github.com/versity/versitygw/metrics"
	"github.com/versity/versitygw/s3api"
	"github.com/versity/versitygw/s3api/controllers"
	"github.com/versity/versitygw/s3api/middlewares"
	"github.com/versity/versitygw/s3api/utils"
	"github.com/versity/versitygw/s3err"
)

// s3Namespace is the XML namespace of S3's answers.
const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// maxLifecycleRules is S3's limit on rules per configuration.
const maxLifecycleRules = 1000

// lifecycleConfiguration is S3's LifecycleConfiguration document, every
// element of the published schema, so that what a client puts, ours or
// anyone's, comes back whole.
type lifecycleConfiguration struct {
	XMLName xml.Name        `xml:"LifecycleConfiguration"`
	Rules   []lifecycleRule `xml:"Rule"`
}

type lifecycleRule struct {
	Expiration                     *lifecycleExpiration            `xml:"Expiration,omitempty"`
	ID                             string                          `xml:"ID,omitempty"`
	Prefix                         *string                         `xml:"Prefix,omitempty"` // deprecated form of Filter
	Filter                         *lifecycleFilter                `xml:"Filter,omitempty"`
	Status                         string                          `xml:"Status"`
	Transitions                    []lifecycleTransition           `xml:"Transition,omitempty"`
	NoncurrentVersionTransitions   []noncurrentVersionTransition   `xml:"NoncurrentVersionTransition,omitempty"`
	NoncurrentVersionExpiration    *noncurrentVersionExpiration    `xml:"NoncurrentVersionExpiration,omitempty"`
	AbortIncompleteMultipartUpload *abortIncompleteMultipartUpload `xml:"AbortIncompleteMultipartUpload,omitempty"`
}

type lifecycleFilter struct {
	Prefix                *string             `xml:"Prefix,omitempty"`
	Tag                   *lifecycleTag       `xml:"Tag,omitempty"`
	ObjectSizeGreaterThan *int64              `xml:"ObjectSizeGreaterThan,omitempty"`
	ObjectSizeLessThan    *int64              `xml:"ObjectSizeLessThan,omitempty"`
	And                   *lifecycleFilterAnd `xml:"And,omitempty"`
}

type lifecycleFilterAnd struct {
	Prefix                *string        `xml:"Prefix,omitempty"`
	Tags                  []lifecycleTag `xml:"Tag,omitempty"`
	ObjectSizeGreaterThan *int64         `xml:"ObjectSizeGreaterThan,omitempty"`
	ObjectSizeLessThan    *int64         `xml:"ObjectSizeLessThan,omitempty"`
}

type lifecycleTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type lifecycleExpiration struct {
	Date                      *string `xml:"Date,omitempty"`
	Days                      *int32  `xml:"Days,omitempty"`
	ExpiredObjectDeleteMarker *bool   `xml:"ExpiredObjectDeleteMarker,omitempty"`
}

type lifecycleTransition struct {
	Date         *string `xml:"Date,omitempty"`
	Days         *int32  `xml:"Days,omitempty"`
	StorageClass string  `xml:"StorageClass"`
}

type noncurrentVersionTransition struct {
	NoncurrentDays          *int32 `xml:"NoncurrentDays,omitempty"`
	StorageClass            string `xml:"StorageClass"`
	NewerNoncurrentVersions *int32 `xml:"NewerNoncurrentVersions,omitempty"`
}

type noncurrentVersionExpiration struct {
	NoncurrentDays          *int32 `xml:"NoncurrentDays,omitempty"`
	NewerNoncurrentVersions *int32 `xml:"NewerNoncurrentVersions,omitempty"`
}

type abortIncompleteMultipartUpload struct {
	DaysAfterInitiation *int32 `xml:"DaysAfterInitiation,omitempty"`
}

// transitionClasses are the storage classes S3 accepts as transition targets.
var transitionClasses = map[string]bool{
	"GLACIER": true, "STANDARD_IA": true, "ONEZONE_IA": true, "INTELLIGENT_TIERING": true,
	"DEEP_ARCHIVE": true, "GLACIER_IR": true,
}

// lifecycleError is an S3 error answer for a configuration S3 would refuse.
func lifecycleError(code, format string, args ...any) error {
	return s3err.APIError{Code: code, Description: fmt.Sprintf(format, args...), HTTPStatusCode: http.StatusBadRequest}
}

// parseLifecycle reads a PutBucketLifecycleConfiguration body, refuses what
// S3 refuses, names rules without an ID as S3 does, and returns the document
// GET will answer.
func parseLifecycle(body []byte) ([]byte, error) {
	var c lifecycleConfiguration
	if err := xml.Unmarshal(body, &c); err != nil || c.XMLName.Local != "LifecycleConfiguration" {
		return nil, s3err.GetAPIError(s3err.ErrMalformedXML)
	}
	if len(c.Rules) == 0 {
		return nil, lifecycleError("MalformedXML", "LifecycleConfiguration must contain at least one Rule.")
	}
	if len(c.Rules) > maxLifecycleRules {
		return nil, lifecycleError("InvalidRequest", "LifecycleConfiguration has %d rules; at most %d are allowed.", len(c.Rules), maxLifecycleRules)
	}
	ids := map[string]bool{}
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.ID == "" {
			r.ID = newRuleID()
		}
		if err := validateRule(r); err != nil {
			return nil, err
		}
		if ids[r.ID] {
			return nil, lifecycleError("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule: %q.", r.ID)
		}
		ids[r.ID] = true
	}
	c.XMLName = xml.Name{Space: s3Namespace, Local: "LifecycleConfiguration"}
	return xml.Marshal(&c)
}

// newRuleID names a rule put without an ID, as S3 does, so that it can be
// told apart and replaced later.
func newRuleID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// validateRule applies S3's checks on one rule, naming the field and the
// rule in the error.
func validateRule(r *lifecycleRule) error {
	bad := func(code, format string, args ...any) error {
		return lifecycleError(code, "Rule %q: "+format, append([]any{r.ID}, args...)...)
	}
	if len(r.ID) > 255 {
		return bad("InvalidArgument", "ID is %d characters long; at most 255 are allowed.", len(r.ID))
	}
	if r.Status != "Enabled" && r.Status != "Disabled" {
		return bad("MalformedXML", "Status must be Enabled or Disabled, not %q.", r.Status)
	}
	if r.Prefix != nil && r.Filter != nil {
		return bad("MalformedXML", "give either Filter or the deprecated Prefix, not both.")
	}
	tagged := false
	if f := r.Filter; f != nil {
		if countSet(f.Prefix != nil, f.Tag != nil, f.ObjectSizeGreaterThan != nil, f.ObjectSizeLessThan != nil, f.And != nil) > 1 {
			return bad("MalformedXML", "Filter must hold one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan or And; combine conditions with And.")
		}
		tagged = f.Tag != nil || (f.And != nil && len(f.And.Tags) > 0)
	}
	if r.Expiration == nil && len(r.Transitions) == 0 && len(r.NoncurrentVersionTransitions) == 0 &&
		r.NoncurrentVersionExpiration == nil && r.AbortIncompleteMultipartUpload == nil {
		return bad("InvalidRequest", "at least one action needs to be specified in a rule.")
	}
	if a := r.AbortIncompleteMultipartUpload; a != nil {
		if a.DaysAfterInitiation == nil || *a.DaysAfterInitiation < 1 {
			return bad("InvalidArgument", "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer.")
		}
		if tagged {
			return bad("InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags.")
		}
	}
	if e := r.Expiration; e != nil {
		if countSet(e.Date != nil, e.Days != nil, e.ExpiredObjectDeleteMarker != nil) != 1 {
			return bad("MalformedXML", "Expiration must hold exactly one of Date, Days or ExpiredObjectDeleteMarker.")
		}
		if e.Days != nil && *e.Days < 1 {
			return bad("InvalidArgument", "'Days' for Expiration action must be a positive integer.")
		}
		if e.Date != nil {
			if err := checkMidnight(*e.Date); err != nil {
				return bad("InvalidArgument", "Expiration %v", err)
			}
		}
		if e.ExpiredObjectDeleteMarker != nil && tagged {
			return bad("InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with Tags.")
		}
	}
	for _, t := range r.Transitions {
		if !transitionClasses[t.StorageClass] {
			return bad("InvalidArgument", "Transition StorageClass %q is not one of GLACIER, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, DEEP_ARCHIVE, GLACIER_IR.", t.StorageClass)
		}
		if countSet(t.Date != nil, t.Days != nil) != 1 {
			return bad("MalformedXML", "Transition must hold exactly one of Date or Days.")
		}
		if t.Days != nil && *t.Days < 0 {
			return bad("InvalidArgument", "'Days' for Transition action must be a nonnegative integer.")
		}
		if t.Date != nil {
			if err := checkMidnight(*t.Date); err != nil {
				return bad("InvalidArgument", "Transition %v", err)
			}
		}
	}
	for _, t := range r.NoncurrentVersionTransitions {
		if !transitionClasses[t.StorageClass] {
			return bad("InvalidArgument", "NoncurrentVersionTransition StorageClass %q is not a transition storage class.", t.StorageClass)
		}
		if t.NoncurrentDays == nil || *t.NoncurrentDays < 0 {
			return bad("InvalidArgument", "'NoncurrentDays' for NoncurrentVersionTransition action must be a nonnegative integer.")
		}
	}
	if e := r.NoncurrentVersionExpiration; e != nil && (e.NoncurrentDays == nil || *e.NoncurrentDays < 1) {
		return bad("InvalidArgument", "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer.")
	}
	return nil
}

// countSet counts the choices of an XML choice element that were given.
func countSet(given ...bool) int {
	n := 0
	for _, g := range given {
		if g {
			n++
		}
	}
	return n
}

// checkMidnight refuses a lifecycle date that is not midnight UTC, as S3 does.
func checkMidnight(s string) error {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		//lint:ignore ST1005 S3's own wording, sent to the client as it is
		return fmt.Errorf("'Date' %q is not an ISO 8601 date.", s)
	}
	if t.UTC() != t.UTC().Truncate(24*time.Hour) {
		//lint:ignore ST1005 S3's own wording, sent to the client as it is
		return fmt.Errorf("'Date' %q must be at midnight GMT.", s)
	}
	return nil
}

// lifecycleRoutes serve Put/Get/DeleteBucketLifecycleConfiguration, which
// Versity's router answers 501 before calling any backend. They are mounted
// ahead of its route table and run the same authentication and
// authorization chain Versity's own bucket routes run, with this package's
// store behind them; any other request passes through untouched.
//
// Versity's global middlewares that set request defaults and decode the path
// are registered after mounted routes, so a lifecycle request runs them
// here; requests that are not ours skip them, because the gateway runs them
// again further on.
func lifecycleRoutes(be backend.Backend, iam auth.IAMService, root middlewares.RootUserConfig, region string, store *bucketStore) []s3api.Option {
	svc := &controllers.Services{}
	chain := func(action string, act auth.Action, perm auth.Permission, handle func(fiber.Ctx, string) (*controllers.Response, error), withBody bool) fiber.Handler {
		checks := []fiber.Handler{
			middlewares.BucketObjectNameValidator(),
			middlewares.AuthorizePublicBucketAccess(be, action, act, perm, region, false),
			middlewares.VerifyPresignedV4Signature(root, iam, region, false),
			middlewares.VerifyV4Signature(root, iam, region, false, true, false),
		}
		if withBody {
			checks = append(checks, middlewares.VerifyChecksums(false, true, true))
		}
		checks = append(checks, middlewares.ParseAcl(be))
		return controllers.ProcessHandlers(func(ctx fiber.Ctx) (*controllers.Response, error) {
			bucket := ctx.Params("bucket")
			acl := utils.ContextKeyParsedAcl.Get(ctx).(auth.ACL)
			meta := &controllers.MetaOptions{BucketOwner: acl.Owner}
			err := auth.VerifyAccess(ctx, be, auth.AccessOptions{
				Acl:             acl,
				AclPermission:   perm,
				IsRoot:          utils.ContextKeyIsRoot.Get(ctx).(bool),
				Acc:             utils.ContextKeyAccount.Get(ctx).(auth.Account),
				Bucket:          bucket,
				Actions:         []auth.Action{act},
				IsPublicRequest: utils.ContextKeyPublicBucket.IsSet(ctx),
				Iam:             iam,
			})
			if err != nil {
				return &controllers.Response{MetaOpts: meta}, err
			}
			resp, err := handle(ctx, bucket)
			if resp == nil {
				resp = &controllers.Response{}
			}
			if resp.MetaOpts == nil {
				resp.MetaOpts = meta
			} else {
				resp.MetaOpts.BucketOwner = acl.Owner
			}
			return resp, err
		}, action, svc, checks...)
	}
	// S3 answers this header with every lifecycle configuration since 2024.
	minSize := "all_storage_classes_128K"
	headers := map[string]*string{"x-amz-transition-default-minimum-object-size": &minSize}

	put := chain(metrics.ActionPutBucketLifecycleConfiguration, auth.PutLifecycleConfigurationAction, auth.PermissionWrite,
		func(ctx fiber.Ctx, bucket string) (*controllers.Response, error) {
			doc, err := parseLifecycle(ctx.BodyRaw())
			if err != nil {
				return nil, err
			}
			if err := store.putLifecycle(bucket, doc); err != nil {
				return nil, fmt.Errorf("store lifecycle configuration of %s: %w", bucket, err)
			}
			return &controllers.Response{Headers: headers}, nil
		}, true)
	get := chain(metrics.ActionGetBucketLifecycleConfiguration, auth.GetLifecycleConfigurationAction, auth.PermissionRead,
		func(ctx fiber.Ctx, bucket string) (*controllers.Response, error) {
			doc, err := store.lifecycle(bucket)
			if err != nil {
				return nil, fmt.Errorf("read lifecycle configuration of %s: %w", bucket, err)
			}
			if doc == nil {
				return nil, s3err.APIError{Code: "NoSuchLifecycleConfiguration",
					Description: "The lifecycle configuration does not exist", HTTPStatusCode: http.StatusNotFound}
			}
			xmlType := fiber.MIMEApplicationXML
			return &controllers.Response{Data: append([]byte(xml.Header), doc...),
				Headers: map[string]*string{"x-amz-transition-default-minimum-object-size": &minSize, "Content-Type": &xmlType}}, nil
		}, false)
	del := chain(metrics.ActionDeleteBucketLifecycle, auth.PutLifecycleConfigurationAction, auth.PermissionWrite,
		func(ctx fiber.Ctx, bucket string) (*controllers.Response, error) {
			if err := store.putLifecycle(bucket, nil); err != nil {
				return nil, fmt.Errorf("delete lifecycle configuration of %s: %w", bucket, err)
			}
			return &controllers.Response{MetaOpts: &controllers.MetaOptions{Status: http.StatusNoContent}}, nil
		}, false)

	defaults := skippable(middlewares.SetDefaultValues(root, region))
	decode := skippable(controllers.WrapMiddleware(middlewares.DecodeURL, nil, nil))
	route := func(method string, h fiber.Handler) s3api.Option {
		return s3api.WithRoute(method, "/:bucket", middlewares.MatchQueryArgs("lifecycle"), defaults, decode, h)
	}
	return []s3api.Option{route(http.MethodPut, put), route(http.MethodGet, get), route(http.MethodDelete, del)}
}

// skippable runs h unless the route's query matcher has already decided the
// request is not this route's (Versity's convention: ContextKeySkip, which
// the final ProcessHandlers clears before passing the request on).
func skippable(h fiber.Handler) fiber.Handler {
	return func(ctx fiber.Ctx) error {
		if utils.ContextKeySkip.IsSet(ctx) {
			return ctx.Next()
		}
		return h(ctx)
	}
}
