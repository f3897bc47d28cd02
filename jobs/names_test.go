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
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), rule) || !strings.Contains(err.Error(), "bucketName") {
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

func TestRoleName(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	if got := RoleName(DefaultAuthRoleTemplate, "app1", "dev"); got != "amplify-app1-dev-authRole" {
		t.Fatalf("plain: %q", got)
	}
	a := RoleName(DefaultAuthRoleTemplate, "app/1", "dev")
	b := RoleName(DefaultAuthRoleTemplate, "app 1", "dev")
	if a == b || !valid.MatchString(a) || !valid.MatchString(b) {
		t.Fatalf("sanitised names collide or are invalid: %q %q", a, b)
	}
	long1 := RoleName(DefaultUnauthRoleTemplate, strings.Repeat("a", 80), "dev")
	long2 := RoleName(DefaultUnauthRoleTemplate, strings.Repeat("a", 80), "prod")
	if long1 == long2 || !valid.MatchString(long1) || !valid.MatchString(long2) {
		t.Fatalf("long names: %q %q", long1, long2)
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
	if _, err := NormalizePermissions("resourceConfig.permissions.authenticated", []string{"read"}); !errors.Is(err, store.ErrInvalid) ||
		!strings.Contains(err.Error(), "resourceConfig.permissions.authenticated") {
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
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "bucketName") {
				t.Fatalf("%q: error %v does not name the field", name, err)
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
