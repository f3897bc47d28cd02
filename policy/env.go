package policy

import (
	"slices"
	"strconv"
	"strings"
)

// EnvResource is one storage resource's share of its environment's role
// policies: its bucket and what it grants. Resources are read as sets, like
// Input's permissions.
type EnvResource struct {
	Bucket          string
	Authenticated   []Permission
	Unauthenticated []Permission
}

// EnvDocuments merges the grants of every storage resource of one
// environment into a single document per role, the one inline policy each
// role carries (named by EnvRolePolicyName). A nil document means the role
// is granted nothing.
//
// One policy per resource repeats the whole statement skeleton (Sid, Effect,
// Action, the List condition) for every bucket, which spent IAM's 10,240
// characters of inline policies per role after about eight full-permission
// resources. Here statements with the same actions are written once and list
// the ARNs of every bucket that gets them, so a bucket costs only its ARNs.
//
// Grants are allows, so a bucket named by several resources gets the union
// of their permissions, exactly what their separate policies granted. The
// result is deterministic: buckets are sorted and statements come in the
// order of the first bucket that needs each, so equal inputs give
// byte-identical JSON whatever the order of rs.
func EnvDocuments(sidPrefix string, rs []EnvResource) (auth, unauth *Document) {
	type sets struct{ auth, guest permissionSet }
	byBucket := map[string]*sets{}
	for _, r := range rs {
		s := byBucket[r.Bucket]
		if s == nil {
			s = &sets{}
			byBucket[r.Bucket] = s
		}
		s.auth = s.auth.union(setOf(r.Authenticated))
		s.guest = s.guest.union(setOf(r.Unauthenticated))
	}
	buckets := make([]string, 0, len(byBucket))
	for b := range byBucket {
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	var authSt, guestSt merged
	for _, b := range buckets {
		arn := "arn:aws:s3:::" + b
		if s := byBucket[b].auth; !s.empty() {
			authSt.add(sidPrefix, s, authStatements(arn, "", s))
		}
		if s := byBucket[b].guest; !s.empty() {
			guestSt.add(sidPrefix, s, guestStatements(arn, "", s))
		}
	}
	return authSt.document(), guestSt.document()
}

// merged collects one role's statements across buckets, keyed by Sid.
type merged struct {
	order []string
	bySid map[string]*Statement
}

// add folds one bucket's statements (Sids as bare suffixes) into m. The
// public, protected and private statements carry the bucket's object
// actions, so they are merged by those actions into one "Objects"
// statement per action set; every other suffix has fixed actions (and
// condition) and is merged by its name.
func (m *merged) add(prefix string, s permissionSet, st []Statement) {
	if m.bySid == nil {
		m.bySid = map[string]*Statement{}
	}
	for _, x := range st {
		sid := x.Sid
		switch sid {
		case sidPublic, sidProtected, sidPrivate:
			sid = sidObjects + s.actionsName()
		}
		sid = prefix + sid
		if have, ok := m.bySid[sid]; ok {
			have.Resource = append(have.Resource, x.Resource...)
			continue
		}
		x.Sid = sid
		x.Resource = clone(x.Resource)
		m.bySid[sid] = &x
		m.order = append(m.order, sid)
	}
}

func (m *merged) document() *Document {
	if len(m.order) == 0 {
		return nil
	}
	d := &Document{Version: Version}
	for _, sid := range m.order {
		d.Statement = append(d.Statement, *m.bySid[sid])
	}
	return d
}

// sidObjects starts the Sid of a merged object statement; the action names
// follow ("ObjectsPutGetDelete"), so each action set has its own Sid.
const sidObjects = "Objects"

func (s permissionSet) union(o permissionSet) permissionSet {
	return permissionSet{read: s.read || o.read, write: s.write || o.write, delete: s.delete || o.delete}
}

// actionsName spells the object actions for a Sid: "s3:PutObject" → "Put".
func (s permissionSet) actionsName() string {
	var b strings.Builder
	for _, a := range s.objectActions() {
		b.WriteString(strings.TrimSuffix(strings.TrimPrefix(a, "s3:"), "Object"))
	}
	return b.String()
}

// EnvSidPrefix starts the Sids of an environment's merged role statements.
// Like SidPrefix it is "Amplifybackendd" and 16 hex digits, here of
// (appID, env), so a statement can be traced back to its environment.
func EnvSidPrefix(appID, env string) string {
	return sidPrefixLead + resourceHash(appID, env)
}

const envRolePolicyLead = "amplifybackendd-env-storage-"

// EnvRolePolicyName names the one inline policy that holds an environment's
// storage grants on each of its roles (see EnvDocuments). It ends in the
// hash of (appID, env), so it never equals a RolePolicyName (those start
// "amplifybackendd-storage-"), the per-resource policies of earlier
// releases that jobs remove when they write this one.
func EnvRolePolicyName(appID, env string) string {
	return envRolePolicyLead + resourceHash(appID, env)
}

// EnvManagedPolicyName names the n-th customer managed policy (n from 1)
// that holds what of an environment's grants to role (its kind, e.g.
// "authenticated") does not fit in its inline policy (see Pack). Managed
// policy names are the account's, not the role's, hence the kind in it.
func EnvManagedPolicyName(appID, env, role string, n int) string {
	return EnvRolePolicyName(appID, env) + "-" + role + "-" + strconv.Itoa(n)
}
