package policy

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestPermissionValid(t *testing.T) {
	t.Parallel()
	for p, want := range map[Permission]bool{
		Read: true, CreateAndUpdate: true, Delete: true,
		"": false, "read": false, "WRITE": false, "READ ": false,
	} {
		if got := p.Valid(); got != want {
			t.Errorf("Permission(%q).Valid() = %v, want %v", p, got, want)
		}
	}
}

type triple struct{ app, env, res string }

// distinctTriples are triples whose names collide under naive joining.
var distinctTriples = []triple{
	{"a", "bc", "d"},
	{"ab", "c", "d"},
	{"a", "b", "cd"},
	{"a", "b\x00c", "d"},
	{"a\x00b", "c", "d"},
	{"app1", "dev", "photos"},
	{"app1", "prod", "photos"},
	{"app2", "dev", "photos"},
	{"app1", "dev", "Photos"},
	{"", "", ""},
}

func TestSidPrefix(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^Amplifybackendd[0-9a-f]{16}$`)
	seen := map[string]triple{}
	for _, tr := range distinctTriples {
		p := SidPrefix(tr.app, tr.env, tr.res)
		if !re.MatchString(p) {
			t.Errorf("SidPrefix%q = %q, not alphanumeric of the fixed form", tr, p)
		}
		if other, dup := seen[p]; dup {
			t.Errorf("SidPrefix%q == SidPrefix%q == %q", tr, other, p)
		}
		seen[p] = tr
		if again := SidPrefix(tr.app, tr.env, tr.res); again != p {
			t.Errorf("SidPrefix%q not stable: %q then %q", tr, p, again)
		}
	}
	// The value lives in bucket policies on real targets: pin it.
	if got, want := SidPrefix("app1", "dev", "photos"), "Amplifybackendd8a2f88c6acd6c8cf"; got != want {
		t.Errorf("SidPrefix changed: %q, want %q (existing statements would be orphaned)", got, want)
	}
}

func TestRolePolicyName(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	tests := []struct {
		res      string
		contains string
	}{
		{"photos", "-photos-"},
		{"my+photos=1,a.b@c_d-e", "-my+photos=1,a.b@c_d-e-"},
		{"写真", "storage----"},
		{"a/b/../c", "-a-b-..-c-"},
		{"emoji 🎉 name", "-emoji---name-"},
		{strings.Repeat("x", 300), "-" + strings.Repeat("x", 64) + "-"},
		{strings.Repeat("é", 300), "-" + strings.Repeat("-", 64) + "-"},
		{"", "amplifybackendd-storage-"},
	}
	seen := map[string]triple{}
	for _, tt := range tests {
		name := RolePolicyName("app1", "dev", tt.res)
		if !valid.MatchString(name) {
			t.Errorf("RolePolicyName(%q) = %q: not a valid IAM policy name", tt.res, name)
		}
		if !strings.Contains(name, tt.contains) {
			t.Errorf("RolePolicyName(%q) = %q, want it to contain %q", tt.res, name, tt.contains)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("RolePolicyName(%q) == RolePolicyName%q", tt.res, prev)
		}
		seen[name] = triple{"app1", "dev", tt.res}
	}
	for _, tr := range distinctTriples {
		name := RolePolicyName(tr.app, tr.env, tr.res)
		if prev, dup := seen[name]; dup && prev != tr {
			t.Errorf("RolePolicyName%q == RolePolicyName%q", tr, prev)
		}
		seen[name] = tr
	}
	if got, want := RolePolicyName("app1", "dev", "photos"), "amplifybackendd-storage-photos-8a2f88c6acd6c8cf"; got != want {
		t.Errorf("RolePolicyName changed: %q, want %q (existing role policies would be orphaned)", got, want)
	}
}

func TestTrustPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		auth bool
		pool string
		want string
	}{
		{true, "us-east-1:1234", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":["sts:AssumeRoleWithWebIdentity"],"Condition":{"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":["authenticated"]},"StringEquals":{"cognito-identity.amazonaws.com:aud":["us-east-1:1234"]}}}]}`},
		{false, "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":["sts:AssumeRoleWithWebIdentity"],"Condition":{"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":["unauthenticated"]}}}]}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(TrustPolicy(tt.auth, tt.pool))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("TrustPolicy(%v, %q)\n got %s\nwant %s", tt.auth, tt.pool, got, tt.want)
		}
	}
}

func TestStringsJSON(t *testing.T) {
	t.Parallel()
	if b, _ := json.Marshal(Statement{Effect: "Allow"}); string(b) != `{"Effect":"Allow","Action":[]}` {
		t.Errorf("empty statement marshals as %s", b)
	}
	tests := []struct {
		in   string
		want Strings
	}{
		{`"s3:GetObject"`, Strings{"s3:GetObject"}},
		{`["a","b"]`, Strings{"a", "b"}},
		{`[]`, Strings{}},
		{`null`, nil},
		{`false`, Strings{"false"}},
		{`[1, 2.50, true]`, Strings{"1", "2.50", "true"}},
	}
	for _, tt := range tests {
		var got Strings
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Errorf("Unmarshal(%s): %v", tt.in, err)
			continue
		}
		if (got == nil) != (tt.want == nil) || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("Unmarshal(%s) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{`{"a":1}`, `[["a"]]`, `[{}]`} {
		var got Strings
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", bad, got)
		}
	}

	// A foreign statement with single-string lists reads into the model.
	var st Statement
	doc := `{"Sid":"X","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"r","Condition":{"Bool":{"aws:SecureTransport":true}}}`
	if err := json.Unmarshal([]byte(doc), &st); err != nil {
		t.Fatal(err)
	}
	if st.Action[0] != "s3:GetObject" || st.Resource[0] != "r" || st.Condition["Bool"]["aws:SecureTransport"][0] != "true" || st.Principal != "*" {
		t.Errorf("Unmarshal statement = %+v", st)
	}
}
