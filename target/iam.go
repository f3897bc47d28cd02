package target

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// EnsureRole makes sure role exists, creating it with trustPolicy when it is
// missing. An existing role is left as it is, trust policy included: it may
// be shared with other tooling. Losing a creation race is not an error.
func (t *Target) EnsureRole(ctx context.Context, role string, trustPolicy []byte) (bool, error) {
	if t.iam == nil {
		return false, fmt.Errorf("iam EnsureRole %q: %w", role, ErrNoIAM)
	}
	_, err := t.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
	switch {
	case err == nil:
		return false, nil
	case !hasCode(err, "NoSuchEntity"):
		return false, fmt.Errorf("iam GetRole %q: %w", role, err)
	}
	_, err = t.iam.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String(role),
		AssumeRolePolicyDocument: aws.String(string(trustPolicy)),
	})
	switch {
	case err == nil:
		return true, nil
	case hasCode(err, "EntityAlreadyExists"):
		return false, nil
	}
	return false, fmt.Errorf("iam CreateRole %q: %w", role, err)
}

// RolePolicy returns the inline policy name of role as JSON, or nil when the
// role or the policy does not exist. AWS and Versity return the document
// URL-encoded, Ceph raw; it is decoded with PathUnescape because
// QueryUnescape would turn '+' into a space.
func (t *Target) RolePolicy(ctx context.Context, role, name string) ([]byte, error) {
	if t.iam == nil {
		return nil, fmt.Errorf("iam GetRolePolicy %q/%q: %w", role, name, ErrNoIAM)
	}
	out, err := t.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{
		RoleName:   aws.String(role),
		PolicyName: aws.String(name),
	})
	if err != nil {
		if hasCode(err, "NoSuchEntity") {
			return nil, nil
		}
		return nil, fmt.Errorf("iam GetRolePolicy %q/%q: %w", role, name, err)
	}
	doc := aws.ToString(out.PolicyDocument)
	if !strings.HasPrefix(strings.TrimSpace(doc), "{") {
		decoded, err := url.PathUnescape(doc)
		if err != nil {
			return nil, fmt.Errorf("iam GetRolePolicy %q/%q: decode document: %w", role, name, err)
		}
		doc = decoded
	}
	return []byte(doc), nil
}

// PutRolePolicy writes (creates or replaces) the inline policy name of role.
func (t *Target) PutRolePolicy(ctx context.Context, role, name string, doc []byte) error {
	if t.iam == nil {
		return fmt.Errorf("iam PutRolePolicy %q/%q: %w", role, name, ErrNoIAM)
	}
	_, err := t.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName:       aws.String(role),
		PolicyName:     aws.String(name),
		PolicyDocument: aws.String(string(doc)),
	})
	if err != nil {
		return fmt.Errorf("iam PutRolePolicy %q/%q: %w", role, name, err)
	}
	return nil
}

// DeleteRolePolicy removes the inline policy name of role; a missing role or
// policy is already the wanted state.
func (t *Target) DeleteRolePolicy(ctx context.Context, role, name string) error {
	if t.iam == nil {
		return fmt.Errorf("iam DeleteRolePolicy %q/%q: %w", role, name, ErrNoIAM)
	}
	_, err := t.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{
		RoleName:   aws.String(role),
		PolicyName: aws.String(name),
	})
	if err == nil || hasCode(err, "NoSuchEntity") {
		return nil
	}
	return fmt.Errorf("iam DeleteRolePolicy %q/%q: %w", role, name, err)
}

// RolePolicyNames lists the inline policy names of role (nil when the role
// does not exist), so that the size of all of a role's inline policies can
// be checked against AWS's 10,240-character cap before writing.
func (t *Target) RolePolicyNames(ctx context.Context, role string) ([]string, error) {
	if t.iam == nil {
		return nil, fmt.Errorf("iam ListRolePolicies %q: %w", role, ErrNoIAM)
	}
	var names []string
	p := iam.NewListRolePoliciesPaginator(t.iam, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if hasCode(err, "NoSuchEntity") {
				return nil, nil
			}
			return nil, fmt.Errorf("iam ListRolePolicies %q: %w", role, err)
		}
		names = append(names, page.PolicyNames...)
	}
	return names, nil
}
