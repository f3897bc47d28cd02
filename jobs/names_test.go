package jobs

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/store"
)

func TestValidateBucketName(t *testing.T) {
	t.Parallel()
	good := []string{"abc", "my-bucket.photos", "a1b2c3", strings.Repeat("a", 63), "1bucket"}
	for _, n := range good {
		if err := ValidateBucketName(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
	}
	bad := map[string]string{
		"ab":                    "between 3 and 63",
		strings.Repeat("a", 64): "between 3 and 63",
		"My-Bucket":             "lowercase",
		"bucket_name":           "lowercase",
		"-bucket":               "begin and end",
		"bucket.":               "begin and end",
		"a..b":                  "adjacent periods",
		"192.168.5.4":           "IP address",
		"xn--bucket":            "xn--",
		"sthree-bucket":         "sthree-",
		"bucket-s3alias":        "-s3alias",
		"bucket--ol-s3":         "--ol-s3",
		"bucket.mrap":           ".mrap",
		"bücket":                "lowercase",
		"bucket name":           "lowercase",
	}
	for n, rule := range bad {
		err := ValidateBucketName(n)
		var bad *BucketNameError
		if !errors.Is(err, store.ErrInvalid) || !errors.As(err, &bad) || bad.Name != n || !strings.Contains(bad.Rule, rule) {
			t.Errorf("%q: %v (want a rule mentioning %q)", n, err, rule)
		}
	}
}

func TestDeriveBucketNameIsValidAndUnique(t *testing.T) {
	t.Parallel()
	inputs := [][3]string{{"app", "dev", "photos"}, {"APP/ü 1", "Prod!!", "My Photos"}, {"", "", ""},
		{strings.Repeat("x", 300), strings.Repeat("y", 300), strings.Repeat("z", 300)}, {"xn--a", "b", "c"}, {"1.2.3.4", "5", "6"}}
	seen := map[string]bool{}
	for _, in := range inputs {
		for i := 0; i < 3; i++ {
			n := DeriveBucketName(in[0], in[1], in[2])
			if err := ValidateBucketName(n); err != nil {
				t.Fatalf("derived %q from %q: %v", n, in, err)
			}
			if seen[n] {
				t.Fatalf("derived %q twice", n)
			}
			seen[n] = true
		}
	}
	if n := DeriveBucketName("app1", "dev", "photos"); !strings.HasPrefix(n, "photos-app1-dev-") {
		t.Fatalf("derived name %q does not read as resource-app-env", n)
	}
}

// validRoleName is IAM's rule for role names.
var validRoleName = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

func TestRoleName(t *testing.T) {
	t.Parallel()
	if got := RoleName(DefaultAuthRoleTemplate, "app1", "dev"); got != "amplify-app1-dev-authRole" {
		t.Fatalf("plain: %q", got)
	}
	if got := RoleName("{env}.{appId}", "d1x2", "prod"); got != "prod.d1x2" {
		t.Fatalf("plain, custom template: %q", got)
	}
	a := RoleName(DefaultAuthRoleTemplate, "app/1", "dev")
	b := RoleName(DefaultAuthRoleTemplate, "app 1", "dev")
	if a == b || !validRoleName.MatchString(a) || !validRoleName.MatchString(b) {
		t.Fatalf("sanitised names collide or are invalid: %q %q", a, b)
	}
	long1 := RoleName(DefaultUnauthRoleTemplate, strings.Repeat("a", 80), "dev")
	long2 := RoleName(DefaultUnauthRoleTemplate, strings.Repeat("a", 80), "prod")
	if long1 == long2 || !validRoleName.MatchString(long1) || !validRoleName.MatchString(long2) {
		t.Fatalf("long names: %q %q", long1, long2)
	}
}

// TestRoleNameTellsEnvironmentsApart: pairs that expand a template alike,
// or alike but for case (IAM role names are case-insensitive), get names
// that differ in any case, for both roles of each; names that had to
// change keep a readable start.
func TestRoleNameTellsEnvironmentsApart(t *testing.T) {
	t.Parallel()
	pairs := [][2][2]string{
		{{"a-b", "c"}, {"a", "b-c"}},
		{{"App", "dev"}, {"app", "dev"}},
		{{"app", "Dev"}, {"app", "dev"}},
		{{"app/1", "dev"}, {"app_1", "dev"}},
		{{"app", "dev-authRole"}, {"app-dev", "authRole"}},
		{{strings.Repeat("a", 60) + "x", "dev"}, {strings.Repeat("a", 60) + "y", "dev"}},
		{{strings.Repeat("a", 80), "dev"}, {strings.Repeat("A", 80), "dev"}},
	}
	templates := []string{DefaultAuthRoleTemplate, DefaultUnauthRoleTemplate, "{appId}{env}", "{env}x{appId}", "r.{appId}-{env}"}
	for _, p := range pairs {
		for _, t1 := range templates {
			for _, t2 := range templates {
				n1, n2 := RoleName(t1, p[0][0], p[0][1]), RoleName(t2, p[1][0], p[1][1])
				if strings.EqualFold(n1, n2) {
					t.Errorf("%q under %q and %q under %q both name role %q / %q", p[0], t1, p[1], t2, n1, n2)
				}
			}
			for _, pair := range p {
				if n := RoleName(t1, pair[0], pair[1]); !validRoleName.MatchString(n) {
					t.Errorf("%q under %q: invalid role name %q", pair, t1, n)
				}
			}
		}
	}
	if got := RoleName(DefaultAuthRoleTemplate, "a-b", "c"); !strings.HasPrefix(got, "amplify-a-b-c-authRole-") {
		t.Errorf("hashed names keep the template's reading: %q", got)
	}
	// A readable name never ends as hashed names do, so it cannot be one.
	if got := RoleName("r.{appId}-{env}", "x", "deadbeef"); got == "r.x-deadbeef" {
		t.Errorf("a name that looks hashed was kept readable: %q", got)
	}
}

// TestRoleNamesOfSmallNamesAreDistinct checks every app id and environment
// name of up to two characters from an alphabet with case, separators and
// characters IAM refuses: no two pairs get names equal in any case, for
// each template and across the auth and unauth templates.
func TestRoleNamesOfSmallNamesAreDistinct(t *testing.T) {
	t.Parallel()
	alphabet := []string{"a", "A", "b", "1", "-", "_", "/", "."}
	parts := []string{}
	for _, x := range alphabet {
		parts = append(parts, x)
		for _, y := range alphabet {
			parts = append(parts, x+y)
		}
	}
	for _, templates := range [][2]string{
		{DefaultAuthRoleTemplate, DefaultUnauthRoleTemplate},
		{"{appId}-{env}", "{appId}-{env}-g"},
		{"{appId}{env}", "g{env}{appId}"},
	} {
		seen := map[string][3]string{}
		for _, tmpl := range templates {
			for _, app := range parts {
				for _, env := range parts {
					n := RoleName(tmpl, app, env)
					key := strings.ToLower(n)
					if prev, ok := seen[key]; ok {
						t.Fatalf("%q and %q (%s) both name role %q", [3]string{app, env, tmpl}, prev, key, n)
					}
					seen[key] = [3]string{app, env, tmpl}
				}
			}
		}
	}
}

// FuzzRoleNamesDiffer: distinct (app id, environment) pairs never get role
// names equal under strings.EqualFold, and every name is a valid role name.
func FuzzRoleNamesDiffer(f *testing.F) {
	f.Add("a-b", "c", "a", "b-c", uint8(0))
	f.Add("App", "dev", "app", "dev", uint8(1))
	f.Add("x", "deadbeef", "x", "Deadbeef", uint8(2))
	templates := []string{DefaultAuthRoleTemplate, DefaultUnauthRoleTemplate, "{appId}{env}", "r.{appId}-{env}", "{env}/{appId}"}
	f.Fuzz(func(t *testing.T, app1, env1, app2, env2 string, tmpl uint8) {
		tp := templates[int(tmpl)%len(templates)]
		n1, n2 := RoleName(tp, app1, env1), RoleName(tp, app2, env2)
		if !validRoleName.MatchString(n1) || !validRoleName.MatchString(n2) {
			t.Fatalf("invalid role names %q %q", n1, n2)
		}
		if (app1 != app2 || env1 != env2) && strings.EqualFold(n1, n2) {
			t.Fatalf("(%q, %q) and (%q, %q) both name role %q / %q under %q", app1, env1, app2, env2, n1, n2, tp)
		}
	})
}

// TestLegacyRoleName pins the names the releases before recorded role names
// gave (the values that release computes): environments it provisioned
// keep them.
func TestLegacyRoleName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ template, app, env, want string }{
		{DefaultAuthRoleTemplate, "app1", "dev", "amplify-app1-dev-authRole"},
		{DefaultUnauthRoleTemplate, "a-b", "c", "amplify-a-b-c-unauthRole"},
		{DefaultAuthRoleTemplate, "a", "b-c", "amplify-a-b-c-authRole"},
		{DefaultAuthRoleTemplate, "App", "dev", "amplify-App-dev-authRole"},
		{DefaultAuthRoleTemplate, "app/1", "dev", "amplify-app_1-dev-authRole-820ad7e2"},
		{DefaultUnauthRoleTemplate, strings.Repeat("a", 80), "dev", "amplify-" + strings.Repeat("a", 47) + "-2271fb4a"},
	} {
		if got := LegacyRoleName(c.template, c.app, c.env); got != c.want {
			t.Errorf("LegacyRoleName(%q, %q, %q) = %q, want %q", c.template, c.app, c.env, got, c.want)
		}
	}
}

func TestCheckRoleTemplate(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{DefaultAuthRoleTemplate, "{env}{appId}", "x-{appId}-{env}-{appId}"} {
		if err := CheckRoleTemplate(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "amplify-{appId}-authRole", "amplify-{env}-authRole", "fixed-role", "{appid}-{env}"} {
		if err := CheckRoleTemplate(bad); err == nil || !strings.Contains(err.Error(), "{appId} and {env}") {
			t.Errorf("%q: %v, want a refusal naming the placeholders", bad, err)
		}
	}
}

func TestNormalizePermissions(t *testing.T) {
	t.Parallel()
	got, err := NormalizePermissions("f", []string{"READ", "DELETE", "READ", "CREATE_AND_UPDATE"})
	if err != nil || strings.Join(got, ",") != "CREATE_AND_UPDATE,DELETE,READ" {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := NormalizePermissions("f", nil); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	_, err = NormalizePermissions("resourceConfig.permissions.authenticated", []string{"READ", "read"})
	var bad *PermissionError
	if !errors.Is(err, store.ErrInvalid) || !errors.As(err, &bad) || *bad != (PermissionError{Field: "resourceConfig.permissions.authenticated", Value: "read"}) {
		t.Fatalf("lowercase element: %v", err)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{Base: 100 * time.Millisecond, Max: time.Second}
	p.defaults()
	distinct := map[time.Duration]bool{}
	for n := 1; n < 70; n++ {
		d := p.backoff(n)
		if d <= 0 || d > p.Max {
			t.Fatalf("backoff(%d) = %v outside (0, %v]", n, d, p.Max)
		}
		if n == 1 && d > p.Base {
			t.Fatalf("first backoff %v above base", d)
		}
		distinct[d] = true
	}
	if len(distinct) < 10 {
		t.Fatalf("backoff is not jittered: %d distinct values", len(distinct))
	}
}

// FuzzValidateBucketName checks the validator against the rules restated
// independently: whatever it accepts is a valid S3 name, and it never panics.
func FuzzValidateBucketName(f *testing.F) {
	for _, s := range []string{"abc", "my-bucket.photos", "192.168.0.1", "xn--x", "a..b", "-a", "a-", "ab", strings.Repeat("a", 64), "Bucket", "b\x00b", "bücket", "x-s3alias"} {
		f.Add(s)
	}
	rule := regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	ip := regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateBucketName(name)
		if err != nil {
			var bad *BucketNameError
			if !errors.Is(err, store.ErrInvalid) || !errors.As(err, &bad) || bad.Name != name || bad.Rule == "" {
				t.Fatalf("%q: error %v does not name the name and the rule", name, err)
			}
			return
		}
		if !rule.MatchString(name) || strings.Contains(name, "..") || ip.MatchString(name) ||
			strings.HasPrefix(name, "xn--") || strings.HasSuffix(name, "-s3alias") || strings.HasSuffix(name, "--ol-s3") {
			t.Fatalf("accepted invalid bucket name %q", name)
		}
	})
}

// FuzzDeriveBucketName: every derived name passes the validator.
func FuzzDeriveBucketName(f *testing.F) {
	f.Add("app", "dev", "photos")
	f.Add("", "", "")
	f.Add("ÄÖÜ", "..", "--")
	f.Fuzz(func(t *testing.T, app, env, res string) {
		if n := DeriveBucketName(app, env, res); ValidateBucketName(n) != nil {
			t.Fatalf("derived invalid name %q from %q %q %q", n, app, env, res)
		}
	})
}
