package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var (
	full       = []Permission{Read, CreateAndUpdate, Delete}
	envPrefix  = EnvSidPrefix("app1", "dev")
	goldenEnvs = []struct {
		name string
		rs   []EnvResource
	}{
		{"one-full", []EnvResource{{Bucket: "app1-photos-dev", Authenticated: full, Unauthenticated: []Permission{Read}}}},
		{"two-full", []EnvResource{
			{Bucket: "app1-photos-dev", Authenticated: full, Unauthenticated: full},
			{Bucket: "app1-docs-dev", Authenticated: full, Unauthenticated: full},
		}},
		{"fifty-full", fiftyFull()},
		{"mixed", []EnvResource{
			{Bucket: "app1-a-dev", Authenticated: []Permission{Read}},
			{Bucket: "app1-b-dev", Authenticated: []Permission{CreateAndUpdate, Delete}, Unauthenticated: []Permission{Read}},
			{Bucket: "app1-c-dev", Authenticated: full, Unauthenticated: []Permission{CreateAndUpdate}},
			{Bucket: "app1-d-dev", Authenticated: []Permission{Read}, Unauthenticated: []Permission{Read}},
			// Two resources on one (imported) bucket: the union of both.
			{Bucket: "app1-shared", Authenticated: []Permission{Read}},
			{Bucket: "app1-shared", Authenticated: []Permission{Delete}, Unauthenticated: []Permission{Read}},
			{Bucket: "app1-nothing"},
		}},
	}
)

// fiftyFull is 50 full-permission resources with bucket names as long as
// DeriveBucketName makes for short app, environment and resource names.
func fiftyFull() []EnvResource {
	rs := make([]EnvResource, 50)
	for i := range rs {
		rs[i] = EnvResource{Bucket: fmt.Sprintf("photos%02d-app1-dev-%08x", i, i*7919), Authenticated: full, Unauthenticated: full}
	}
	return rs
}

type envGolden struct {
	Resources  []EnvResource `json:"resources"`
	AuthRole   *Document     `json:"authRole"`
	UnauthRole *Document     `json:"unauthRole"`
	// Chars are the sizes IAM counts (no white space), for the README's
	// ceiling.
	AuthChars   int `json:"authChars"`
	UnauthChars int `json:"unauthChars"`
}

func TestEnvDocumentsGolden(t *testing.T) {
	t.Parallel()
	for _, c := range goldenEnvs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			auth, unauth := EnvDocuments(envPrefix, c.rs)
			checkGolden(t, filepath.Join("testdata", "env", c.name+".json"),
				envGolden{Resources: c.rs, AuthRole: auth, UnauthRole: unauth, AuthChars: size(t, auth), UnauthChars: size(t, unauth)})
		})
	}
}

// TestPackGolden shows how the 50-resource environment's authenticated
// role document is laid out over an inline policy (10,240 characters) and
// managed policies (6,144 each).
func TestPackGolden(t *testing.T) {
	t.Parallel()
	auth, _ := EnvDocuments(envPrefix, fiftyFull())
	docs, ok := Pack(auth, []int{10240, 6144, 6144, 6144, 6144, 6144, 6144, 6144, 6144, 6144, 6144})
	if !ok {
		t.Fatal("no fit")
	}
	type packed struct {
		Chars    int       `json:"chars"`
		Document *Document `json:"document"`
	}
	var got []packed
	for _, d := range docs {
		if d != nil {
			got = append(got, packed{size(t, d), d})
		}
	}
	checkGolden(t, filepath.Join("testdata", "env", "fifty-full-auth-packed.json"), got)
}

func size(t *testing.T, d *Document) int {
	t.Helper()
	if d == nil {
		return 0
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// grant is one (action, resource, condition) an allow statement gives; two
// sets of documents grant the same when their grants are equal.
type grant struct{ action, resource, condition string }

func grants(t *testing.T, docs ...*Document) []grant {
	t.Helper()
	var out []grant
	for _, d := range docs {
		if d == nil {
			continue
		}
		for _, st := range d.Statement {
			cond, err := json.Marshal(st.Condition)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range st.Action {
				for _, r := range st.Resource {
					out = append(out, grant{a, r, string(cond)})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b grant) int {
		return cmpStrings(a.action+"\x00"+a.resource+"\x00"+a.condition, b.action+"\x00"+b.resource+"\x00"+b.condition)
	})
	return slices.Compact(out)
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestEnvDocumentsGrantWhatTranslateGrants is what makes the merge safe:
// for every combination of two buckets' permissions (and a bucket shared by
// two resources), the merged documents grant exactly the union of what each
// resource's own Translate documents grant, no more and no less.
func TestEnvDocumentsGrantWhatTranslateGrants(t *testing.T) {
	t.Parallel()
	for _, a := range subsets() {
		for _, b := range subsets() {
			for _, shared := range []bool{false, true} {
				rs := []EnvResource{
					{Bucket: "bucket-a", Authenticated: a, Unauthenticated: b},
					{Bucket: "bucket-b", Authenticated: b, Unauthenticated: a},
					{Bucket: "bucket-c", Authenticated: full, Unauthenticated: a},
				}
				if shared {
					rs[1].Bucket = "bucket-a"
				}
				var wantAuth, wantGuest []*Document
				for _, r := range rs {
					d := Translate(Input{Bucket: r.Bucket, SidPrefix: "X", Authenticated: r.Authenticated, Unauthenticated: r.Unauthenticated})
					wantAuth, wantGuest = append(wantAuth, d.AuthRole), append(wantGuest, d.UnauthRole)
				}
				auth, unauth := EnvDocuments(envPrefix, rs)
				name := fmt.Sprintf("%s/%s shared=%v", subsetName(a), subsetName(b), shared)
				if g, w := grants(t, auth), grants(t, wantAuth...); !slices.Equal(g, w) {
					t.Errorf("%s: auth role grants\n%v\nwant\n%v", name, g, w)
				}
				if g, w := grants(t, unauth), grants(t, wantGuest...); !slices.Equal(g, w) {
					t.Errorf("%s: unauth role grants\n%v\nwant\n%v", name, g, w)
				}
				for _, d := range []*Document{auth, unauth} {
					if d != nil {
						checkStatements(t, name, d.Statement, envPrefix, false)
					}
				}
			}
		}
	}
}

func TestEnvDocumentsIgnoreOrder(t *testing.T) {
	t.Parallel()
	rs := goldenEnvs[3].rs
	rev := slices.Clone(rs)
	slices.Reverse(rev)
	a1, u1 := EnvDocuments(envPrefix, rs)
	a2, u2 := EnvDocuments(envPrefix, rev)
	for i, pair := range [][2]*Document{{a1, a2}, {u1, u2}} {
		x, _ := json.Marshal(pair[0])
		y, _ := json.Marshal(pair[1])
		if string(x) != string(y) {
			t.Errorf("document %d depends on the order of resources:\n%s\n%s", i, x, y)
		}
	}
}

func TestEnvDocumentsOfNothing(t *testing.T) {
	t.Parallel()
	if a, u := EnvDocuments(envPrefix, []EnvResource{{Bucket: "b"}}); a != nil || u != nil {
		t.Errorf("a resource granting nothing gave documents %v, %v", a, u)
	}
}

func TestEnvRolePolicyNameIsNoResourcePolicyName(t *testing.T) {
	t.Parallel()
	n := EnvRolePolicyName("app1", "dev")
	for _, r := range []string{"", "env", "env-storage", "x"} {
		if RolePolicyName("app1", "dev", r) == n {
			t.Errorf("RolePolicyName of resource %q equals the environment's policy name %q", r, n)
		}
	}
	if len(n) > 128 || !sidRE.MatchString(EnvSidPrefix("app1", "dev")) {
		t.Errorf("name %q or Sid prefix %q is not valid for IAM", n, EnvSidPrefix("app1", "dev"))
	}
}

// TestREADMEEnvironmentCeiling computes the README's figures of "How many
// resources an environment holds" from the documents EnvDocuments writes
// and the way Pack lays them out, and finds them in the README: what one
// full-permission resource costs the authenticated role, and how many such
// resources an untouched role holds with and without managed policies.
func TestREADMEEnvironmentCeiling(t *testing.T) {
	t.Parallel()
	// IAM's quotas, as jobs applies them: the inline policies of a role,
	// one customer managed policy, and managed policies per role.
	const inline, managed, perRole = 10240, 6144, 10
	withManaged := []int{inline}
	for range perRole {
		withManaged = append(withManaged, managed)
	}
	prefix := EnvSidPrefix("myapp", "dev")
	resources := func(n, nameLen int) []EnvResource {
		rs := make([]EnvResource, n)
		for i := range rs {
			name := fmt.Sprintf("b%04d", i)
			rs[i] = EnvResource{Bucket: name + strings.Repeat("x", nameLen-len(name)), Authenticated: full, Unauthenticated: full}
		}
		return rs
	}
	// What one more resource adds, less six times its bucket name, is the
	// same whatever the name's length.
	var cost int
	for _, l := range []int{15, 63} {
		a1, _ := EnvDocuments(prefix, resources(10, l))
		a2, _ := EnvDocuments(prefix, resources(11, l))
		c := size(t, a2) - size(t, a1) - 6*l
		if cost != 0 && c != cost {
			t.Fatalf("a resource costs %d + 6 × name with %d-character names, %d + 6 × name with 15", c, l, cost)
		}
		cost = c
	}
	fits := func(n, l int, limits []int) bool {
		auth, unauth := EnvDocuments(prefix, resources(n, l))
		_, okAuth := Pack(auth, limits)
		_, okUnauth := Pack(unauth, limits)
		return okAuth && okUnauth
	}
	ceiling := func(l int, limits []int) int {
		n := 0
		for fits(n+1, l, limits) {
			n++
		}
		return n
	}
	lengths := []int{15, 18, 20, 30, 63}
	var both, alone []any
	for _, l := range lengths {
		both = append(both, ceiling(l, withManaged))
		alone = append(alone, ceiling(l, []int{inline}))
	}
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(raw)), " ")
	for _, want := range []string{
		fmt.Sprintf("a full-permission resource costs the authenticated role %d characters plus six times its bucket name", cost),
		fmt.Sprintf("**%d full-permission resources with 15-character bucket names, %d with 18, %d with 20, %d with 30, %d with 63**", both...),
		fmt.Sprintf("the inline policy alone holds %d, %d, %d, %d and %d ", alone...),
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("the README does not say %q", want)
		}
	}
}
