package s3iam_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
)

// cognitoTrust is the trust policy of an Amplify authenticated role; Versity
// requires the Condition block for the Cognito provider, as AWS does.
const cognitoTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
	`"Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity",` +
	`"Condition":{"StringEquals":{"cognito-identity.amazonaws.com:aud":"us-east-1:00000000-0000-0000-0000-000000000000"},` +
	`"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"}}}]}`

func TestEnsureRole(t *testing.T) {
	e := setup(t)
	role := uniqueName(t, "role")
	created, err := e.tgt.EnsureRole(e.ctx, role, []byte(cognitoTrust), nil)
	if err != nil || !created {
		t.Fatalf("EnsureRole = %v, %v; want true, nil", created, err)
	}
	m := e.rec.mark()
	created, err = e.tgt.EnsureRole(e.ctx, role, []byte(cognitoTrust), nil)
	if err != nil || created {
		t.Fatalf("EnsureRole again = %v, %v; want false, nil", created, err)
	}
	e.noWrites(m, "EnsureRole")
	if _, err := e.iam.GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String(role)}); err != nil {
		t.Fatalf("GetRole: %v", err)
	}

	// A trust policy IAM rejects is a Permanent error naming the role.
	_, err = e.tgt.EnsureRole(e.ctx, role+"-bad", []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",`+
		`"Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`), nil)
	if err == nil || s3iam.Classify(err) != s3iam.Permanent {
		t.Fatalf("EnsureRole(Cognito trust without Condition) = %v, want a Permanent error", err)
	}
	t.Logf("rejected trust policy: %s", s3iam.APIMessage(err))
}

// TestRoleTags: a role EnsureRole creates carries the tags it was given,
// RoleTags reads them back, and an existing role's tags are left alone.
func TestRoleTags(t *testing.T) {
	e := setup(t)
	role := uniqueName(t, "role")
	if tags, exists, err := e.tgt.RoleTags(e.ctx, role); err != nil || exists || tags != nil {
		t.Fatalf("RoleTags(missing) = %v, %v, %v; want nil, false, nil", tags, exists, err)
	}
	want := map[string]string{"amplifybackendd:owner": "0123abcd-authenticated", "amplifybackendd:app": "My App_1"}
	if created, err := e.tgt.EnsureRole(e.ctx, role, []byte(cognitoTrust), want); err != nil || !created {
		t.Fatalf("EnsureRole with tags = %v, %v", created, err)
	}
	m := e.rec.mark()
	if _, err := e.tgt.EnsureRole(e.ctx, role, []byte(cognitoTrust), map[string]string{"amplifybackendd:owner": "other"}); err != nil {
		t.Fatal(err)
	}
	e.noWrites(m, "EnsureRole of an existing role")
	tags, exists, err := e.tgt.RoleTags(e.ctx, role)
	if err != nil || !exists || !maps.Equal(tags, want) {
		t.Fatalf("RoleTags = %v, %v, %v; want %v", tags, exists, err, want)
	}
}

func TestRolePolicies(t *testing.T) {
	e := setup(t)
	role := uniqueName(t, "role")
	if _, err := e.tgt.EnsureRole(e.ctx, role, []byte(cognitoTrust), nil); err != nil {
		t.Fatal(err)
	}

	if doc, err := e.tgt.RolePolicy(e.ctx, role, "res-a"); err != nil || doc != nil {
		t.Fatalf("RolePolicy(missing policy) = %q, %v; want nil, nil", doc, err)
	}
	if doc, err := e.tgt.RolePolicy(e.ctx, role+"-missing", "res-a"); err != nil || doc != nil {
		t.Fatalf("RolePolicy(missing role) = %q, %v; want nil, nil", doc, err)
	}
	if names, err := e.tgt.RolePolicyNames(e.ctx, role); err != nil || len(names) != 0 {
		t.Fatalf("RolePolicyNames(no policies) = %v, %v", names, err)
	}

	// The '+', '%' and space prove PathUnescape (QueryUnescape would turn
	// '+' into a space); ${...} and StringLike are what Amplify writes.
	doc := `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"amplifyresaprivate","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],` +
		`"Resource":["arn:aws:s3:::b/private/${cognito-identity.amazonaws.com:sub}/*","arn:aws:s3:::b/a+b c%2F/*"]},` +
		`{"Sid":"amplifyresaread","Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::b"],` +
		`"Condition":{"StringLike":{"s3:prefix":["public/","public/*","private/${cognito-identity.amazonaws.com:sub}/","private/${cognito-identity.amazonaws.com:sub}/*"]}}}]}`
	for _, name := range []string{"res-a", "res-b"} {
		if err := e.tgt.PutRolePolicy(e.ctx, role, name, []byte(doc)); err != nil {
			t.Fatalf("PutRolePolicy %s: %v", name, err)
		}
	}
	got, err := e.tgt.RolePolicy(e.ctx, role, "res-a")
	if err != nil {
		t.Fatalf("RolePolicy: %v", err)
	}
	if string(got) != doc {
		t.Errorf("RolePolicy round trip:\n got %s\nwant %s", got, doc)
	}
	names, err := e.tgt.RolePolicyNames(e.ctx, role)
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"res-a", "res-b"}) {
		t.Fatalf("RolePolicyNames = %v, %v", names, err)
	}

	for i := range 2 {
		if err := e.tgt.DeleteRolePolicy(e.ctx, role, "res-a"); err != nil {
			t.Fatalf("DeleteRolePolicy #%d: %v", i+1, err)
		}
	}
	if err := e.tgt.DeleteRolePolicy(e.ctx, role+"-missing", "res-a"); err != nil {
		t.Fatalf("DeleteRolePolicy(missing role): %v", err)
	}
	names, err = e.tgt.RolePolicyNames(e.ctx, role)
	if err != nil || !slices.Equal(names, []string{"res-b"}) {
		t.Fatalf("RolePolicyNames after delete = %v, %v", names, err)
	}
	if names, err := e.tgt.RolePolicyNames(e.ctx, role+"-missing"); err != nil || names != nil {
		t.Fatalf("RolePolicyNames(missing role) = %v, %v; want nil, nil", names, err)
	}

	err = e.tgt.PutRolePolicy(e.ctx, role, "bad", []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}`))
	if err == nil || s3iam.Classify(err) != s3iam.Permanent {
		t.Fatalf("PutRolePolicy(no Resource) = %v, want a Permanent error", err)
	}
	t.Logf("malformed role policy: %s", s3iam.APIMessage(err))
	err = e.tgt.PutRolePolicy(e.ctx, role+"-missing", "res-a", []byte(doc))
	if err == nil || s3iam.Classify(err) != s3iam.Permanent {
		t.Fatalf("PutRolePolicy(missing role) = %v, want a Permanent error", err)
	}
	t.Logf("PutRolePolicy on a missing role: %s", s3iam.APIMessage(err))
}

func TestNoIAM(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tgt, err := s3iam.New(ctx, s3iam.Config{
		S3Endpoint: gw.S3Endpoint, IAMEndpoint: gw.IAMEndpoint, NoIAM: true,
		AccessKey: rootAccess, SecretKey: rootSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	if tgt.HasIAM() {
		t.Error("HasIAM() = true with NoIAM")
	}
	calls := map[string]func() error{
		"EnsureRole":       func() error { _, err := tgt.EnsureRole(ctx, "r", []byte(cognitoTrust), nil); return err },
		"RoleTags":         func() error { _, _, err := tgt.RoleTags(ctx, "r"); return err },
		"RolePolicy":       func() error { _, err := tgt.RolePolicy(ctx, "r", "p"); return err },
		"PutRolePolicy":    func() error { return tgt.PutRolePolicy(ctx, "r", "p", []byte("{}")) },
		"DeleteRolePolicy": func() error { return tgt.DeleteRolePolicy(ctx, "r", "p") },
		"RolePolicyNames":  func() error { _, err := tgt.RolePolicyNames(ctx, "r"); return err },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, s3iam.ErrNoIAM) || s3iam.Classify(err) != s3iam.NotImplemented {
			t.Errorf("%s with NoIAM: %v (%v), want ErrNoIAM classified NotImplemented", name, err, s3iam.Classify(err))
		}
	}
	if err := tgt.Ping(ctx); err != nil {
		t.Errorf("Ping with NoIAM: %v", err)
	}
}

// TestConnectionRefused proves that an unreachable target is Transient: the
// job waits and retries rather than failing.
func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	tgt, err := s3iam.New(ctx, s3iam.Config{
		S3Endpoint: "http://127.0.0.1:1", IAMEndpoint: "http://127.0.0.1:1",
		AccessKey: "a", SecretKey: "b",
	})
	if err != nil {
		t.Fatal(err)
	}
	err = tgt.Ping(ctx)
	if c := s3iam.Classify(err); c != s3iam.Transient {
		t.Errorf("Ping to a closed port: %v classified %v, want Transient", err, c)
	}
	_, err = tgt.RolePolicy(ctx, "r", "p")
	if c := s3iam.Classify(err); c != s3iam.Transient {
		t.Errorf("RolePolicy to a closed port: %v classified %v, want Transient", err, c)
	}
}

// TestRolePolicyQuota measures Versity's cap on a role's inline policies:
// 10,240 bytes in all, counted on the raw documents (whitespace included,
// unlike AWS), answered 409 LimitExceeded, which is Permanent.
func TestRolePolicyQuota(t *testing.T) {
	e := setup(t)
	role := uniqueName(t, "role")
	if _, err := e.tgt.EnsureRole(e.ctx, role, []byte(cognitoTrust), nil); err != nil {
		t.Fatal(err)
	}
	big := func(n int) []byte {
		res := `"arn:aws:s3:::b/public/*"`
		for len(res) < n {
			res += `,"arn:aws:s3:::b/public/*"`
		}
		return []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":[` + res + `]}]}`)
	}
	if err := e.tgt.PutRolePolicy(e.ctx, role, "a", big(6000)); err != nil {
		t.Fatalf("PutRolePolicy 6 kB: %v", err)
	}
	err := e.tgt.PutRolePolicy(e.ctx, role, "b", big(6000))
	if err == nil || s3iam.Classify(err) != s3iam.Permanent || !strings.HasPrefix(s3iam.APIMessage(err), "LimitExceeded") {
		t.Fatalf("PutRolePolicy beyond 10,240 bytes in all = %v, want a Permanent LimitExceeded", err)
	}
	t.Logf("role policy quota: %s", s3iam.APIMessage(err))
	// Replacing a policy counts its new size only.
	if err := e.tgt.PutRolePolicy(e.ctx, role, "a", big(9000)); err != nil {
		t.Fatalf("PutRolePolicy replacing a with 9 kB: %v", err)
	}
}
