package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// Default role name templates, Amplify Gen1's naming.
const (
	DefaultAuthRoleTemplate   = "amplify-{appId}-{env}-authRole"
	DefaultUnauthRoleTemplate = "amplify-{appId}-{env}-unauthRole"
)

// Tag keys this service writes on buckets and roles it creates. On a bucket
// OwnerTag holds the resource's Sid prefix: it is what marks a bucket as
// ours, so no step ever deletes or reconfigures a bucket that lacks it. On
// a role it names the environment and kind (roleOwnerTag), and a role
// tagged for another is never written to; RoleTag says which kind.
const (
	OwnerTag    = "amplifybackendd:owner"
	AppTag      = "amplifybackendd:app"
	EnvTag      = "amplifybackendd:env"
	ResourceTag = "amplifybackendd:resource"
	RoleTag     = "amplifybackendd:role"
)

// The placeholders of a role template.
const (
	appIDPlaceholder = "{appId}"
	envPlaceholder   = "{env}"
)

// maxRoleName is IAM's limit on role names.
const maxRoleName = 64

// CheckRoleTemplate refuses a role template that cannot tell two
// environments apart: without both {appId} and {env}, every environment of
// an app (or every app) would write its grants into one role, and its users
// would hold each other's. The message names the rule; the caller names the
// setting.
func CheckRoleTemplate(template string) error {
	for _, p := range []string{appIDPlaceholder, envPlaceholder} {
		if !strings.Contains(template, p) {
			return fmt.Errorf("the role name template %q must contain %s and %s, or several environments would share one role", template, appIDPlaceholder, envPlaceholder)
		}
	}
	return nil
}

// RoleName is the role a template names for an environment whose role is
// decided now (an environment's role is recorded once and kept; see
// Runner.roleNames). IAM role names are case-insensitive, allow [\w+=,.@-]
// and 64 characters, while app ids and environment names are free text, so
// the readable expansion of the template is used only when no other
// (appID, env) can expand to the same name in any case; otherwise the name
// ends in a hash of the template and the exact pair.
func RoleName(template, appID, env string) string {
	if name, ok := readableRoleName(template, appID, env); ok {
		return name
	}
	return hashedRoleName(template, appID, env)
}

// readableRoleName is the plain expansion of template, when it is
// unambiguous: app id and environment are lowercase letters and digits
// (Amplify's own app ids and environment names are), the template has each
// placeholder once with a character other than a letter or digit between
// them, so where one part ends and the other begins can be read back, and
// the name fits, is valid as it stands and does not end the way hashed
// names do ("-" and eight hex digits). Two such names equal in any case are
// then the same expansion of the same pair.
func readableRoleName(template, appID, env string) (string, bool) {
	if !lowerAlnum(appID) || !lowerAlnum(env) || !placeholdersSeparated(template) {
		return "", false
	}
	name := expandRoleTemplate(template, appID, env)
	if len(name) > maxRoleName || sanitizeRoleName(name) != name || looksHashed(name) {
		return "", false
	}
	return name, true
}

// hashedRoleName is the template's expansion made valid (other characters
// become '_'), cut to leave room, and followed by "-" and 8 hex digits of a
// hash of template, app id and environment, exact and case-sensitive. The
// hash covers the template so that the auth and unauth names of a pair
// still differ when the cut removes what told them apart.
func hashedRoleName(template, appID, env string) string {
	out := sanitizeRoleName(expandRoleTemplate(template, appID, env))
	if max := maxRoleName - 9; len(out) > max {
		out = out[:max]
	}
	return out + "-" + partsHash(template, appID, env)[:8]
}

// LegacyRoleName is the name the first releases gave, kept because
// environments they provisioned keep their roles: the expanded template, or
// with a hash of it when it had to be changed or cut. It is ambiguous
// ("a-b"/"c" and "a"/"b-c" expand alike, as do "App" and "app" for IAM).
func LegacyRoleName(template, appID, env string) string {
	name := expandRoleTemplate(template, appID, env)
	out := sanitizeRoleName(name)
	if len(out) > maxRoleName || out != name {
		sum := sha256.Sum256([]byte(name))
		h := hex.EncodeToString(sum[:])[:8]
		if len(out) > 55 {
			out = out[:55]
		}
		out = out + "-" + h
	}
	return out
}

func expandRoleTemplate(template, appID, env string) string {
	return strings.NewReplacer(appIDPlaceholder, appID, envPlaceholder, env).Replace(template)
}

// sanitizeRoleName replaces every character IAM does not allow in a role
// name by '_'.
func sanitizeRoleName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 128 && (isASCIIAlnum(byte(r)) || strings.ContainsRune("_+=,.@-", r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func isASCIIAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func lowerAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return s != ""
}

// placeholdersSeparated reports whether template holds each placeholder
// exactly once with a character other than an ASCII letter or digit
// between them.
func placeholdersSeparated(template string) bool {
	a, e := strings.Index(template, appIDPlaceholder), strings.Index(template, envPlaceholder)
	if a < 0 || e < 0 || strings.Count(template, appIDPlaceholder) != 1 || strings.Count(template, envPlaceholder) != 1 {
		return false
	}
	var between string
	if a < e {
		between = template[a+len(appIDPlaceholder) : e]
	} else {
		between = template[e+len(envPlaceholder) : a]
	}
	return strings.IndexFunc(between, func(r rune) bool { return r >= 128 || !isASCIIAlnum(byte(r)) }) >= 0
}

// looksHashed reports whether name ends the way hashed names end, in any
// case: "-" and 8 hex digits.
func looksHashed(name string) bool {
	if len(name) < 9 || name[len(name)-9] != '-' {
		return false
	}
	for _, c := range []byte(name[len(name)-8:]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// partsHash is a hex SHA-256 over parts, each preceded by its length, so
// distinct lists never hash the same input.
func partsHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// identityPool returns the Cognito identity pool id the roles of k's app and
// environment trust. IAM (and Versity) refuse a Cognito trust policy that
// does not pin the pool (the aud claim), so without a configured pool a
// stable placeholder id is derived from app and environment; operators set
// --identity-pool-id (which may use {appId} and {env}) to their real pool.
func (r *Runner) identityPool(k store.ResourceKey) string {
	if r.cfg.IdentityPoolID != "" {
		return strings.NewReplacer("{appId}", k.AppID, "{env}", k.Env).Replace(r.cfg.IdentityPoolID)
	}
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("amplifybackendd:"+k.AppID+"\x00"+k.Env))
	return r.cfg.Region + ":" + id.String()
}

// bucketTags are the tags that name a created bucket's app, environment and
// resource. S3 tag values allow only letters, digits, white space and
// _.:/=+-@, so other characters become '_'; the owner tag is exact.
func bucketTags(k store.ResourceKey) map[string]string {
	return map[string]string{
		OwnerTag:    bucketOwnerTag(k),
		AppTag:      tagValue(k.AppID),
		EnvTag:      tagValue(k.Env),
		ResourceTag: tagValue(k.Name),
	}
}

// bucketOwnerTag is the OwnerTag value of a bucket this service creates
// for the resource k: what tells a bucket of k's from one another
// resource's create left behind.
func bucketOwnerTag(k store.ResourceKey) string {
	return policy.SidPrefix(k.AppID, k.Env, k.Name)
}

func tagValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_.:/=+-@ ", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 256 {
		out = out[:256]
	}
	return out
}
