package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/versity/versitygw/iamapi/storage"
	"github.com/versity/versitygw/iamapi/types"
)

func newRoleStore(t *testing.T) (*roleStore, storage.Storer) {
	t.Helper()
	dir := t.TempDir()
	base, err := storage.NewInternal(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := openRoleStore(context.Background(), filepath.Join(dir, "roles.db"), base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, base
}

// step is one Storer call; it reports the call's result as text so two
// stores' answers can be compared. Dates are blanked: the two stores run a
// moment apart.
type step struct {
	name string
	call func(context.Context, storage.Storer) (any, error)
}

func outcome(v any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	raw, _ := json.Marshal(v)
	var generic any
	json.Unmarshal(raw, &generic)
	blankDates(generic)
	out, _ := json.Marshal(generic)
	return string(out)
}

func blankDates(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if strings.HasSuffix(k, "Date") {
				v[k] = "<date>"
				continue
			}
			blankDates(x)
		}
	case []any:
		for _, x := range v {
			blankDates(x)
		}
	}
}

func role(name, id string, tags ...types.Tag) types.Role {
	return types.Role{RoleName: name, RoleID: id, Path: "/", Arn: "arn:aws:iam::000000000000:role/" + name,
		CreateDate: time.Unix(1700000000, 0).UTC(), AssumeRolePolicyDocument: `{"Version":"2012-10-17"}`, Tags: tags}
}

// TestRoleStoreMatchesVersity runs one script of role calls against
// Versity's own file store and against roleStore and requires the same
// answer, error for error, from both: the gateway's IAM API must not be
// able to tell them apart.
func TestRoleStoreMatchesVersity(t *testing.T) {
	big := strings.Repeat("x", storage.MaxInlinePolicyBytesPerRole-10)
	tags := func(kv ...string) []types.Tag {
		var out []types.Tag
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, types.Tag{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	many := make([]types.Tag, storage.MaxTagsPerResource)
	for i := range many {
		many[i] = types.Tag{Key: fmt.Sprintf("k%02d", i), Value: "v"}
	}
	script := []step{
		{"get missing", func(ctx context.Context, s storage.Storer) (any, error) { return s.GetRole(ctx, "nobody") }},
		{"create a", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.CreateRole(ctx, role("Auth-A", "AROA1", tags("Env", "dev")...))
		}},
		{"create b", func(ctx context.Context, s storage.Storer) (any, error) {
			r := role("unauth-b", "AROA2")
			r.Path = "/amplify/"
			return s.CreateRole(ctx, r)
		}},
		{"create c", func(ctx context.Context, s storage.Storer) (any, error) { return s.CreateRole(ctx, role("c", "AROA3")) }},
		{"same name other case", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.CreateRole(ctx, role("auth-a", "AROA9"))
		}},
		{"same id", func(ctx context.Context, s storage.Storer) (any, error) { return s.CreateRole(ctx, role("d", "AROA1")) }},
		{"get folded", func(ctx context.Context, s storage.Storer) (any, error) { return s.GetRole(ctx, "AUTH-a") }},
		{"list all", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRoles(ctx, storage.ListRolesInput{})
		}},
		{"list page", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRoles(ctx, storage.ListRolesInput{MaxItems: 1})
		}},
		{"list after", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRoles(ctx, storage.ListRolesInput{Marker: "Auth-A", MaxItems: 1})
		}},
		{"list unknown marker", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRoles(ctx, storage.ListRolesInput{Marker: "zzz"})
		}},
		{"list prefix", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRoles(ctx, storage.ListRolesInput{PathPrefix: "/amplify/"})
		}},
		{"put p1", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.PutRolePolicy(ctx, storage.PutRolePolicyInput{RoleName: "auth-a", PolicyName: "p1", PolicyDocument: `{"a":1}`})
		}},
		{"put p0", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.PutRolePolicy(ctx, storage.PutRolePolicyInput{RoleName: "Auth-A", PolicyName: "p0", PolicyDocument: `{"b":2}`})
		}},
		{"replace p1", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.PutRolePolicy(ctx, storage.PutRolePolicyInput{RoleName: "Auth-A", PolicyName: "p1", PolicyDocument: `{"a":3}`})
		}},
		{"over quota", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.PutRolePolicy(ctx, storage.PutRolePolicyInput{RoleName: "Auth-A", PolicyName: "big", PolicyDocument: big})
		}},
		{"put on missing", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.PutRolePolicy(ctx, storage.PutRolePolicyInput{RoleName: "nobody", PolicyName: "p", PolicyDocument: "{}"})
		}},
		{"get p1", func(ctx context.Context, s storage.Storer) (any, error) { return s.GetRolePolicy(ctx, "Auth-A", "p1") }},
		{"get missing policy", func(ctx context.Context, s storage.Storer) (any, error) { return s.GetRolePolicy(ctx, "Auth-A", "P1") }},
		{"list policies", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRolePolicies(ctx, storage.ListRolePoliciesInput{RoleName: "Auth-A"})
		}},
		{"list policies page", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRolePolicies(ctx, storage.ListRolePoliciesInput{RoleName: "Auth-A", MaxItems: 1})
		}},
		{"list policies after", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRolePolicies(ctx, storage.ListRolePoliciesInput{RoleName: "Auth-A", Marker: "p0"})
		}},
		{"delete with policies", func(ctx context.Context, s storage.Storer) (any, error) { return nil, s.DeleteRole(ctx, "Auth-A") }},
		{"tag", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.TagRole(ctx, "Auth-A", tags("ENV", "prod", "app", "x", "Zeta", "z"))
		}},
		{"list tags", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRoleTags(ctx, storage.ListRoleTagsInput{RoleName: "Auth-A"})
		}},
		{"list tags page", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRoleTags(ctx, storage.ListRoleTagsInput{RoleName: "Auth-A", Marker: "env", MaxItems: 1})
		}},
		{"list tags unknown marker", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRoleTags(ctx, storage.ListRoleTagsInput{RoleName: "Auth-A", Marker: "nope"})
		}},
		{"untag", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.UntagRole(ctx, "Auth-A", []string{"env", "none"})
		}},
		{"tag limit", func(ctx context.Context, s storage.Storer) (any, error) { return nil, s.TagRole(ctx, "c", many) }},
		{"tag over limit", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.TagRole(ctx, "c", tags("one", "more"))
		}},
		{"retag at limit", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.TagRole(ctx, "c", tags("K00", "w"))
		}},
		{"trust", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.UpdateAssumeRolePolicy(ctx, storage.UpdateAssumeRolePolicyInput{RoleName: "unauth-B", PolicyDocument: `{"new":true}`})
		}},
		{"used", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.RecordRoleUsage(ctx, "c", "us-east-1", time.Unix(1700000100, 0).UTC())
		}},
		{"get used", func(ctx context.Context, s storage.Storer) (any, error) { return s.GetRole(ctx, "c") }},
		{"used missing", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.RecordRoleUsage(ctx, "nobody", "us-east-1", time.Now())
		}},
		{"delete p0", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.DeleteRolePolicy(ctx, "Auth-A", "p0")
		}},
		{"delete p0 again", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.DeleteRolePolicy(ctx, "Auth-A", "p0")
		}},
		{"delete p1", func(ctx context.Context, s storage.Storer) (any, error) {
			return nil, s.DeleteRolePolicy(ctx, "auth-a", "p1")
		}},
		{"delete", func(ctx context.Context, s storage.Storer) (any, error) { return nil, s.DeleteRole(ctx, "AUTH-A") }},
		{"delete again", func(ctx context.Context, s storage.Storer) (any, error) { return nil, s.DeleteRole(ctx, "Auth-A") }},
		{"id free again", func(ctx context.Context, s storage.Storer) (any, error) { return s.CreateRole(ctx, role("e", "AROA1")) }},
		{"final list", func(ctx context.Context, s storage.Storer) (any, error) {
			return s.ListRoles(ctx, storage.ListRolesInput{})
		}},
	}
	ctx := context.Background()
	versity, err := storage.NewInternal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ours, base := newRoleStore(t)
	for _, st := range script {
		want := outcome(st.call(ctx, versity))
		got := outcome(st.call(ctx, ours))
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", st.name, got, want)
		}
	}
	// Roles never reach the file store.
	if list, err := base.ListRoles(ctx, storage.ListRolesInput{}); err != nil || len(list.Roles) != 0 {
		t.Errorf("file store holds roles: %+v %v", list, err)
	}
}

// TestRoleStoreAdoptsFileStoreRoles: a data directory from before the role
// store keeps its roles, policies included, and they leave the file store.
func TestRoleStoreAdoptsFileStoreRoles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	base, err := storage.NewInternal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.CreateRole(ctx, role("old", "AROAOLD", types.Tag{Key: "k", Value: "v"})); err != nil {
		t.Fatal(err)
	}
	if err := base.PutRolePolicy(ctx, storage.PutRolePolicyInput{RoleName: "old", PolicyName: "p", PolicyDocument: `{"x":1}`}); err != nil {
		t.Fatal(err)
	}
	want := outcome(base.GetRole(ctx, "old"))
	for i := 0; i < 2; i++ { // the second open finds nothing left to move
		s, err := openRoleStore(ctx, filepath.Join(dir, "roles.db"), base)
		if err != nil {
			t.Fatal(err)
		}
		if got := outcome(s.GetRole(ctx, "old")); got != want {
			t.Errorf("open %d: adopted role %s, want %s", i, got, want)
		}
		if _, err := base.GetRole(ctx, "old"); err == nil {
			t.Errorf("open %d: the file store still holds the role", i)
		}
		s.Close()
	}
}

// TestRoleStoreConcurrentPolicies: writers to one role in the same group
// commit all land (each read-modify-write sees the others).
func TestRoleStoreConcurrentPolicies(t *testing.T) {
	ctx := context.Background()
	s, _ := newRoleStore(t)
	if _, err := s.CreateRole(ctx, role("shared", "AROAS")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Go(func() {
			if err := s.PutRolePolicy(ctx, storage.PutRolePolicyInput{RoleName: "shared", PolicyName: fmt.Sprintf("p%02d", i), PolicyDocument: "{}"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	list, err := s.ListRolePolicies(ctx, storage.ListRolePoliciesInput{RoleName: "shared"})
	if err != nil || len(list.PolicyNames) != 32 {
		t.Fatalf("after 32 concurrent puts: %+v %v", list, err)
	}
}
