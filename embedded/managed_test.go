package embedded_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// TestManagedPolicies drives the customer managed policy calls through the
// AWS SDK as AWS answers them: create, versions (at most five, never the
// default one deleted), attach to a role (at most ten), the 6,144-character
// quota (white space not counted), and the conflicts that keep a policy or
// role from being deleted while in use.
func TestManagedPolicies(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := iamClient()
	role := "managed-test-role"
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(cognitoTrust)}); err != nil {
		t.Fatal(err)
	}
	doc := func(bucket string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]}]}`
	}
	created, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("managed-test-0"), Path: aws.String("/amplifybackendd/"), PolicyDocument: aws.String(doc("a"))})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.Policy.Arn)
	if arn != "arn:aws:iam::000000000000:policy/amplifybackendd/managed-test-0" || aws.ToString(created.Policy.DefaultVersionId) != "v1" {
		t.Fatalf("CreatePolicy: %+v", created.Policy)
	}
	if _, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("MANAGED-test-0"), PolicyDocument: aws.String(doc("a"))}); apiCode(err) != "EntityAlreadyExists" {
		t.Errorf("CreatePolicy of a taken name: %v", err)
	}
	// Versions: v2 becomes the default; four more do not fit.
	if _, err := c.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(arn), PolicyDocument: aws.String(doc("b")), SetAsDefault: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(arn), PolicyDocument: aws.String(doc(fmt.Sprint(i)))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(arn), PolicyDocument: aws.String(doc("x"))}); apiCode(err) != "LimitExceeded" {
		t.Errorf("a sixth version: %v", err)
	}
	got, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil || aws.ToString(got.Policy.DefaultVersionId) != "v2" {
		t.Fatalf("GetPolicy: %+v %v", got, err)
	}
	v, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: aws.String("v2")})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := url.PathUnescape(aws.ToString(v.PolicyVersion.Document)); d != doc("b") || !v.PolicyVersion.IsDefaultVersion {
		t.Fatalf("GetPolicyVersion: %s %v", d, v.PolicyVersion.IsDefaultVersion)
	}
	if _, err := c.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(arn), VersionId: aws.String("v2")}); apiCode(err) != "DeleteConflict" {
		t.Errorf("deleting the default version: %v", err)
	}
	versions, err := c.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)})
	if err != nil || len(versions.Versions) != 5 || aws.ToString(versions.Versions[0].VersionId) != "v5" {
		t.Fatalf("ListPolicyVersions: %+v %v", versions, err)
	}

	// Size: 6,144 characters, white space not counted.
	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + strings.Repeat("b", 6144) + `"]}]}`
	if _, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("managed-test-big"), PolicyDocument: aws.String(big)}); apiCode(err) != "LimitExceeded" {
		t.Errorf("CreatePolicy over 6,144 characters: %v", err)
	}
	spaced := strings.ReplaceAll(doc(strings.Repeat("c", 5900)), ",", ",       ")
	if _, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("managed-test-spaced"), PolicyDocument: aws.String(spaced)}); err != nil {
		t.Errorf("CreatePolicy under 6,144 characters without its white space: %v", err)
	}

	// Attach: ten per role.
	arns := []string{arn}
	for i := 1; i < 11; i++ {
		p, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(fmt.Sprintf("managed-test-%d", i)), PolicyDocument: aws.String(doc("a"))})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, aws.ToString(p.Policy.Arn))
	}
	for i, a := range arns {
		_, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(a)})
		if i < 10 && err != nil || i == 10 && apiCode(err) != "LimitExceeded" {
			t.Fatalf("attaching policy %d: %v", i+1, err)
		}
	}
	attached, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil || len(attached.AttachedPolicies) != 10 || aws.ToString(attached.AttachedPolicies[0].PolicyName) != "managed-test-0" {
		t.Fatalf("ListAttachedRolePolicies: %+v %v", attached, err)
	}
	if _, err := c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arns[1])}); apiCode(err) != "DeleteConflict" {
		t.Errorf("deleting an attached policy: %v", err)
	}
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(role)}); apiCode(err) != "DeleteConflict" {
		t.Errorf("deleting a role with attached policies: %v", err)
	}
	for _, a := range arns[:10] {
		if _, err := c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(a)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(arn)}); apiCode(err) != "NoSuchEntity" {
		t.Errorf("detaching a detached policy: %v", err)
	}
	if _, err := c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arn)}); apiCode(err) != "DeleteConflict" {
		t.Errorf("deleting a policy with versions: %v", err)
	}
	for _, id := range []string{"v1", "v3", "v4", "v5"} {
		if _, err := c.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(arn), VersionId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)}); apiCode(err) != "NoSuchEntity" {
		t.Errorf("GetPolicy after DeletePolicy: %v", err)
	}
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(role)}); err != nil {
		t.Errorf("deleting the role once detached: %v", err)
	}
}
