package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// The S3 actions the translation uses, named once so the table in doc.go and
// the code cannot drift apart on spelling.
const (
	actionPut    = "s3:PutObject"
	actionGet    = "s3:GetObject"
	actionDelete = "s3:DeleteObject"
	actionList   = "s3:ListBucket"
)

// sub is the Cognito identity id policy variable. IAM expands it per request,
// which is what confines each user to protected/<id>/ and private/<id>/.
const sub = "${cognito-identity.amazonaws.com:sub}"

// Sid suffixes. Role statements and bucket statements use different suffixes
// so that a Sid names exactly one statement wherever it is found.
const (
	sidPublic        = "Public"
	sidProtected     = "Protected"
	sidPrivate       = "Private"
	sidUploads       = "Uploads"
	sidReadProtected = "ReadProtected"
	sidList          = "List"
	sidGuest         = "Guest"
)

// Input is what one storage resource asks for. It carries domain values only
// (bucket, permissions, a Sid prefix), so the jobs package can build it from a
// stored resource without this package knowing about the store.
type Input struct {
	// Bucket is the bucket name, already validated by the caller.
	Bucket string
	// SidPrefix marks our statements; use SidPrefix(appID, env, resourceName).
	SidPrefix string
	// Authenticated may be empty and may hold duplicates; it is read as a set.
	Authenticated []Permission
	// Unauthenticated may be nil and may hold duplicates; it is read as a set.
	Unauthenticated []Permission
	// PublicGuestAccess also writes the guest statements to the bucket policy
	// with Principal "*", for targets where anonymous requests never pass
	// through the unauthenticated role (the embedded gateway, MinIO).
	PublicGuestAccess bool
}

// Documents is everything one resource contributes to the target. A nil role
// document means the resource grants nothing to that role, and the caller
// removes the resource's inline policy from it instead of writing an empty one
// (IAM rejects a policy with no statements).
type Documents struct {
	// AuthRole is the inline policy for the authenticated role.
	AuthRole *Document
	// UnauthRole is the inline policy for the unauthenticated role.
	UnauthRole *Document
	// Bucket holds our statements for the bucket policy, to be merged with
	// foreign ones by MergeBucketPolicy. Empty unless PublicGuestAccess is set
	// and guests have a permission.
	Bucket []Statement
}

// Translate builds the documents for in following Amplify Gen1 (see the table
// in the package documentation). It is pure and deterministic: the same input,
// in any element order and with any duplicates, yields byte-identical JSON, so
// callers can compare documents to detect drift. Unknown permission elements
// are ignored; validate them with Permission.Valid before storing them.
func Translate(in Input) Documents {
	var d Documents
	arn := "arn:aws:s3:::" + in.Bucket

	if auth := setOf(in.Authenticated); !auth.empty() {
		d.AuthRole = &Document{Version: Version, Statement: authStatements(arn, in.SidPrefix, auth)}
	}
	if guest := setOf(in.Unauthenticated); !guest.empty() {
		d.UnauthRole = &Document{Version: Version, Statement: guestStatements(arn, in.SidPrefix, guest)}
		if in.PublicGuestAccess {
			// Built afresh rather than copied from UnauthRole so that the two
			// results share no slices a caller could mutate through the other.
			d.Bucket = guestStatements(arn, in.SidPrefix+sidGuest, guest)
			for i := range d.Bucket {
				d.Bucket[i].Principal = "*"
			}
		}
	}
	return d
}

// authStatements is the authenticated half of the table: every signed-in user
// works on public/, their own protected/<id>/ and private/<id>/, may read
// everybody's protected/ and list what they may read.
func authStatements(arn, prefix string, s permissionSet) []Statement {
	actions := s.objectActions()
	st := []Statement{
		allow(prefix+sidPublic, actions, arn+"/public/*"),
		allow(prefix+sidProtected, clone(actions), arn+"/protected/"+sub+"/*"),
		allow(prefix+sidPrivate, clone(actions), arn+"/private/"+sub+"/*"),
	}
	if s.write {
		st = append(st, allow(prefix+sidUploads, Strings{actionPut}, arn+"/uploads/*"))
	}
	if s.read {
		st = append(st,
			allow(prefix+sidReadProtected, Strings{actionGet}, arn+"/protected/*"),
			list(prefix+sidList, arn,
				"public/", "public/*", "protected/", "protected/*",
				"private/"+sub+"/", "private/"+sub+"/*"),
		)
	}
	return st
}

// guestStatements is the unauthenticated half: guests have no identity of
// their own to scope protected/ or private/ by, so they only ever get public/,
// uploads/ and read access to protected/. They are never granted a write on
// protected/ or private/.
func guestStatements(arn, prefix string, s permissionSet) []Statement {
	st := []Statement{allow(prefix+sidPublic, s.objectActions(), arn+"/public/*")}
	if s.write {
		st = append(st, allow(prefix+sidUploads, Strings{actionPut}, arn+"/uploads/*"))
	}
	if s.read {
		st = append(st,
			allow(prefix+sidReadProtected, Strings{actionGet}, arn+"/protected/*"),
			list(prefix+sidList, arn, "public/", "public/*", "protected/", "protected/*"),
		)
	}
	return st
}

func allow(sid string, actions Strings, resource string) Statement {
	return Statement{Sid: sid, Effect: "Allow", Action: actions, Resource: Strings{resource}}
}

// list grants ListBucket on the bucket itself (ListBucket is a bucket action,
// not an object action) limited to the prefixes the reader may see.
func list(sid, bucketARN string, prefixes ...string) Statement {
	st := allow(sid, Strings{actionList}, bucketARN)
	st.Condition = Conditions{"StringLike": {"s3:prefix": Strings(prefixes)}}
	return st
}

func clone(s Strings) Strings { return append(Strings(nil), s...) }

// sidPrefixLead starts every Sid prefix. Sids allow only [A-Za-z0-9], so it
// doubles as a human-readable marker of who wrote the statement.
const sidPrefixLead = "Amplifybackendd"

// SidPrefix names one storage resource inside a bucket policy. Statements
// whose Sid starts with it are ours to replace; all others are left alone.
//
// It is "Amplifybackendd" followed by 16 lowercase hex digits of a SHA-256
// over (appID, env, resourceName). The hash keeps it alphanumeric whatever the
// names contain, and its fixed length together with the capitalised suffixes
// ("Public", "GuestList", ...) means no resource's prefix is a prefix of
// another resource's Sids. Each part is hashed with its length in front, so
// distinct triples never hash the same input (("a","bc","d") vs ("ab","c","d"),
// or names that contain NUL). The value is stored in live bucket policies:
// never change the scheme without a migration.
func SidPrefix(appID, env, resourceName string) string {
	return sidPrefixLead + resourceHash(appID, env, resourceName)
}

// resourceHash is the shared 16-hex-digit identity of a resource, used by both
// SidPrefix and RolePolicyName so the two can be correlated by eye.
func resourceHash(parts ...string) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, p := range parts {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

const (
	rolePolicyLead    = "amplifybackendd-storage-"
	rolePolicyNameMax = 64 // bytes of the resource name kept in the policy name
)

// RolePolicyName names the inline policy one resource puts on a role. Several
// resources (and several apps or environments, when roles are shared) write to
// the same role, so the name must be unique per resource: it ends in the same
// hash as SidPrefix. It also carries the resource name, with every character
// IAM does not allow ([\w+=,.@-] only) replaced by '-' and cut to 64 bytes,
// so an operator listing the role's policies can tell them apart. The result
// is at most 105 characters, under IAM's 128.
func RolePolicyName(appID, env, resourceName string) string {
	var b strings.Builder
	b.WriteString(rolePolicyLead)
	n := 0
	for _, r := range resourceName {
		if n == rolePolicyNameMax {
			break
		}
		if !policyNameRune(r) {
			r = '-'
		}
		b.WriteRune(r)
		n++
	}
	if n > 0 {
		b.WriteByte('-')
	}
	b.WriteString(resourceHash(appID, env, resourceName))
	return b.String()
}

func policyNameRune(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("_+=,.@-", r)
}
