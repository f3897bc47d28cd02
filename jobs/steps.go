package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// Target is what the reconcile steps need from S3 and IAM. *s3iam.Target
// implements it; every Ensure method acts only on drift and reports whether
// it wrote.
type Target interface {
	HasIAM() bool
	MayNarrowRolePolicies() bool
	HeadBucket(ctx context.Context, bucket string) (bool, error)
	CreateBucket(ctx context.Context, bucket string) (bool, error)
	BucketEmpty(ctx context.Context, bucket string) (bool, error)
	DeleteBucketIfEmpty(ctx context.Context, bucket string) (bool, error)
	Tags(ctx context.Context, bucket string) (map[string]string, error)
	EnsureTags(ctx context.Context, bucket string, want map[string]string) (bool, error)
	EnsureCORSRule(ctx context.Context, bucket string, rule s3iam.CORSRule) (bool, error)
	EnsureDefaultEncryption(ctx context.Context, bucket string) (bool, error)
	EnsureAbortMultipartRule(ctx context.Context, bucket, id string, days int32) (bool, error)
	BucketPolicy(ctx context.Context, bucket string) ([]byte, error)
	PutBucketPolicy(ctx context.Context, bucket string, doc []byte) error
	DeleteBucketPolicy(ctx context.Context, bucket string) error
	EnsureRole(ctx context.Context, role string, trustPolicy []byte, tags map[string]string) (bool, error)
	RoleTags(ctx context.Context, role string) (map[string]string, bool, error)
	RolePolicy(ctx context.Context, role, name string) ([]byte, error)
	RolePolicyNames(ctx context.Context, role string) ([]string, error)
	AttachedRolePolicies(ctx context.Context, role string) ([]s3iam.AttachedPolicy, error)
	ManagedPolicyARN(ctx context.Context, role, name string) (string, error)
	ManagedPolicy(ctx context.Context, arn string) ([]byte, error)
	PutManagedPolicy(ctx context.Context, arn, name string, doc []byte) error
	AttachRolePolicy(ctx context.Context, role, arn string) error
	DeleteManagedPolicy(ctx context.Context, role, arn string) error
	PutRolePolicy(ctx context.Context, role, name string, doc []byte) error
	DeleteRolePolicy(ctx context.Context, role, name string) error
	DeleteRole(ctx context.Context, role string) error
}

// AmplifyCORSRule is the CORS rule Amplify puts on storage buckets so browser
// uploads work; ours carries an ID so foreign rules are left alone.
var AmplifyCORSRule = s3iam.CORSRule{
	ID:             "amplifybackendd",
	AllowedOrigins: []string{"*"},
	AllowedHeaders: []string{"*"},
	AllowedMethods: []string{"GET", "HEAD", "PUT", "POST", "DELETE"},
	ExposeHeaders:  []string{"x-amz-server-side-encryption", "x-amz-request-id", "x-amz-id-2", "ETag"},
	MaxAgeSeconds:  3000,
}

// BucketSetting names an optional bucket setting a create applies: a
// target that does not implement one still gets the bucket, without it.
type BucketSetting string

// The optional bucket settings, named as job warnings name them.
const (
	SettingCORS              BucketSetting = "CORS"
	SettingDefaultEncryption BucketSetting = "default encryption"
	SettingLifecycleRule     BucketSetting = "lifecycle rule"
)

// lifecycleRuleID names the abort-incomplete-multipart rule we own.
const lifecycleRuleID = "amplifybackendd-abort-incomplete-multipart"

// work carries one execution's facts between steps.
type work struct {
	job      store.Job
	res      store.Resource
	warnings []string
	// createdBucket is set once the bucket is known to be ours.
	createdBucket bool
	// roles are the environment's roles once roleNames has read them.
	roles *store.EnvRoles
}

func (w *work) warn(format string, args ...any) {
	w.warnings = append(w.warnings, fmt.Sprintf(format, args...))
}

// apply makes the target match what the job asked for. It may run more than
// once in one execution (see guard), so it starts with no warnings.
func (r *Runner) apply(ctx context.Context, w *work) error {
	w.warnings = nil
	switch w.job.Operation {
	case store.OpCreate:
		if err := r.step(ctx, "check policy sizes", func(ctx context.Context) error { return r.checkSizes(ctx, w, w.res.Desired) }); err != nil {
			return err
		}
		if err := r.step(ctx, "create bucket", func(ctx context.Context) error { return r.ensureOwnedBucket(ctx, w) }); err != nil {
			return err
		}
		if err := r.configureBucket(ctx, w); err != nil {
			return err
		}
		return r.applyPolicies(ctx, w, w.res.Desired)
	case store.OpImport:
		missing := terminal("The specified bucket: %q does not exist.", w.res.Bucket)
		if err := r.step(ctx, "find bucket", func(ctx context.Context) error { return r.bucketMustExist(ctx, w, missing) }); err != nil {
			return err
		}
		if err := r.step(ctx, "check bucket owner", func(ctx context.Context) error { return r.importableBucket(ctx, w) }); err != nil {
			return err
		}
		// An import starts with no permissions, except a clone's, which
		// copies its source's: those must fit like an update's.
		if err := r.step(ctx, "check policy sizes", func(ctx context.Context) error { return r.checkSizes(ctx, w, w.res.Desired) }); err != nil {
			return err
		}
		return r.applyPolicies(ctx, w, w.res.Desired)
	case store.OpUpdate:
		return r.reconcilePresent(ctx, w)
	case store.OpDelete:
		if err := r.applyPolicies(ctx, w, store.Permissions{}); err != nil {
			return err
		}
		if r.cfg.DeleteBuckets && w.res.CreatedBucket && !w.res.Imported {
			return r.removeOwnedBucket(ctx, w)
		}
		return nil
	}
	return terminal("unknown operation %q", w.job.Operation)
}

// reconcilePresent brings an existing resource's bucket and policies back to
// its recorded desired state; it serves updates and the undo of cancelled
// updates and deletes.
func (r *Runner) reconcilePresent(ctx context.Context, w *work) error {
	if err := r.step(ctx, "find bucket", func(ctx context.Context) error { return r.bucketMustExist(ctx, w, bucketGone(w)) }); err != nil {
		return err
	}
	if err := r.step(ctx, "check policy sizes", func(ctx context.Context) error { return r.checkSizes(ctx, w, w.res.Desired) }); err != nil {
		return err
	}
	if w.res.CreatedBucket && !w.res.Imported {
		if err := r.configureBucket(ctx, w); err != nil {
			return err
		}
	}
	return r.applyPolicies(ctx, w, w.res.Desired)
}

// reconcileAbsent removes everything a failed or cancelled create or import
// wrote, including the bucket when this service created it and it is empty.
func (r *Runner) reconcileAbsent(ctx context.Context, w *work) error {
	none := r.translate(w.res, store.Permissions{})
	// A role that belongs to another environment was never written to: the
	// job failed on it before, and the bucket is still to be removed.
	var owned *roleOwnedError
	if err := r.applyRolePolicies(ctx, w, store.Permissions{}); err != nil && !errors.As(err, &owned) {
		return err
	}
	exists := true
	if err := r.step(ctx, "find bucket", func(ctx context.Context) (err error) {
		exists, err = r.target.HeadBucket(ctx, w.res.Bucket)
		return err
	}); err != nil || !exists {
		return err
	}
	if err := r.applyBucketPolicy(ctx, w, none); err != nil {
		return err
	}
	if w.res.Imported {
		return nil
	}
	return r.removeOwnedBucket(ctx, w)
}

// bucketMustExist fails with missing when the resource's bucket is not there.
func (r *Runner) bucketMustExist(ctx context.Context, w *work, missing error) error {
	ok, err := r.target.HeadBucket(ctx, w.res.Bucket)
	if err != nil {
		return err
	}
	if !ok {
		return missing
	}
	return nil
}

// importableBucket refuses to import a bucket this service created for
// another storage resource: such a bucket is its resource's alone, also
// once that resource is deleted and the bucket kept. Authorizing an import
// only sees the resources that use a bucket now, so without this a key
// confined to one environment could import a bucket another app's
// environment left behind and read its objects. The resource that created
// it takes it back with CreateBackendStorage under its own name. The
// message does not say whose it is: the caller may not be allowed to know.
func (r *Runner) importableBucket(ctx context.Context, w *work) error {
	tags, err := r.target.Tags(ctx, w.res.Bucket)
	if err != nil {
		if s3iam.Classify(err) == s3iam.NotImplemented {
			return nil // a target without tags has no ownership to read
		}
		return err
	}
	if owner := tags[OwnerTag]; owner != "" && owner != bucketOwnerTag(w.res.ResourceKey) {
		return terminal("Bucket %q was created by this service for another storage resource and cannot be imported; "+
			"that resource takes it back with CreateBackendStorage under its own name. Choose another bucket.", w.res.Bucket)
	}
	return nil
}

// bucketGone is the failure of a change that needs a resource's bucket after
// someone removed it (by hand, or a process that deleted it and crashed
// before it could record so). Only the client can choose between giving the
// resource up and bringing the bucket back, so it says both.
func bucketGone(w *work) error {
	return terminal("The bucket %q of resource %q no longer exists; delete the resource with DeleteBackendStorage, or recreate the bucket and retry.",
		w.res.Bucket, w.res.Name)
}

// ensureOwnedBucket creates the bucket, or recognises it as ours: it carries
// our owner tag, or this job's CreateBucket may have made it and nobody has
// put anything in it since (see fresh). Any other existing bucket is someone
// else's: the job fails and the bucket is left exactly as it was.
func (r *Runner) ensureOwnedBucket(ctx context.Context, w *work) error {
	b := w.res.Bucket
	exists, err := r.target.HeadBucket(ctx, b)
	if err != nil {
		return err
	}
	created := false
	if !exists {
		if !w.job.BucketRequested {
			if err := r.recordBucketRequest(ctx, w, true); err != nil {
				return err
			}
		}
		// A client cancel must not cut CreateBucket off half way: the target
		// could still create the bucket after the undo looked for it. The
		// call gets its own bound instead, and the cancel takes effect at
		// the next step.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		created, err = r.target.CreateBucket(cctx, b)
		cancel()
		switch {
		case err != nil && s3iam.Classify(err) == s3iam.Permanent:
			return r.foreignBucket(ctx, w, "Bucket %q cannot be created: %s", b, s3iam.APIMessage(err))
		case err != nil:
			return err // the answer may be lost: the next attempt looks
		case !created:
			// HeadBucket found none, and now it exists: someone else with
			// our credentials made it in between.
			return r.foreignBucket(ctx, w, "Bucket %q was created by someone else while this job was creating it; it was left untouched. "+otherBucket, b)
		}
	}
	tags, err := r.target.Tags(ctx, b)
	if err != nil && s3iam.Classify(err) != s3iam.NotImplemented {
		return err
	}
	want := bucketTags(w.res.ResourceKey)
	switch owner := tags[OwnerTag]; {
	case owner == want[OwnerTag]:
	case owner != "":
		return terminal("Bucket %q belongs to another storage resource managed by this service.", b)
	case created:
	case !w.job.BucketRequested:
		return terminal("Bucket %q already exists and was not created for this resource; use ImportBackendStorage to use an existing bucket.", b)
	default:
		// This job sent CreateBucket and never heard the answer (a
		// restart, or a connection lost on the way back).
		why, err := r.fresh(ctx, b, tags)
		if err != nil {
			return err
		}
		if why != "" {
			return r.foreignBucket(ctx, w, "Bucket %q exists but this job cannot confirm it created it, and it %s; it was left untouched. "+otherBucket, b, why)
		}
	}
	w.createdBucket = true
	if _, err := r.target.EnsureTags(ctx, b, want); err != nil {
		if s3iam.Classify(err) != s3iam.NotImplemented {
			return err
		}
		w.warn("bucket tagging is not implemented by the target; bucket %q carries no ownership tags", b)
	}
	return nil
}

// fresh says why bucket b is not as CreateBucket leaves one, or "" when it
// has no tags, no bucket policy and no objects. Only such a bucket may be
// taken for one this job created without hearing the answer: the moment a
// bucket holds anything, someone else has been using it.
func (r *Runner) fresh(ctx context.Context, b string, tags map[string]string) (string, error) {
	if len(tags) > 0 {
		return "carries tags", nil
	}
	doc, err := r.target.BucketPolicy(ctx, b)
	if err != nil {
		return "", err
	}
	if len(bytes.TrimSpace(doc)) > 0 {
		return "has a bucket policy", nil
	}
	empty, err := r.target.BucketEmpty(ctx, b)
	if err != nil {
		return "", err
	}
	if !empty {
		return "holds objects", nil
	}
	return "", nil
}

// otherBucket is what a client can do about a bucket that is not its
// resource's to take.
const otherBucket = "Choose another bucket name, or use ImportBackendStorage to use that bucket."

// unreadablePolicy fails the job over a bucket policy it cannot merge its
// statements into.
func unreadablePolicy(w *work, err error) error {
	return terminal("The bucket policy of %q cannot be read: %v", w.res.Bucket, err)
}

// foreignBucket fails the job over a bucket that is not its own, first
// recording that this job did not create it, so that no rollback, after a
// restart included, takes it for ours.
func (r *Runner) foreignBucket(ctx context.Context, w *work, format string, args ...any) error {
	if w.job.BucketRequested {
		if err := r.recordBucketRequest(ctx, w, false); err != nil {
			return err
		}
	}
	return terminal(format, args...)
}

// configureBucket applies the optional bucket settings Amplify uses. A target
// that does not implement one of them gets a warning, not a failure.
func (r *Runner) configureBucket(ctx context.Context, w *work) error {
	b := w.res.Bucket
	settings := []struct {
		name BucketSetting
		fn   func(ctx context.Context) (bool, error)
	}{
		{SettingCORS, func(ctx context.Context) (bool, error) { return r.target.EnsureCORSRule(ctx, b, AmplifyCORSRule) }},
		{SettingDefaultEncryption, func(ctx context.Context) (bool, error) { return r.target.EnsureDefaultEncryption(ctx, b) }},
		{SettingLifecycleRule, func(ctx context.Context) (bool, error) {
			return r.target.EnsureAbortMultipartRule(ctx, b, lifecycleRuleID, 1)
		}},
	}
	for _, s := range settings {
		if slices.Contains(r.cfg.KnownGaps, s.name) {
			continue
		}
		var unsupported bool
		err := r.step(ctx, "configure "+string(s.name), func(ctx context.Context) error {
			_, err := s.fn(ctx)
			if err != nil && s3iam.Classify(err) == s3iam.NotImplemented {
				unsupported = true
				return nil
			}
			return err
		})
		if err != nil {
			return err
		}
		if unsupported {
			w.warn("the target does not implement bucket %s; bucket %q was created without it", s.name, b)
		}
	}
	return nil
}

// applyPolicies makes the role policies and our bucket-policy statements say
// exactly what perms grant: it writes only what differs and never touches
// statements or policies that are not ours.
func (r *Runner) applyPolicies(ctx context.Context, w *work, perms store.Permissions) error {
	if err := r.applyRolePolicies(ctx, w, perms); err != nil {
		return err
	}
	return r.applyBucketPolicy(ctx, w, r.translate(w.res, perms))
}

// applyRolePolicies writes the environment's role documents with perms for
// w's resource (see envpolicy.go).
func (r *Runner) applyRolePolicies(ctx context.Context, w *work, perms store.Permissions) error {
	docs := r.translate(w.res, perms)
	var names store.EnvRoles
	err := r.step(ctx, "find roles", func(ctx context.Context) (err error) {
		names, err = r.roleNames(ctx, w)
		var owned *roleOwnedError
		if errors.As(err, &owned) && !r.target.HasIAM() {
			return nil // nothing is written to them
		}
		return err
	})
	if err != nil {
		return err
	}
	roles := []struct {
		kind store.RoleKind
		doc  *policy.Document
	}{{store.RoleAuth, docs.AuthRole}, {store.RoleUnauth, docs.UnauthRole}}
	for _, role := range roles {
		if !r.target.HasIAM() {
			if role.doc != nil {
				w.warn("the target has no IAM API; the %s role policy for role %q was not written", role.kind, names.Name(role.kind))
			}
			continue
		}
		err := r.step(ctx, "write "+string(role.kind)+" role policy", func(ctx context.Context) error {
			return r.writeEnvRolePolicy(ctx, w, names.Name(role.kind), role.kind, perms)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) applyBucketPolicy(ctx context.Context, w *work, docs policy.Documents) error {
	k := w.res.ResourceKey
	prefix := policy.SidPrefix(k.AppID, k.Env, k.Name)
	return r.step(ctx, "write bucket policy", func(ctx context.Context) error {
		cur, err := r.target.BucketPolicy(ctx, w.res.Bucket)
		switch {
		case s3iam.IsNoSuchBucket(err) && len(docs.Bucket) == 0:
			// No bucket, and none of our statements wanted in it: nothing
			// of ours is left there, which is what this step is for.
			w.warn("bucket %q no longer exists; there were no bucket policy statements left to remove", w.res.Bucket)
			return nil
		case s3iam.IsNoSuchBucket(err):
			return bucketGone(w)
		case err != nil:
			return err
		}
		if len(cur) == 0 && len(docs.Bucket) == 0 {
			return nil
		}
		merged, empty, err := policy.MergeBucketPolicy(cur, prefix, docs.Bucket)
		if err != nil {
			return unreadablePolicy(w, err)
		}
		if empty {
			if len(cur) == 0 {
				return nil
			}
			return r.target.DeleteBucketPolicy(ctx, w.res.Bucket)
		}
		if policy.Equivalent(cur, merged) {
			return nil
		}
		return r.target.PutBucketPolicy(ctx, w.res.Bucket, merged)
	})
}

const narrowedWarning = "the target stored a narrower policy on role %q than was written (it does not accept the policy variables of per-identity paths such as private/${cognito-identity.amazonaws.com:sub}/)"

// removeOwnedBucket deletes the bucket only when it carries our owner tag for
// this resource and holds no objects; data is never deleted.
func (r *Runner) removeOwnedBucket(ctx context.Context, w *work) error {
	b := w.res.Bucket
	return r.step(ctx, "remove bucket", func(ctx context.Context) error {
		if exists, err := r.target.HeadBucket(ctx, b); err != nil || !exists {
			return err
		}
		tags, err := r.target.Tags(ctx, b)
		if err != nil {
			if s3iam.Classify(err) == s3iam.NotImplemented {
				w.warn("bucket %q was kept: the target cannot show its ownership tags", b)
				return nil
			}
			return err
		}
		// Ours: it carries our owner tag, or it is untagged, this very
		// create job may have made it (a cancel or crash came before
		// tagging) and it is as fresh as CreateBucket left it.
		if owner := tags[OwnerTag]; owner != bucketOwnerTag(w.res.ResourceKey) {
			if owner != "" || w.job.Operation != store.OpCreate || !w.job.BucketRequested {
				return nil
			}
			if why, err := r.fresh(ctx, b, tags); err != nil || why != "" {
				return err
			}
		}
		deleted, err := r.target.DeleteBucketIfEmpty(ctx, b)
		if err != nil {
			return err
		}
		if !deleted {
			w.warn("bucket %q was kept because it is not empty", b)
		}
		return nil
	})
}

// Size limits checked before anything is written, so a change that would not
// fit fails with a clear message instead of half-applied by a target that
// refuses the last write. IAM caps the inline policies of one role at 10,240
// characters in all (Versity counts white space too, so sizes here are of
// the documents as stored; what does not fit goes to managed policies,
// MaxManagedPolicyChars); S3 caps a bucket policy at 20 KB
// (Config.BucketPolicyLimit, lower for targets that store less).
const (
	MaxRolePolicyChars   = 10240
	MaxBucketPolicyBytes = 20 * 1024
)

// checkSizes measures what the role policies and the bucket policy would
// weigh after writing perms, counting the other policies already there.
func (r *Runner) checkSizes(ctx context.Context, w *work, perms store.Permissions) error {
	docs := r.translate(w.res, perms)
	k := w.res.ResourceKey
	if r.target.HasIAM() {
		roles, err := r.roleNames(ctx, w)
		if err != nil {
			return err
		}
		p, err := r.envPolicyNow(ctx, w.res, perms)
		if err != nil {
			return err
		}
		for _, kind := range roleKinds {
			if p.of(kind) == nil {
				continue
			}
			if _, err := r.layoutRole(ctx, w, roles.Name(kind), kind, p); err != nil {
				return err
			}
		}
	}
	if len(docs.Bucket) == 0 {
		return nil // our part of the bucket policy only shrinks
	}
	var cur []byte
	if exists, err := r.target.HeadBucket(ctx, w.res.Bucket); err != nil {
		return err
	} else if exists {
		if cur, err = r.target.BucketPolicy(ctx, w.res.Bucket); err != nil {
			return err
		}
	}
	merged, _, err := policy.MergeBucketPolicy(cur, policy.SidPrefix(k.AppID, k.Env, k.Name), docs.Bucket)
	if err != nil {
		return unreadablePolicy(w, err)
	}
	if limit := r.cfg.BucketPolicyLimit; len(merged) > limit {
		return terminal("The bucket policy of %q would be %d bytes, over the %d the target allows.", w.res.Bucket, len(merged), limit)
	}
	return nil
}
