package embedded_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/amplifybackendd/amplifybackendd/embedded/embeddedtest"
)

// ourRule and theirRule are what amplifybackendd writes and what another
// tool might have written before it.
func ourRule() types.LifecycleRule {
	return types.LifecycleRule{
		ID: aws.String("amplify-abort"), Status: types.ExpirationStatusEnabled,
		Filter:                         &types.LifecycleRuleFilter{Prefix: aws.String("")},
		AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)},
	}
}

func theirRule() types.LifecycleRule {
	return types.LifecycleRule{
		ID: aws.String("theirs"), Status: types.ExpirationStatusDisabled,
		Filter: &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{
			Prefix: aws.String("logs/"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
			ObjectSizeGreaterThan: aws.Int64(1024),
		}},
		Expiration: &types.LifecycleExpiration{Days: aws.Int32(30)},
		Transitions: []types.Transition{{Days: aws.Int32(7), StorageClass: types.TransitionStorageClassGlacier},
			{Date: aws.Time(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), StorageClass: types.TransitionStorageClassDeepArchive}},
		NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(3), NewerNoncurrentVersions: aws.Int32(2)},
	}
}

func lifecycleOf(t *testing.T, c *s3.Client, bucket string) ([]types.LifecycleRule, error) {
	t.Helper()
	out, err := c.GetBucketLifecycleConfiguration(t.Context(), &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil {
		return nil, err
	}
	return out.Rules, nil
}

// TestLifecycleRoundTrip puts our rule beside a foreign one through the AWS
// SDK, reads both back whole, deletes them, and sees the deletion.
func TestLifecycleRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := s3Client(rootAccess, rootSecret)
	b := newBucket(t, root)

	if _, err := lifecycleOf(t, root, b); apiCode(err) != "NoSuchLifecycleConfiguration" {
		t.Fatalf("GetBucketLifecycleConfiguration before any: %v, want NoSuchLifecycleConfiguration", err)
	}
	want := []types.LifecycleRule{theirRule(), ourRule()}
	if _, err := root.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
		Bucket: aws.String(b), LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: want},
	}); err != nil {
		t.Fatalf("PutBucketLifecycleConfiguration: %v", err)
	}
	got, err := lifecycleOf(t, root, b)
	if err != nil {
		t.Fatalf("GetBucketLifecycleConfiguration: %v", err)
	}
	if g, w := ruleText(got), ruleText(want); g != w {
		t.Errorf("round trip:\n got %s\nwant %s", g, w)
	}

	for i := range 2 {
		if _, err := root.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("DeleteBucketLifecycle #%d: %v", i+1, err)
		}
	}
	if _, err := lifecycleOf(t, root, b); apiCode(err) != "NoSuchLifecycleConfiguration" {
		t.Fatalf("GetBucketLifecycleConfiguration after delete: %v, want NoSuchLifecycleConfiguration", err)
	}
	if _, err := lifecycleOf(t, root, b+"-missing"); apiCode(err) != "NoSuchBucket" {
		t.Errorf("GetBucketLifecycleConfiguration of a missing bucket: %v, want NoSuchBucket", err)
	}
}

// ruleText renders rules for comparison, dereferencing every pointer.
func ruleText(rules []types.LifecycleRule) string {
	var b strings.Builder
	for _, r := range rules {
		b.WriteString(aws.ToString(r.ID) + " " + string(r.Status))
		if f := r.Filter; f != nil {
			b.WriteString(" filter[prefix=" + aws.ToString(f.Prefix))
			if a := f.And; a != nil {
				b.WriteString(" and:" + aws.ToString(a.Prefix))
				for _, tg := range a.Tags {
					b.WriteString(" " + aws.ToString(tg.Key) + "=" + aws.ToString(tg.Value))
				}
				b.WriteString(" >" + itoa64(a.ObjectSizeGreaterThan))
			}
			b.WriteString("]")
		}
		if e := r.Expiration; e != nil {
			b.WriteString(" expire=" + itoa32(e.Days))
		}
		for _, tr := range r.Transitions {
			b.WriteString(" transition=" + itoa32(tr.Days) + string(tr.StorageClass))
			if tr.Date != nil {
				b.WriteString("@" + tr.Date.UTC().Format(time.RFC3339))
			}
		}
		if n := r.NoncurrentVersionExpiration; n != nil {
			b.WriteString(" noncurrent=" + itoa32(n.NoncurrentDays) + "/" + itoa32(n.NewerNoncurrentVersions))
		}
		if a := r.AbortIncompleteMultipartUpload; a != nil {
			b.WriteString(" abort=" + itoa32(a.DaysAfterInitiation))
		}
		b.WriteString("; ")
	}
	return b.String()
}

func itoa32(p *int32) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(int(*p))
}

func itoa64(p *int64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatInt(*p, 10)
}

// TestLifecycleRefusesWhatS3Refuses checks each refusal is a 400 naming the
// field and the rule, and leaves the stored configuration as it was.
func TestLifecycleRefusesWhatS3Refuses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := s3Client(rootAccess, rootSecret)
	b := newBucket(t, root)
	if _, err := root.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
		Bucket: aws.String(b), LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{ourRule()}},
	}); err != nil {
		t.Fatalf("PutBucketLifecycleConfiguration: %v", err)
	}
	mod := func(f func(r *types.LifecycleRule)) []types.LifecycleRule {
		r := ourRule()
		f(&r)
		return []types.LifecycleRule{r}
	}
	cases := []struct {
		name  string
		rules []types.LifecycleRule
		code  string
		says  string
	}{
		{"no rules", []types.LifecycleRule{}, "MalformedXML", "at least one Rule"},
		{"zero days", mod(func(r *types.LifecycleRule) { r.AbortIncompleteMultipartUpload.DaysAfterInitiation = aws.Int32(0) }),
			"InvalidArgument", "DaysAfterInitiation"},
		{"abort with tags", mod(func(r *types.LifecycleRule) {
			r.Filter = &types.LifecycleRuleFilter{Tag: &types.Tag{Key: aws.String("k"), Value: aws.String("v")}}
		}), "InvalidRequest", "cannot be specified with Tags"},
		{"no action", mod(func(r *types.LifecycleRule) { r.AbortIncompleteMultipartUpload = nil }), "InvalidRequest", "at least one action"},
		{"bad status", mod(func(r *types.LifecycleRule) { r.Status = "On" }), "MalformedXML", "Status"},
		{"same id twice", []types.LifecycleRule{ourRule(), ourRule()}, "InvalidArgument", "unique"},
		{"expiration not at midnight", mod(func(r *types.LifecycleRule) {
			r.Expiration = &types.LifecycleExpiration{Date: aws.Time(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))}
		}), "InvalidArgument", "midnight"},
		{"negative expiration", mod(func(r *types.LifecycleRule) { r.Expiration = &types.LifecycleExpiration{Days: aws.Int32(-1)} }),
			"InvalidArgument", "'Days' for Expiration"},
	}
	for _, c := range cases {
		_, err := root.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
			Bucket: aws.String(b), LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: c.rules},
		})
		if apiCode(err) != c.code || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %s saying %q", c.name, err, c.code, c.says)
		}
		if len(c.rules) > 0 && !strings.Contains(err.Error(), "amplify-abort") {
			t.Errorf("%s: %v does not name the rule", c.name, err)
		}
	}
	got, err := lifecycleOf(t, root, b)
	if err != nil || ruleText(got) != ruleText([]types.LifecycleRule{ourRule()}) {
		t.Errorf("after refusals: %s, %v; want the first configuration", ruleText(got), err)
	}
}

// TestBucketCreationDateStable checks ListBuckets answers when the bucket
// was made, not when an object was last written to it.
func TestBucketCreationDateStable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := s3Client(rootAccess, rootSecret)
	b := newBucket(t, root)
	created := func() time.Time {
		t.Helper()
		d, err := embeddedtest.CreationDate(ctx, root, b)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := created()
	embeddedtest.NextSecond(first)
	putObject(t, root, b, "top-level-object")
	if again := created(); !again.Equal(first) {
		t.Errorf("CreationDate moved from %s to %s after writing an object", first, again)
	}
}
