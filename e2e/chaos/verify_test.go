package chaos

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/faultproxy"
	"github.com/amplifybackendd/amplifybackendd/policy"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// verify checks, once no job is pending, what the package documentation
// lists: every accepted job finished, buckets were created once, the
// target holds what the store's resources imply, and each resource holds
// what its last completed change asked for.
func verify(t *testing.T, c *cluster, l *ledger) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var resources []store.Resource
	var roles []store.EnvRoles
	completedCreates := map[string]bool{}
	c.view(t, func(tx *store.Tx) error {
		for id, o := range l.accepted {
			j, err := tx.Job(id)
			switch {
			case err != nil:
				t.Errorf("job %s (%s of %v) was answered 200 and is not in the store: %v", id, o.kind, o.key, err)
			case j.Pending():
				t.Errorf("job %s (%s of %v) is still pending: %+v", id, o.kind, o.key, j)
			case j.Status == store.StatusCompleted && o.kind == store.OpCreate:
				completedCreates[o.bucket] = true
			}
		}
		var err error
		if resources, err = tx.Resources(app, ""); err != nil {
			return err
		}
		envs := map[string]bool{}
		for _, o := range l.accepted {
			envs[o.key.Env] = true
		}
		for env := range envs {
			if r, ok, err := tx.EnvRoles(app, env); err != nil {
				return err
			} else if ok {
				roles = append(roles, r)
			}
		}
		checkLastChange(t, tx, l)
		return nil
	})
	for _, r := range resources {
		if r.ActiveJob != "" || r.Phase != store.PhaseActive || r.Applied == nil || !r.Applied.Equal(r.Desired) {
			t.Errorf("resource %v is not settled: %+v", r.ResourceKey, r)
		}
	}
	checkCreateBucketOnce(t, c, completedCreates)
	checkRolePolicies(t, c, resources, roles)
	buckets := map[string]bool{}
	for b := range l.buckets {
		buckets[b] = true
	}
	for _, r := range resources {
		buckets[r.Bucket] = true
	}
	checkBucketPolicies(t, c, resources, buckets)
}

// checkLastChange compares each resource with the newest job of it the
// store completed, when a client was answered for that job: a create or
// import made it with the bucket and permissions asked for, an update gave
// it the permissions asked for, a delete removed it. Jobs that failed or
// were cancelled change nothing in the end, so the newest completed one
// decides.
func checkLastChange(t *testing.T, tx *store.Tx, l *ledger) {
	t.Helper()
	keys := map[store.ResourceKey]bool{}
	for _, o := range l.accepted {
		keys[o.key] = true
	}
	for k := range keys {
		last, _, err := tx.Jobs(k.AppID, k.Env, nil, 1, func(j store.Job) bool {
			return j.Resource == k.Name && j.Status == store.StatusCompleted
		})
		if err != nil {
			t.Fatal(err)
		}
		res, rerr := tx.VisibleResource(k)
		if len(last) == 0 {
			if rerr == nil {
				t.Errorf("%v exists, but no job of it completed: %+v", k, res)
			}
			continue
		}
		o, known := l.accepted[last[0].ID]
		if !known {
			continue // its acceptance was never answered: nothing to compare with
		}
		if o.kind == store.OpDelete {
			if rerr == nil {
				t.Errorf("%v exists after its last completed job %s deleted it: %+v", k, last[0].ID, res)
			}
			continue
		}
		if rerr != nil {
			t.Errorf("%v is gone after its last completed job %s (%s): %v", k, last[0].ID, o.kind, rerr)
			continue
		}
		if o.bucket != "" && res.Bucket != o.bucket {
			t.Errorf("%v has bucket %s, its last completed job %s asked for %s", k, res.Bucket, last[0].ID, o.bucket)
		}
		if res.Applied == nil || !res.Applied.Equal(o.perms) {
			t.Errorf("%v grants %+v, its last completed job %s (%s) asked for %+v", k, res.Applied, last[0].ID, o.kind, o.perms)
		}
	}
}

// checkCreateBucketOnce walks every CreateBucket the replicas sent to the
// target and every successful DeleteBucket, in the order the target
// answered them: a bucket is asked for at most once between deletes, so it
// is never created twice (a job executed by two replicas at once would ask
// twice, the second hearing BucketAlreadyOwnedByYou; a resumed job looks
// before it asks), and every bucket a completed create named was created.
func checkCreateBucketOnce(t *testing.T, c *cluster, completed map[string]bool) {
	t.Helper()
	type call struct {
		faultproxy.Request
		replica int
	}
	var calls []call
	for _, r := range c.replicas {
		for _, e := range r.s3.Requests() {
			switch opName(e) {
			case "CreateBucket":
				if e.Forwarded {
					calls = append(calls, call{e, r.i})
				}
			case "DeleteBucket":
				if e.Status/100 == 2 {
					calls = append(calls, call{e, r.i})
				}
			}
		}
	}
	sort.Slice(calls, func(i, j int) bool { return calls[i].End.Before(calls[j].End) })
	asked := map[string]call{} // bucket -> the CreateBucket since its last delete
	created := map[string]bool{}
	for _, e := range calls {
		b := e.Bucket()
		if opName(e.Request) == "DeleteBucket" {
			delete(asked, b)
			continue
		}
		if first, ok := asked[b]; ok {
			t.Errorf("bucket %s was asked for twice: by replica %d (answered %d at %s), then by replica %d (answered %d at %s)",
				b, first.replica, first.Status, first.End.Format("15:04:05.000"), e.replica, e.Status, e.End.Format("15:04:05.000"))
		}
		asked[b] = e
		if e.Status/100 == 2 {
			created[b] = true
		}
	}
	for b := range completed {
		if !created[b] {
			t.Errorf("bucket %s of a completed create got no successful CreateBucket", b)
		}
	}
}

// checkRolePolicies compares each environment's role documents on the
// target with what the policy package renders for its resources' grants.
func checkRolePolicies(t *testing.T, c *cluster, resources []store.Resource, roles []store.EnvRoles) {
	t.Helper()
	byEnv := map[string][]policy.EnvResource{}
	for _, r := range resources {
		byEnv[r.Env] = append(byEnv[r.Env], envResource(r))
	}
	for _, rs := range roles {
		auth, unauth := policy.EnvDocuments(policy.EnvSidPrefix(app, rs.Env), byEnv[rs.Env])
		for _, role := range []struct {
			name string
			want *policy.Document
		}{{rs.Auth, auth}, {rs.Unauth, unauth}} {
			got := rolePolicy(t, c, role.name, policy.EnvRolePolicyName(app, rs.Env))
			if role.want == nil {
				if got != "" {
					t.Errorf("role %s holds %s; its environment grants nothing", role.name, got)
				}
				continue
			}
			want, _ := json.Marshal(role.want)
			if !policy.Equivalent([]byte(got), want) {
				t.Errorf("role %s policy\n got %s\nwant %s", role.name, got, want)
			}
		}
	}
}

// checkBucketPolicies compares each bucket's policy on the target with the
// statements the policy package renders for the resources using it, and
// nothing else (the workload writes no foreign statements).
func checkBucketPolicies(t *testing.T, c *cluster, resources []store.Resource, buckets map[string]bool) {
	t.Helper()
	for b := range buckets {
		var want []byte
		empty := true
		for _, r := range resources {
			if r.Bucket != b {
				continue
			}
			prefix := policy.SidPrefix(r.AppID, r.Env, r.Name)
			docs := policy.Translate(policy.Input{Bucket: b, SidPrefix: prefix, PublicGuestAccess: true,
				Authenticated: toPerms(r.Applied.Authenticated), Unauthenticated: toPerms(r.Applied.Unauthenticated)})
			var err error
			if want, empty, err = policy.MergeBucketPolicy(want, prefix, docs.Bucket); err != nil {
				t.Fatal(err)
			}
		}
		out, err := c.gw.S3Client().GetBucketPolicy(t.Context(), &s3.GetBucketPolicyInput{Bucket: aws.String(b)})
		got := ""
		switch {
		case err == nil:
			got = aws.ToString(out.Policy)
		case !isNotFound(err):
			t.Fatalf("GetBucketPolicy %s: %v", b, err)
		}
		if empty {
			if got != "" {
				t.Errorf("bucket %s has policy %s; no resource using it grants guests anything", b, got)
			}
			continue
		}
		if !policy.Equivalent([]byte(got), want) {
			t.Errorf("bucket %s policy\n got %s\nwant %s", b, got, want)
		}
	}
}

// rolePolicy reads an inline role policy from the gateway, "" when the
// role or the policy does not exist.
func rolePolicy(t *testing.T, c *cluster, role, name string) string {
	t.Helper()
	out, err := c.gw.IAMClient().GetRolePolicy(t.Context(), &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
	if isNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatalf("GetRolePolicy %s %s: %v", role, name, err)
	}
	doc, err := policy.DecodeDocument(aws.ToString(out.PolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

func envResource(r store.Resource) policy.EnvResource {
	return policy.EnvResource{Bucket: r.Bucket, Authenticated: toPerms(r.Applied.Authenticated), Unauthenticated: toPerms(r.Applied.Unauthenticated)}
}

func toPerms(in []string) []policy.Permission {
	out := make([]policy.Permission, len(in))
	for i, p := range in {
		out[i] = policy.Permission(p)
	}
	return out
}

// opName names the S3 or IAM operation of a logged request: IAM's from its
// Action, S3's from the method, whether the path names a bucket or an
// object, and the subresource in the query.
func opName(r faultproxy.Request) string {
	if a := r.Form.Get("Action"); a != "" {
		return a
	}
	path := strings.Trim(r.Path, "/")
	var sub []string
	for k := range r.Query {
		sub = append(sub, k)
	}
	sort.Strings(sub)
	switch {
	case path == "" && r.Method == http.MethodGet:
		return "ListBuckets"
	case strings.Contains(path, "/"):
		return r.Method + "Object"
	}
	names := map[string]string{
		"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket", "GET": "ListObjects",
		"PUT policy": "PutBucketPolicy", "DELETE policy": "DeleteBucketPolicy", "GET policy": "GetBucketPolicy",
		"PUT tagging": "PutBucketTagging", "GET tagging": "GetBucketTagging",
	}
	key := strings.TrimSpace(r.Method + " " + strings.Join(sub, "&"))
	if n, ok := names[key]; ok {
		return n
	}
	return key
}

// mutating tells calls that change the target from reads.
func mutating(r faultproxy.Request) bool {
	if a := r.Form.Get("Action"); a != "" {
		return !strings.HasPrefix(a, "Get") && !strings.HasPrefix(a, "List")
	}
	return r.Method != http.MethodGet && r.Method != http.MethodHead
}
