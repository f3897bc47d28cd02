package s3iam

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/amplifybackendd/amplifybackendd/policy"
)

// ManagedPolicyPath is the IAM path of every customer managed policy this
// service creates, which keeps them apart from an account's others in
// listings and ARNs.
const ManagedPolicyPath = "/amplifybackendd/"

// AttachedPolicy is a customer managed policy attached to a role.
type AttachedPolicy struct{ Name, ARN string }

// AttachedRolePolicies lists the managed policies attached to role (nil
// when the role does not exist). A target without managed policies (Ceph
// RGW 16) answers an error that Classify calls NotImplemented.
func (t *Target) AttachedRolePolicies(ctx context.Context, role string) ([]AttachedPolicy, error) {
	if t.iam == nil {
		return nil, fmt.Errorf("iam ListAttachedRolePolicies %q: %w", role, ErrNoIAM)
	}
	var out []AttachedPolicy
	p := iam.NewListAttachedRolePoliciesPaginator(t.iam, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if hasCode(err, "NoSuchEntity") {
				return nil, nil
			}
			return nil, fmt.Errorf("iam ListAttachedRolePolicies %q: %w", role, err)
		}
		for _, a := range page.AttachedPolicies {
			out = append(out, AttachedPolicy{Name: aws.ToString(a.PolicyName), ARN: aws.ToString(a.PolicyArn)})
		}
	}
	return out, nil
}

// ManagedPolicy returns the default version of the managed policy arn as
// JSON, or nil when it does not exist.
func (t *Target) ManagedPolicy(ctx context.Context, arn string) ([]byte, error) {
	got, err := t.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil {
		if hasCode(err, "NoSuchEntity") {
			return nil, nil
		}
		return nil, fmt.Errorf("iam GetPolicy %q: %w", arn, err)
	}
	v, err := t.iam.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: got.Policy.DefaultVersionId})
	if err != nil {
		return nil, fmt.Errorf("iam GetPolicyVersion %q: %w", arn, err)
	}
	doc, err := policy.DecodeDocument(aws.ToString(v.PolicyVersion.Document))
	if err != nil {
		return nil, fmt.Errorf("iam GetPolicyVersion %q: decode document: %w", arn, err)
	}
	return doc, nil
}

// ErrNoSuchRole is ManagedPolicyARN's answer for a role that does not
// exist: no policy can have been attached to it, and a caller looking for
// policies of ours on it has nothing to look for.
var ErrNoSuchRole = errors.New("the role does not exist")

// ManagedPolicyARN is the ARN the managed policy name gets under
// ManagedPolicyPath in role's account (and partition), read from role's
// own ARN.
func (t *Target) ManagedPolicyARN(ctx context.Context, role, name string) (string, error) {
	out, err := t.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
	if err != nil {
		if hasCode(err, "NoSuchEntity") {
			return "", fmt.Errorf("iam GetRole %q: %w: %w", role, ErrNoSuchRole, err)
		}
		return "", fmt.Errorf("iam GetRole %q: %w", role, err)
	}
	roleARN := aws.ToString(out.Role.Arn)
	i := strings.Index(roleARN, ":role/")
	if i < 0 {
		return "", fmt.Errorf("iam GetRole %q: ARN %q is no role ARN", role, roleARN)
	}
	return roleARN[:i] + ":policy" + ManagedPolicyPath + name, nil
}

// PutManagedPolicy makes doc the default version of the managed policy
// arn (named name under ManagedPolicyPath), creating it when missing. IAM
// keeps at most five versions: the non-default ones are deleted first, so
// a policy carries at most the current and the previous version.
func (t *Target) PutManagedPolicy(ctx context.Context, arn, name string, doc []byte) error {
	_, err := t.iam.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name), Path: aws.String(ManagedPolicyPath),
		PolicyDocument: aws.String(string(doc))})
	if err == nil {
		return nil
	}
	if !hasCode(err, "EntityAlreadyExists") {
		return fmt.Errorf("iam CreatePolicy %q: %w", name, err)
	}
	if err := t.deleteOldVersions(ctx, arn); err != nil {
		return err
	}
	if _, err := t.iam.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(arn),
		PolicyDocument: aws.String(string(doc)), SetAsDefault: true}); err != nil {
		return fmt.Errorf("iam CreatePolicyVersion %q: %w", arn, err)
	}
	return nil
}

func (t *Target) deleteOldVersions(ctx context.Context, arn string) error {
	versions, err := t.iam.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)})
	if err != nil {
		if hasCode(err, "NoSuchEntity") {
			return nil
		}
		return fmt.Errorf("iam ListPolicyVersions %q: %w", arn, err)
	}
	for _, v := range versions.Versions {
		if v.IsDefaultVersion {
			continue
		}
		_, err := t.iam.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(arn), VersionId: v.VersionId})
		if err != nil && !hasCode(err, "NoSuchEntity") {
			return fmt.Errorf("iam DeletePolicyVersion %q %s: %w", arn, aws.ToString(v.VersionId), err)
		}
	}
	return nil
}

// AttachRolePolicy attaches the managed policy arn to role; attached
// already is the wanted state.
func (t *Target) AttachRolePolicy(ctx context.Context, role, arn string) error {
	if _, err := t.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(arn)}); err != nil {
		return fmt.Errorf("iam AttachRolePolicy %q %q: %w", role, arn, err)
	}
	return nil
}

// DeleteManagedPolicy detaches the managed policy arn from role and
// deletes it with its versions; what is already gone is the wanted state.
func (t *Target) DeleteManagedPolicy(ctx context.Context, role, arn string) error {
	_, err := t.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(arn)})
	if err != nil && !hasCode(err, "NoSuchEntity") {
		return fmt.Errorf("iam DetachRolePolicy %q %q: %w", role, arn, err)
	}
	if err := t.deleteOldVersions(ctx, arn); err != nil {
		return err
	}
	if _, err := t.iam.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arn)}); err != nil && !hasCode(err, "NoSuchEntity") {
		return fmt.Errorf("iam DeletePolicy %q: %w", arn, err)
	}
	return nil
}
