package s3iam_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
)

// The tests in this file cover Ceph RGW's quirks with fakes that answer the
// way RGW 16.2 was measured to (e2e/ceph runs the same against a real RGW).

// fakeRGWIAM is an IAM API that answers errors in the S3 shape, as RGW does,
// and refuses documents with a policy variable in a Resource.
type fakeRGWIAM struct {
	mu       sync.Mutex
	roles    map[string]bool
	policies map[string]string // role/name -> document
	hidden   map[string]bool   // roles GetRole does not see (a creation race)
	tags     map[string]string // role -> its tags as RGW writes them
}

func newFakeRGWIAM(t *testing.T) (*fakeRGWIAM, *s3iam.Target) {
	t.Helper()
	f := &fakeRGWIAM{roles: map[string]bool{}, policies: map[string]string{}, hidden: map[string]bool{}, tags: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	tgt, err := s3iam.New(t.Context(), s3iam.Config{S3Endpoint: srv.URL, IAMEndpoint: srv.URL, AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	return f, tgt
}

func (f *fakeRGWIAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	defer f.mu.Unlock()
	role, name := form.Get("RoleName"), form.Get("PolicyName")
	key := role + "/" + name
	ok := func(inner string) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<%[1]sResponse><%[1]sResult>%s</%[1]sResult></%[1]sResponse>`, form.Get("Action"), inner)
	}
	switch form.Get("Action") {
	case "GetRole":
		if !f.roles[role] || f.hidden[role] {
			writeRGWErr(w, http.StatusNotFound, "NoSuchEntity")
			return
		}
		ok(`<Role><RoleName>` + role + `</RoleName><Arn>arn:aws:iam:::role/` + role + `</Arn>` + f.tags[role] + `</Role>`)
	case "CreateRole":
		if f.roles[role] {
			writeRGWErr(w, http.StatusConflict, "EntityAlreadyExists")
			return
		}
		f.roles[role] = true
		var tags strings.Builder
		for i := 1; form.Has(fmt.Sprintf("Tags.member.%d.Key", i)); i++ {
			fmt.Fprintf(&tags, `<Key><Key>%s</Key></Key><Value><Value>%s</Value></Value>`,
				form.Get(fmt.Sprintf("Tags.member.%d.Key", i)), form.Get(fmt.Sprintf("Tags.member.%d.Value", i)))
		}
		if tags.Len() > 0 {
			f.tags[role] = "<Tags>" + tags.String() + "</Tags>"
		}
		ok(`<Role><RoleName>` + role + `</RoleName></Role>`)
	case "PutRolePolicy":
		doc := form.Get("PolicyDocument")
		switch {
		case !f.roles[role]:
			writeRGWErr(w, http.StatusNotFound, "NoSuchEntity")
		case strings.Contains(doc, `"arn:aws:s3:::b/private/${`) || strings.Contains(doc, `/${aws:`):
			writeRGWErr(w, http.StatusBadRequest, "MalformedPolicyDocument")
		default:
			f.policies[key] = doc
			ok("")
		}
	case "GetRolePolicy":
		doc, found := f.policies[key]
		if !found {
			writeRGWErr(w, http.StatusNotFound, "NoSuchEntity")
			return
		}
		var esc strings.Builder
		xml.EscapeText(&esc, []byte(doc)) // RGW returns it raw, not URL-encoded
		ok(`<PolicyDocument>` + esc.String() + `</PolicyDocument>`)
	case "DeleteRolePolicy":
		if _, found := f.policies[key]; !found {
			// RGW 16.2 sends a success document and then the error.
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<DeleteRolePoliciesResponse><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DeleteRolePoliciesResponse>`+
				`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchEntity</Code><Message></Message><RequestId>r</RequestId></Error>`)
			return
		}
		delete(f.policies, key)
		ok("")
	case "ListRolePolicies":
		if !f.roles[role] {
			writeRGWErr(w, http.StatusNotFound, "NoSuchEntity")
			return
		}
		ok(`<PolicyNames></PolicyNames><IsTruncated>false</IsTruncated>`)
	default:
		writeRGWErr(w, http.StatusBadRequest, "InvalidAction")
	}
}

// writeRGWErr answers like RGW 16.2 does, for S3 and IAM alike: the S3 error
// shape with an empty message.
func writeRGWErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amz-Request-Id", "tx000001-default")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message></Message>`+
		`<RequestId>tx000001-default</RequestId><HostId>1-default-default</HostId></Error>`, code)
}

// TestS3StyleIAMErrors: the codes in RGW's S3-shaped IAM errors are
// recognised, so missing roles are created, missing policies are "none" and
// a second CreateRole is not an error.
func TestS3StyleIAMErrors(t *testing.T) {
	t.Parallel()
	f, tgt := newFakeRGWIAM(t)
	ctx := t.Context()
	if names, err := tgt.RolePolicyNames(ctx, "r"); err != nil || names != nil {
		t.Fatalf("RolePolicyNames(missing role) = %v, %v; want nil, nil", names, err)
	}
	if doc, err := tgt.RolePolicy(ctx, "r", "p"); err != nil || doc != nil {
		t.Fatalf("RolePolicy(missing role) = %s, %v; want nil, nil", doc, err)
	}
	if err := tgt.DeleteRolePolicy(ctx, "r", "p"); err != nil {
		t.Fatalf("DeleteRolePolicy(missing): %v", err)
	}
	err := tgt.PutRolePolicy(ctx, "r", "p", []byte(`{"Version":"2012-10-17","Statement":[]}`))
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "NoSuchEntity" || s3iam.Classify(err) != s3iam.Permanent {
		t.Fatalf("PutRolePolicy(missing role) = %v; want a Permanent NoSuchEntity", err)
	}
	if got := s3iam.APIMessage(err); got != "NoSuchEntity" {
		t.Errorf("APIMessage = %q, want NoSuchEntity (RGW sends no message)", got)
	}
	if created, err := tgt.EnsureRole(ctx, "r", []byte(`{}`), nil); err != nil || !created {
		t.Fatalf("EnsureRole(missing) = %v, %v; want true, nil", created, err)
	}
	f.mu.Lock()
	f.hidden["r"] = true // GetRole misses, CreateRole finds it: lost a race
	f.mu.Unlock()
	if created, err := tgt.EnsureRole(ctx, "r", []byte(`{}`), nil); err != nil || created {
		t.Fatalf("EnsureRole(race) = %v, %v; want false, nil", created, err)
	}
}

// TestRGWRoleTags: the tags RGW lists in its own shape are read.
func TestRGWRoleTags(t *testing.T) {
	t.Parallel()
	_, tgt := newFakeRGWIAM(t)
	ctx := t.Context()
	want := map[string]string{"amplifybackendd:owner": "0123-authenticated", "amplifybackendd:env": "dev"}
	if _, err := tgt.EnsureRole(ctx, "r", []byte(`{}`), want); err != nil {
		t.Fatal(err)
	}
	if tags, exists, err := tgt.RoleTags(ctx, "r"); err != nil || !exists || !maps.Equal(tags, want) {
		t.Fatalf("RoleTags = %v, %v, %v; want %v", tags, exists, err, want)
	}
	if _, err := tgt.EnsureRole(ctx, "untagged", []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	if tags, exists, err := tgt.RoleTags(ctx, "untagged"); err != nil || !exists || len(tags) != 0 {
		t.Fatalf("RoleTags(untagged) = %v, %v, %v", tags, exists, err)
	}
	if _, exists, err := tgt.RoleTags(ctx, "missing"); err != nil || exists {
		t.Fatalf("RoleTags(missing) = %v, %v", exists, err)
	}
}

// TestPutRolePolicyWithoutResourceVariables: a target that refuses policy
// variables in resources gets the document without those resources, and
// nothing that would grant more is ever written.
func TestPutRolePolicyWithoutResourceVariables(t *testing.T) {
	t.Parallel()
	f, tgt := newFakeRGWIAM(t)
	ctx := t.Context()
	if _, err := tgt.EnsureRole(ctx, "r", []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	const sub = "${cognito-identity.amazonaws.com:sub}"
	doc := `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"Public","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/public/*"]},` +
		`{"Sid":"Private","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/private/` + sub + `/*"]},` +
		`{"Sid":"Mixed","Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::b/private/` + sub + `/*","arn:aws:s3:::b/a&b/*"]},` +
		`{"Sid":"List","Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::b"],"Condition":{"StringLike":{"s3:prefix":["private/` + sub + `/"]}}}]}`
	if err := tgt.PutRolePolicy(ctx, "r", "p", []byte(doc)); err != nil {
		t.Fatalf("PutRolePolicy: %v", err)
	}
	stored, err := tgt.RolePolicy(ctx, "r", "p")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Statement []struct {
			Sid       string
			Resource  []string
			Condition map[string]map[string][]string
		}
	}
	if err := json.Unmarshal(stored, &got); err != nil {
		t.Fatalf("stored document %s: %v", stored, err)
	}
	var sids []string
	for _, st := range got.Statement {
		sids = append(sids, st.Sid)
		if st.Sid == "Mixed" && strings.Join(st.Resource, ",") != "arn:aws:s3:::b/a&b/*" {
			t.Errorf("Mixed kept resources %v", st.Resource)
		}
		if st.Sid == "List" && st.Condition["StringLike"]["s3:prefix"][0] != "private/"+sub+"/" {
			t.Errorf("condition changed: %v", st.Condition)
		}
	}
	if strings.Join(sids, ",") != "Public,Mixed,List" {
		t.Errorf("stored statements %v, want Public,Mixed,List:\n%s", sids, stored)
	}

	// A Deny with a variable is never dropped: the refusal stands.
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]},` +
		`{"Effect":"Deny","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/private/` + sub + `/*"]}]}`
	err = tgt.PutRolePolicy(ctx, "r", "deny", []byte(deny))
	if err == nil || s3iam.Classify(err) != s3iam.Permanent || !strings.Contains(s3iam.APIMessage(err), "MalformedPolicyDocument") {
		t.Fatalf("PutRolePolicy(deny with variable) = %v; want the MalformedPolicyDocument refusal", err)
	}
	// Only variables: nothing would be left, the refusal stands.
	only := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::b/private/` + sub + `/*"}]}`
	if err := tgt.PutRolePolicy(ctx, "r", "only", []byte(only)); err == nil {
		t.Fatal("PutRolePolicy(only variables) succeeded")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, found := f.policies["r/deny"]; found {
		t.Error("a reduced Deny document was written")
	}
}

// TestEncryptionInvalidArgumentIsNotImplemented: RGW 16.2 answers a valid
// PutBucketEncryption with 400 InvalidArgument (it has no ?encryption); that
// is a missing feature, while InvalidArgument elsewhere stays Permanent.
func TestEncryptionInvalidArgumentIsNotImplemented(t *testing.T) {
	t.Parallel()
	f, tgt := newFake(t, "")
	f.fail = func(r *http.Request) (int, string) {
		if r.Method == http.MethodPut {
			return http.StatusBadRequest, "InvalidArgument"
		}
		return 0, ""
	}
	// GET ?encryption answers a ListBucketResult on RGW, which reads as no rule.
	f.set("encryption", `<ListBucketResult><Name>b</Name></ListBucketResult>`)
	_, err := tgt.EnsureDefaultEncryption(t.Context(), "b")
	if s3iam.Classify(err) != s3iam.NotImplemented {
		t.Fatalf("EnsureDefaultEncryption on RGW: %v classified %v, want NotImplemented", err, s3iam.Classify(err))
	}
	_, err = tgt.EnsureTags(t.Context(), "b", map[string]string{"k": "v"})
	if s3iam.Classify(err) != s3iam.Permanent {
		t.Fatalf("PutBucketTagging InvalidArgument: %v classified %v, want Permanent", err, s3iam.Classify(err))
	}
}

// TestCreateBucketUnknownLocation: RGW knows only its zonegroup's api_name as
// a location; on a non-AWS endpoint the bucket is created without one.
func TestCreateBucketUnknownLocation(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		if strings.Contains(string(body), "LocationConstraint") {
			writeErr(w, http.StatusBadRequest, "InvalidLocationConstraint")
		}
	}))
	t.Cleanup(srv.Close)
	tgt, err := s3iam.New(t.Context(), s3iam.Config{Region: "eu-west-1", S3Endpoint: srv.URL, AccessKey: "a", SecretKey: "b", NoIAM: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tgt.CreateBucket(t.Context(), "b"); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || !strings.Contains(bodies[0], "<LocationConstraint>eu-west-1</LocationConstraint>") || bodies[1] != "" {
		t.Errorf("requests = %q; want one with the constraint, then one without", bodies)
	}
}

// TestIAMErrorBodyBreaksOff: an error answer whose body never arrives is a
// broken connection (Transient), not an unreadable error (UnknownError,
// Permanent).
func TestIAMErrorBodyBreaksOff(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		buf.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nContent-Length: 215\r\n\r\n<?xml")
		buf.Flush()
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	tgt, err := s3iam.New(t.Context(), s3iam.Config{S3Endpoint: srv.URL, IAMEndpoint: srv.URL, AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	err = tgt.PutRolePolicy(t.Context(), "r", "p", []byte(`{}`))
	if s3iam.Classify(err) != s3iam.Transient {
		t.Fatalf("PutRolePolicy with a broken error body: %v classified %v, want Transient", err, s3iam.Classify(err))
	}
}
