package s3iam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/amplifybackendd/amplifybackendd/policy"
)

// EnsureRole makes sure role exists, creating it with trustPolicy and tags
// when it is missing. An existing role is left as it is, trust policy and
// tags included: it may be shared with other tooling. Losing a creation race
// is not an error.
func (t *Target) EnsureRole(ctx context.Context, role string, trustPolicy []byte, tags map[string]string) (bool, error) {
	if t.iam == nil {
		return false, fmt.Errorf("iam EnsureRole %q: %w", role, ErrNoIAM)
	}
	if _, exists, err := t.RoleTags(ctx, role); err != nil || exists {
		return false, err
	}
	in := &iam.CreateRoleInput{
		RoleName:                 aws.String(role),
		AssumeRolePolicyDocument: aws.String(string(trustPolicy)),
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		in.Tags = append(in.Tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	_, err := t.iam.CreateRole(ctx, in)
	switch {
	case err == nil:
		return true, nil
	case hasCode(err, "EntityAlreadyExists"):
		return false, nil
	}
	return false, fmt.Errorf("iam CreateRole %q: %w", role, err)
}

// RoleTags returns the tags of role and whether it exists, so that a caller
// can see whom a role was created for before it writes to it.
func (t *Target) RoleTags(ctx context.Context, role string) (map[string]string, bool, error) {
	if t.iam == nil {
		return nil, false, fmt.Errorf("iam GetRole %q: %w", role, ErrNoIAM)
	}
	out, err := t.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)},
		func(o *iam.Options) { o.APIOptions = append(o.APIOptions, addRGWRoleTags) })
	if err != nil {
		if hasCode(err, "NoSuchEntity") {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("iam GetRole %q: %w", role, err)
	}
	tags := map[string]string{}
	if out.Role != nil {
		for _, tag := range out.Role.Tags {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
	}
	return tags, true, nil
}

// rgwRoleTags lets the IAM client read the tags in a GetRole answer from
// Ceph RGW 16.2, which writes each tag as
// <Key><Key>k</Key></Key><Value><Value>v</Value></Value> where the query
// protocol has <member><Key>k</Key><Value>v</Value></member>: the SDK would
// read no tags at all. Answers in the usual shape pass untouched.
type rgwRoleTags struct{}

func addRGWRoleTags(stack *middleware.Stack) error {
	return stack.Deserialize.Insert(rgwRoleTags{}, "OperationDeserializer", middleware.After)
}

func (rgwRoleTags) ID() string { return "amplifybackendd.RGWRoleTags" }

// rgwTag is one tag as RGW writes it.
var rgwTag = regexp.MustCompile(`<Key><Key>([^<]*)</Key></Key><Value><Value>([^<]*)</Value></Value>`)

// maxRoleBody bounds what is read of a GetRole answer: a trust policy of at
// most 2,048 characters and 50 tags of at most 128 + 256, escaped.
const maxRoleBody = 256 << 10

func (rgwRoleTags) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if err != nil || !ok || resp.StatusCode != http.StatusOK || resp.Body == nil {
		return out, md, err
	}
	rewriteBody(resp, maxRoleBody, func(body []byte) []byte {
		return rgwTag.ReplaceAll(body, []byte("<member><Key>$1</Key><Value>$2</Value></member>"))
	})
	return out, md, err
}

// RolePolicy returns the inline policy name of role as JSON, or nil when the
// role or the policy does not exist. AWS and Versity return the document
// URL-encoded, Ceph raw (policy.DecodeDocument takes both).
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
	doc, err := policy.DecodeDocument(aws.ToString(out.PolicyDocument))
	if err != nil {
		return nil, fmt.Errorf("iam GetRolePolicy %q/%q: decode document: %w", role, name, err)
	}
	return doc, nil
}

// PutRolePolicy writes (creates or replaces) the inline policy name of role.
//
// Ceph RGW 16.2 refuses (400 MalformedPolicyDocument) any document with a
// policy variable such as ${cognito-identity.amazonaws.com:sub} in a
// Resource: its ARN parser allows no ':' after the account field. When a
// non-AWS target refuses a document for that reason, the resources carrying
// variables are left out and the rest is written (see
// policy.WithoutResourceVariables). That only ever grants less: on such a target
// the per-identity paths (protected/<id>/, private/<id>/) are simply not
// granted, which is all the target could do anyway, since it never expands
// the variable. Read back, the stored document is then that narrower form
// (MayNarrowRolePolicies says which targets may do this).
func (t *Target) PutRolePolicy(ctx context.Context, role, name string, doc []byte) error {
	if t.iam == nil {
		return fmt.Errorf("iam PutRolePolicy %q/%q: %w", role, name, ErrNoIAM)
	}
	err := t.putRolePolicy(ctx, role, name, doc)
	if err != nil && t.customIAM && hasCode(err, "MalformedPolicyDocument") {
		if reduced, ok := policy.WithoutResourceVariables(doc); ok {
			if t.putRolePolicy(ctx, role, name, reduced) == nil {
				return nil
			}
		}
	}
	if err != nil {
		return fmt.Errorf("iam PutRolePolicy %q/%q: %w", role, name, err)
	}
	return nil
}

func (t *Target) putRolePolicy(ctx context.Context, role, name string, doc []byte) error {
	_, err := t.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName:       aws.String(role),
		PolicyName:     aws.String(name),
		PolicyDocument: aws.String(string(doc)),
	})
	return err
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

// ErrRoleInUse is a DeleteRole the target refused because the role still
// has policies attached or is used by an instance profile: someone else
// uses it, so it stays.
var ErrRoleInUse = errors.New("the role is still in use")

// DeleteRole removes role; a role already gone is the wanted state. A role
// the target refuses to delete because it is still in use is
// ErrRoleInUse.
func (t *Target) DeleteRole(ctx context.Context, role string) error {
	if t.iam == nil {
		return fmt.Errorf("iam DeleteRole %q: %w", role, ErrNoIAM)
	}
	_, err := t.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(role)})
	switch {
	case err == nil || hasCode(err, "NoSuchEntity"):
		return nil
	case hasCode(err, "DeleteConflict"):
		return fmt.Errorf("iam DeleteRole %q: %w: %w", role, ErrRoleInUse, err)
	}
	return fmt.Errorf("iam DeleteRole %q: %w", role, err)
}
