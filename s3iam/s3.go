package s3iam

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Bucket is one entry of ListBuckets, as ListS3Buckets reports it.
type Bucket struct {
	Name         string
	CreationDate time.Time
}

// ListBuckets returns every bucket the credentials can see, following
// continuation tokens where the target pages.
func (t *Target) ListBuckets(ctx context.Context) ([]Bucket, error) {
	var out []Bucket
	in := &s3.ListBucketsInput{}
	for {
		page, err := t.s3.ListBuckets(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("s3 ListBuckets: %w", err)
		}
		for _, b := range page.Buckets {
			out = append(out, Bucket{Name: aws.ToString(b.Name), CreationDate: aws.ToTime(b.CreationDate)})
		}
		next := aws.ToString(page.ContinuationToken)
		// A target that echoes the same token would loop forever.
		if next == "" || next == aws.ToString(in.ContinuationToken) {
			return out, nil
		}
		in = &s3.ListBucketsInput{ContinuationToken: aws.String(next)}
	}
}

// HeadBucket reports whether bucket exists and is reachable with our
// credentials. A missing bucket is (false, nil); a bucket owned by someone
// else (403) is an error that classifies Permanent.
func (t *Target) HeadBucket(ctx context.Context, bucket string) (bool, error) {
	_, err := t.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		return true, nil
	case hasCode(err, "NotFound", "NoSuchBucket") || httpStatus(err) == http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("s3 HeadBucket %q: %w", bucket, err)
}

// CreateBucket creates bucket in the target's region and reports whether
// this call created it. It reports false, with no error, when the target
// answers that the bucket exists and is already ours
// (BucketAlreadyOwnedByYou): someone with these credentials made it first,
// and only the caller can tell whether that was itself. One owned by someone
// else is a BucketAlreadyExists error, Permanent. Some targets (Ceph RGW,
// AWS in us-east-1) answer success for a bucket that is already ours, so
// true is what the target said, not a proof.
//
// The request is sent once, without the SDK's retries: a retry after an
// answer lost on the way would hear BucketAlreadyOwnedByYou for the bucket
// the first try made, and could not be told from a bucket made by someone
// else. A lost answer is an error (Transient), which tells the caller the
// bucket may or may not have been created.
//
// On a non-AWS endpoint the region is often only a signing formality, and
// the target may know no such location: Ceph RGW accepts only its zonegroup's
// api_name ("default" out of the box) and answers InvalidLocationConstraint
// for anything else, us-east-1 included. There the bucket is created again
// without a constraint, in the target's default placement, as a client that
// names no region would get. On AWS the error stands.
func (t *Target) CreateBucket(ctx context.Context, bucket string) (bool, error) {
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if t.region != "us-east-1" {
		// us-east-1 is the default and AWS rejects it as a constraint.
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(t.region),
		}
	}
	once := func(o *s3.Options) { o.RetryMaxAttempts = 1 }
	_, err := t.s3.CreateBucket(ctx, in, once)
	if err != nil && t.customS3 && in.CreateBucketConfiguration != nil && hasCode(err, "InvalidLocationConstraint") {
		_, err = t.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}, once)
	}
	switch {
	case err == nil:
		return true, nil
	case hasCode(err, "BucketAlreadyOwnedByYou"):
		return false, nil
	}
	return false, fmt.Errorf("s3 CreateBucket %q: %w", bucket, err)
}

// BucketEmpty reports whether bucket holds no objects, reading at most one
// key.
func (t *Target) BucketEmpty(ctx context.Context, bucket string) (bool, error) {
	out, err := t.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, fmt.Errorf("s3 ListObjectsV2 %q: %w", bucket, err)
	}
	return len(out.Contents) == 0, nil
}

// DeleteBucketIfEmpty deletes bucket only if it holds no objects; it never
// deletes objects. It reports false with no error when the bucket is already
// gone or still has objects (the operator's data is kept).
func (t *Target) DeleteBucketIfEmpty(ctx context.Context, bucket string) (bool, error) {
	_, err := t.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		return true, nil
	case hasCode(err, "NoSuchBucket", "BucketNotEmpty"):
		return false, nil
	}
	return false, fmt.Errorf("s3 DeleteBucket %q: %w", bucket, err)
}

// Tags returns the bucket's tag set; a bucket without tags gives an empty
// map.
func (t *Target) Tags(ctx context.Context, bucket string) (map[string]string, error) {
	out, err := t.s3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)})
	if err != nil {
		if hasCode(err, "NoSuchTagSet", "NoSuchTagSetError") {
			return map[string]string{}, nil
		}
		return nil, fmt.Errorf("s3 GetBucketTagging %q: %w", bucket, err)
	}
	tags := make(map[string]string, len(out.TagSet))
	for _, tag := range out.TagSet {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return tags, nil
}

// EnsureTags sets the keys of want on the bucket and keeps every other tag
// (S3 replaces the whole set on write, so others' tags are read and written
// back). Nothing is written when the bucket already carries want.
func (t *Target) EnsureTags(ctx context.Context, bucket string, want map[string]string) (bool, error) {
	have, err := t.Tags(ctx, bucket)
	if err != nil {
		return false, err
	}
	drift := false
	for k, v := range want {
		if cur, ok := have[k]; !ok || cur != v {
			drift = true
			have[k] = v
		}
	}
	if !drift {
		return false, nil
	}
	keys := make([]string, 0, len(have))
	for k := range have {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	set := make([]types.Tag, 0, len(keys))
	for _, k := range keys {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(have[k])})
	}
	_, err = t.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{
		Bucket:  aws.String(bucket),
		Tagging: &types.Tagging{TagSet: set},
	})
	if err != nil {
		return false, fmt.Errorf("s3 PutBucketTagging %q: %w", bucket, err)
	}
	return true, nil
}

// CORSRule is one CORS rule, identified by ID so that ours can be told from
// rules written by others.
type CORSRule struct {
	ID             string
	AllowedOrigins []string
	AllowedHeaders []string
	AllowedMethods []string
	ExposeHeaders  []string
	MaxAgeSeconds  int32
}

// EnsureCORSRule makes the bucket's CORS configuration contain rule: the rule
// with rule.ID is replaced (or added) and other rules are kept. Lists are
// compared as sets, so a target that reorders them causes no write.
func (t *Target) EnsureCORSRule(ctx context.Context, bucket string, rule CORSRule) (bool, error) {
	if rule.ID == "" {
		return false, fmt.Errorf("s3 EnsureCORSRule %q: the rule needs an ID", bucket)
	}
	var rules []types.CORSRule
	out, err := t.s3.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		rules = out.CORSRules
	case hasCode(err, "NoSuchCORSConfiguration"):
	default:
		return false, fmt.Errorf("s3 GetBucketCors %q: %w", bucket, err)
	}

	want := types.CORSRule{
		ID:             aws.String(rule.ID),
		AllowedOrigins: slices.Clone(rule.AllowedOrigins),
		AllowedHeaders: slices.Clone(rule.AllowedHeaders),
		AllowedMethods: slices.Clone(rule.AllowedMethods),
		ExposeHeaders:  slices.Clone(rule.ExposeHeaders),
	}
	if rule.MaxAgeSeconds != 0 {
		want.MaxAgeSeconds = aws.Int32(rule.MaxAgeSeconds)
	}
	next, changed := withOurRule(rules, func(r types.CORSRule) *string { return r.ID }, rule.ID, want,
		func(r types.CORSRule) bool { return sameCORS(r, want) })
	if !changed {
		return false, nil
	}
	_, err = t.s3.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket:            aws.String(bucket),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: next},
	})
	if err != nil {
		return false, fmt.Errorf("s3 PutBucketCors %q: %w", bucket, err)
	}
	return true, nil
}

// withOurRule is rules with the rule whose ID is id replaced by want, or
// want added after the others when there is none; rules with other IDs keep
// their places, and further rules with our ID are dropped as duplicates.
// changed is false when rules already hold exactly one rule with our ID and
// same says it is want: then nothing needs writing. A bucket's CORS and
// lifecycle configurations are both lists written whole of which only the
// rule with our ID is ours, so EnsureCORSRule and EnsureAbortMultipartRule
// merge the same way.
func withOurRule[R any](rules []R, idOf func(R) *string, id string, want R, same func(R) bool) (next []R, changed bool) {
	next = make([]R, 0, len(rules)+1)
	found, equal := false, false
	for _, r := range rules {
		if aws.ToString(idOf(r)) != id {
			next = append(next, r)
			continue
		}
		if found {
			continue // a duplicate of ours: drop it
		}
		found = true
		equal = same(r)
		next = append(next, want)
	}
	if !found {
		next = append(next, want)
	}
	return next, !found || !equal || len(next) != len(rules)
}

func sameCORS(a, b types.CORSRule) bool {
	return sameSet(a.AllowedOrigins, b.AllowedOrigins, false) &&
		sameSet(a.AllowedHeaders, b.AllowedHeaders, true) &&
		sameSet(a.AllowedMethods, b.AllowedMethods, true) &&
		sameSet(a.ExposeHeaders, b.ExposeHeaders, true) &&
		aws.ToInt32(a.MaxAgeSeconds) == aws.ToInt32(b.MaxAgeSeconds)
}

// sameSet compares two lists as sets; header and method names are
// case-insensitive in HTTP, origins are not.
func sameSet(a, b []string, foldCase bool) bool {
	norm := func(l []string) []string {
		out := make([]string, 0, len(l))
		for _, s := range l {
			if foldCase {
				s = strings.ToLower(s)
			}
			out = append(out, s)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// EnsureDefaultEncryption turns on SSE-S3 (AES256) default encryption unless
// some default encryption is already configured: an existing KMS setting is
// stronger and never downgraded. Targets without the feature answer
// NotImplemented.
func (t *Target) EnsureDefaultEncryption(ctx context.Context, bucket string) (bool, error) {
	out, err := t.s3.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		if cfg := out.ServerSideEncryptionConfiguration; cfg != nil {
			for _, r := range cfg.Rules {
				if d := r.ApplyServerSideEncryptionByDefault; d != nil && d.SSEAlgorithm != "" {
					return false, nil
				}
			}
		}
	case hasCode(err, "ServerSideEncryptionConfigurationNotFoundError"):
	default:
		return false, fmt.Errorf("s3 GetBucketEncryption %q: %w", bucket, err)
	}
	_, err = t.s3.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket: aws.String(bucket),
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{
			Rules: []types.ServerSideEncryptionRule{{
				ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{
					SSEAlgorithm: types.ServerSideEncryptionAes256,
				},
			}},
		},
	})
	if err != nil {
		return false, fmt.Errorf("s3 PutBucketEncryption %q: %w", bucket, err)
	}
	return true, nil
}

// EnsureAbortMultipartRule makes the bucket's lifecycle configuration contain
// an enabled whole-bucket rule with this id that aborts incomplete multipart
// uploads after days; rules with other IDs are kept.
func (t *Target) EnsureAbortMultipartRule(ctx context.Context, bucket, id string, days int32) (bool, error) {
	if id == "" || days < 1 {
		return false, fmt.Errorf("s3 EnsureAbortMultipartRule %q: need an id and days >= 1", bucket)
	}
	var rules []types.LifecycleRule
	out, err := t.s3.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		rules = out.Rules
	case hasCode(err, "NoSuchLifecycleConfiguration"):
	default:
		return false, fmt.Errorf("s3 GetBucketLifecycleConfiguration %q: %w", bucket, err)
	}

	want := types.LifecycleRule{
		ID:     aws.String(id),
		Status: types.ExpirationStatusEnabled,
		Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
		AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{
			DaysAfterInitiation: aws.Int32(days),
		},
	}
	next, changed := withOurRule(rules, func(r types.LifecycleRule) *string { return r.ID }, id, want,
		func(r types.LifecycleRule) bool { return isAbortRule(r, days) })
	if !changed {
		return false, nil
	}
	_, err = t.s3.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
		Bucket:                 aws.String(bucket),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: next},
	})
	if err != nil {
		return false, fmt.Errorf("s3 PutBucketLifecycleConfiguration %q: %w", bucket, err)
	}
	return true, nil
}

// isAbortRule reports whether r is exactly our rule: enabled, whole bucket,
// abort after days, and nothing else.
func isAbortRule(r types.LifecycleRule, days int32) bool {
	//lint:ignore SA1019 a rule written by an older client may carry the deprecated top-level prefix; it narrows the rule all the same
	if r.Status != types.ExpirationStatusEnabled || aws.ToString(r.Prefix) != "" {
		return false
	}
	if f := r.Filter; f != nil && (aws.ToString(f.Prefix) != "" || f.Tag != nil || f.And != nil ||
		f.ObjectSizeGreaterThan != nil || f.ObjectSizeLessThan != nil) {
		return false
	}
	if r.Expiration != nil || len(r.Transitions) > 0 || r.NoncurrentVersionExpiration != nil || len(r.NoncurrentVersionTransitions) > 0 {
		return false
	}
	return r.AbortIncompleteMultipartUpload != nil && aws.ToInt32(r.AbortIncompleteMultipartUpload.DaysAfterInitiation) == days
}

// BucketPolicy returns the bucket policy document, or nil when the bucket
// has none.
func (t *Target) BucketPolicy(ctx context.Context, bucket string) ([]byte, error) {
	out, err := t.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	if err != nil {
		if hasCode(err, "NoSuchBucketPolicy") {
			return nil, nil
		}
		return nil, fmt.Errorf("s3 GetBucketPolicy %q: %w", bucket, err)
	}
	return []byte(aws.ToString(out.Policy)), nil
}

// PutBucketPolicy replaces the bucket policy with doc; callers merge foreign
// statements in first.
func (t *Target) PutBucketPolicy(ctx context.Context, bucket string, doc []byte) error {
	_, err := t.s3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{
		Bucket: aws.String(bucket),
		Policy: aws.String(string(doc)),
	})
	if err != nil {
		return fmt.Errorf("s3 PutBucketPolicy %q: %w", bucket, err)
	}
	return nil
}

// DeleteBucketPolicy removes the bucket policy, for when the last statement
// left is ours. A missing policy or bucket is already the wanted state.
func (t *Target) DeleteBucketPolicy(ctx context.Context, bucket string) error {
	_, err := t.s3.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(bucket)})
	if err == nil || hasCode(err, "NoSuchBucketPolicy", "NoSuchBucket") {
		return nil
	}
	return fmt.Errorf("s3 DeleteBucketPolicy %q: %w", bucket, err)
}
