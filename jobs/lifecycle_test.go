package jobs

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// TestCreateOnEmbeddedGatewayHasNoLifecycleWarning: the embedded gateway
// keeps lifecycle rules, so a create writes Amplify's abort rule there and
// the completed job carries no warning about it.
func TestCreateOnEmbeddedGatewayHasNoLifecycleWarning(t *testing.T) {
	f := setup(t)
	f.start()
	k := f.key("uploads")
	b := f.bucket("l")
	j, err := f.runner.Create(f.ctx, CreateInput{Key: k, Bucket: b, Permissions: store.Permissions{Authenticated: []string{"READ"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := f.wait(j.ID)
	if got.Status != store.StatusCompleted {
		t.Fatalf("create: %+v", got)
	}
	for _, w := range got.Warnings {
		if strings.Contains(w, "lifecycle") {
			t.Errorf("completed job warns: %q", w)
		}
	}
	out, err := otherParty().GetBucketLifecycleConfiguration(f.ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatalf("GetBucketLifecycleConfiguration: %v", err)
	}
	if len(out.Rules) != 1 || aws.ToString(out.Rules[0].ID) != lifecycleRuleID ||
		out.Rules[0].AbortIncompleteMultipartUpload == nil || aws.ToInt32(out.Rules[0].AbortIncompleteMultipartUpload.DaysAfterInitiation) != 1 {
		t.Errorf("bucket %s lifecycle rules: %+v", b, out.Rules)
	}
}
