package jobs

import (
	"crypto/sha256"
	"encoding/hex"
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

// Tag keys this service writes on buckets it creates. OwnerTag holds the
// resource's Sid prefix: it is what marks a bucket as ours, so no step ever
// deletes or reconfigures a bucket that lacks it.
const (
	OwnerTag    = "amplifybackendd:owner"
	AppTag      = "amplifybackendd:app"
	EnvTag      = "amplifybackendd:env"
	ResourceTag = "amplifybackendd:resource"
)

// RoleName expands a role template for an app and environment. IAM role names
// allow [\w+=,.@-] and 64 characters, while app ids and environment names are
// free text; anything else is replaced and an over-long name keeps a hash so
// two environments never share a role by truncation.
func RoleName(template, appID, env string) string {
	name := strings.NewReplacer("{appId}", appID, "{env}", env).Replace(template)
	var b strings.Builder
	for _, r := range name {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+=,.@-", r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 64 || out != name {
		sum := sha256.Sum256([]byte(name))
		h := hex.EncodeToString(sum[:])[:8]
		if len(out) > 55 {
			out = out[:55]
		}
		out = out + "-" + h
	}
	return out
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
		OwnerTag:    policy.SidPrefix(k.AppID, k.Env, k.Name),
		AppTag:      tagValue(k.AppID),
		EnvTag:      tagValue(k.Env),
		ResourceTag: tagValue(k.Name),
	}
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
