package jobs

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// ValidateBucketName applies the S3 general-purpose bucket naming rules and
// returns a *BucketNameError naming the broken rule. It runs at the API edge
// so a bad name is refused before anything is written.
func ValidateBucketName(name string) error {
	bad := func(rule string) error { return &BucketNameError{Name: name, Rule: rule} }
	if len(name) < 3 || len(name) > 63 {
		return bad("must be between 3 and 63 characters long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return bad("may contain only lowercase letters, digits, hyphens (-) and periods (.)")
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return bad("must begin and end with a lowercase letter or a digit")
	}
	if strings.Contains(name, "..") {
		return bad("must not contain two adjacent periods")
	}
	if looksLikeIPv4(name) {
		return bad("must not be formatted as an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return bad("must not start with the reserved prefix " + p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return bad("must not end with the reserved suffix " + s)
		}
	}
	return nil
}

// looksLikeIPv4 is S3's "formatted as an IP address": four dot-separated
// groups of digits, whatever their values ("0.00.0.0" and "999.1.1.1" count).
func looksLikeIPv4(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// DeriveBucketName makes a bucket name for a create that named none, in the
// spirit of Amplify's generated names: readable parts of the resource, app and
// environment plus a random suffix so that re-creating a deleted resource
// (whose bucket is retained) never collides with the old bucket.
func DeriveBucketName(appID, env, resource string) string {
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	tail := "-" + hex.EncodeToString(suffix[:])
	parts := []string{}
	for _, p := range []string{resource, appID, env} {
		if s := bucketPart(p); s != "" {
			parts = append(parts, s)
		}
	}
	base := strings.Join(parts, "-")
	if base == "" {
		base = "storage"
	}
	if max := 63 - len(tail); len(base) > max {
		base = strings.TrimRight(base[:max], "-")
	}
	name := base + tail
	if ValidateBucketName(name) != nil {
		// Only reachable through reserved prefixes; the suffix keeps it unique.
		name = "storage" + tail
	}
	return name
}

// bucketPart lowercases s and keeps only characters that are safe anywhere in
// a bucket name, collapsing runs of anything else into one hyphen.
func bucketPart(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if len(out) > 20 {
		out = strings.TrimRight(out[:20], "-")
	}
	return out
}
