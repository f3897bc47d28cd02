package embedded

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/gofiber/fiber/v3"
	"github.com/google/uuid"
	"github.com/versity/versitygw/iamapi"
	"github.com/versity/versitygw/iamapi/iamerr"
	iampolicy "github.com/versity/versitygw/iamapi/policy"
	"github.com/versity/versitygw/iamapi/types"
	bolt "go.etcd.io/bbolt"
)

// Customer managed policies, which Versity 1.8's IAM API does not have.
//
// IAM caps a role's inline policies at 10,240 characters in all; a role
// that needs more carries customer managed policies, up to 6,144
// characters each and 10 attached per role. The control plane spills an
// environment's grants into them (package jobs), so the embedded gateway
// serves the calls that needs, with AWS's quotas and errors: CreatePolicy,
// GetPolicy, DeletePolicy, CreatePolicyVersion, GetPolicyVersion,
// DeletePolicyVersion, ListPolicyVersions, AttachRolePolicy,
// DetachRolePolicy and ListAttachedRolePolicies. They are added to
// Versity's own action table (addManagedPolicyActions), behind its
// signature check and policy evaluation like every other IAM call.
//
// As on the gateway's inline role policies, the documents are stored and
// served but not enforced: nothing assumes these roles here.

// The quotas AWS applies by default.
const (
	maxManagedPolicyChars = 6144 // white space not counted
	maxAttachedPerRole    = 10
	maxPolicyVersions     = 5
	// accountID is Versity's account in every ARN it makes.
	accountID = "000000000000"
)

var (
	policiesBucket    = []byte("managed-policies") // lower-cased policy name → JSON managedPolicy
	attachmentsBucket = []byte("role-attachments") // lower-cased role name → JSON []string of policy ARNs
)

type managedPolicy struct {
	Name, ID, Path, ARN string
	DefaultVersion      string
	Versions            []policyVersion // oldest first
	NextVersion         int
	Attachments         int
	Created, Updated    time.Time
}

type policyVersion struct {
	ID       string
	Document string
	Created  time.Time
}

// addManagedPolicyActions adds the managed-policy calls to api's action
// table. The table is unexported; like fiberApp, reflection is the one way
// to reach it, and a Versity release that moves it fails start-up here.
func addManagedPolicyActions(api *iamapi.IAMApiServer, s *roleStore) error {
	f := reflect.ValueOf(api.Router).Elem().FieldByName("actions")
	if !f.IsValid() || f.Type() != reflect.TypeFor[map[string]iamapi.ActionHandler]() {
		return errors.New("embedded: Versity's IAM router no longer keeps its action table in field actions; managed policies cannot be served")
	}
	actions := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(map[string]iamapi.ActionHandler)
	for name, h := range map[string]iamapi.ActionHandler{
		"CreatePolicy":             s.createPolicy,
		"GetPolicy":                s.getPolicy,
		"DeletePolicy":             s.deletePolicy,
		"CreatePolicyVersion":      s.createPolicyVersion,
		"GetPolicyVersion":         s.getPolicyVersion,
		"DeletePolicyVersion":      s.deletePolicyVersion,
		"ListPolicyVersions":       s.listPolicyVersions,
		"AttachRolePolicy":         s.attachRolePolicy,
		"DetachRolePolicy":         s.detachRolePolicy,
		"ListAttachedRolePolicies": s.listAttachedRolePolicies,
	} {
		if _, taken := actions[name]; !taken { // Versity's own, once it has one
			actions[name] = h
		}
	}
	return nil
}

// param reads a request parameter from the query or the form body, as
// Versity's handlers do.
func param(ctx fiber.Ctx, key string) string {
	if v := ctx.Query(key); v != "" {
		return v
	}
	return ctx.FormValue(key)
}

func required(ctx fiber.Ctx, key string) (string, error) {
	v := param(ctx, key)
	if v == "" {
		return "", iamerr.MissingValue(strings.ToLower(key[:1]) + key[1:])
	}
	return v, nil
}

func senderError(code string, status int, format string, args ...any) error {
	return iamerr.Error{Type: iamerr.TypeSender, Code: code, Message: fmt.Sprintf(format, args...), HTTPStatusCode: status}
}

func noSuchPolicy(arn string) error {
	return senderError("NoSuchEntity", http.StatusNotFound, "Policy %s does not exist or is not attachable.", arn)
}

// nonSpaceChars is a document's size as IAM counts it.
func nonSpaceChars(doc string) int {
	n := 0
	for _, c := range doc {
		if !strings.ContainsRune(" \t\r\n", c) {
			n++
		}
	}
	return n
}

// checkDocument validates a managed policy document as PutRolePolicy's are,
// and applies the size quota.
func checkDocument(doc string) error {
	if err := iampolicy.Validate("policyDocument", doc); err != nil {
		return err
	}
	if n := nonSpaceChars(doc); n > maxManagedPolicyChars {
		return senderError("LimitExceeded", http.StatusConflict, "Cannot exceed quota for PolicySize: %d", maxManagedPolicyChars)
	}
	return iampolicy.Parse(doc)
}

// policyKey is the key of the policy an ARN names, and whether the ARN is
// one of this account's policy ARNs.
func policyKey(arn string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(arn, "arn:aws:iam::"+accountID+":policy/")
	if !ok || rest == "" {
		return nil, false
	}
	return []byte(strings.ToLower(rest[strings.LastIndexByte(rest, '/')+1:])), true
}

func getPolicy(tx *bolt.Tx, arn string) (*managedPolicy, error) {
	key, ok := policyKey(arn)
	if !ok {
		return nil, senderError("InvalidInput", http.StatusBadRequest, "ARN %s is not valid.", arn)
	}
	raw := tx.Bucket(policiesBucket).Get(key)
	if raw == nil {
		return nil, noSuchPolicy(arn)
	}
	var p managedPolicy
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	if p.ARN != arn {
		return nil, noSuchPolicy(arn)
	}
	return &p, nil
}

func putPolicy(tx *bolt.Tx, p *managedPolicy) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return tx.Bucket(policiesBucket).Put([]byte(strings.ToLower(p.Name)), raw)
}

// withPolicy runs fn on the policy ctx's PolicyArn names, in a write
// transaction when write is set, and stores it again after a write.
func (s *roleStore) withPolicy(ctx fiber.Ctx, write bool, fn func(tx *bolt.Tx, p *managedPolicy) error) error {
	arn, err := required(ctx, "PolicyArn")
	if err != nil {
		return err
	}
	run := s.db.View
	if write {
		run = s.db.Batch
	}
	return run(func(tx *bolt.Tx) error {
		p, err := getPolicy(tx, arn)
		if err != nil {
			return err
		}
		if err := fn(tx, p); err != nil || !write {
			return err
		}
		return putPolicy(tx, p)
	})
}

func (s *roleStore) createPolicy(ctx fiber.Ctx) (*iamapi.Response, error) {
	name, err := required(ctx, "PolicyName")
	if err != nil {
		return nil, err
	}
	if len(name) > 128 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") != "" {
		return nil, senderError("ValidationError", http.StatusBadRequest, "The specified value for policyName is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_-")
	}
	path := param(ctx, "Path")
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/") || len(path) > 512 {
		return nil, senderError("ValidationError", http.StatusBadRequest, "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.")
	}
	doc, err := required(ctx, "PolicyDocument")
	if err != nil {
		return nil, err
	}
	if err := checkDocument(doc); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	p := &managedPolicy{Name: name, ID: "ANPA" + strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", ""))[:17], Path: path,
		ARN: "arn:aws:iam::" + accountID + ":policy" + path + name, DefaultVersion: "v1", NextVersion: 2,
		Versions: []policyVersion{{ID: "v1", Document: doc, Created: now}}, Created: now, Updated: now}
	err = s.db.Batch(func(tx *bolt.Tx) error {
		if tx.Bucket(policiesBucket).Get([]byte(strings.ToLower(name))) != nil {
			return senderError("EntityAlreadyExists", http.StatusConflict, "A policy called %s already exists. Duplicate names are not allowed.", name)
		}
		return putPolicy(tx, p)
	})
	if err != nil {
		return nil, err
	}
	return respond("CreatePolicy", &policyResult{Policy: policyOf(p)}), nil
}

func (s *roleStore) getPolicy(ctx fiber.Ctx) (*iamapi.Response, error) {
	var out policyXML
	err := s.withPolicy(ctx, false, func(_ *bolt.Tx, p *managedPolicy) error { out = policyOf(p); return nil })
	if err != nil {
		return nil, err
	}
	return respond("GetPolicy", &policyResult{Policy: out}), nil
}

func (s *roleStore) deletePolicy(ctx fiber.Ctx) (*iamapi.Response, error) {
	arn, err := required(ctx, "PolicyArn")
	if err != nil {
		return nil, err
	}
	err = s.db.Batch(func(tx *bolt.Tx) error {
		p, err := getPolicy(tx, arn)
		switch {
		case err != nil:
			return err
		case p.Attachments > 0:
			return senderError("DeleteConflict", http.StatusConflict, "Cannot delete a policy attached to entities.")
		case len(p.Versions) > 1:
			return senderError("DeleteConflict", http.StatusConflict, "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.")
		}
		return tx.Bucket(policiesBucket).Delete([]byte(strings.ToLower(p.Name)))
	})
	if err != nil {
		return nil, err
	}
	return respond("DeletePolicy", nil), nil
}

func (s *roleStore) createPolicyVersion(ctx fiber.Ctx) (*iamapi.Response, error) {
	doc, err := required(ctx, "PolicyDocument")
	if err != nil {
		return nil, err
	}
	if err := checkDocument(doc); err != nil {
		return nil, err
	}
	setDefault, _ := strconv.ParseBool(param(ctx, "SetAsDefault"))
	var out policyVersionXML
	err = s.withPolicy(ctx, true, func(_ *bolt.Tx, p *managedPolicy) error {
		if len(p.Versions) >= maxPolicyVersions {
			return senderError("LimitExceeded", http.StatusConflict, "A managed policy can have up to %d versions. Before you create a new version, you must delete an existing version.", maxPolicyVersions)
		}
		v := policyVersion{ID: "v" + strconv.Itoa(p.NextVersion), Document: doc, Created: time.Now().UTC()}
		p.NextVersion++
		p.Versions = append(p.Versions, v)
		if setDefault {
			p.DefaultVersion, p.Updated = v.ID, v.Created
		}
		out = versionOf(p, v, false)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return respond("CreatePolicyVersion", &policyVersionResult{PolicyVersion: out}), nil
}

// version finds the version ctx's VersionId names.
func version(ctx fiber.Ctx, p *managedPolicy) (int, error) {
	id, err := required(ctx, "VersionId")
	if err != nil {
		return 0, err
	}
	i := slices.IndexFunc(p.Versions, func(v policyVersion) bool { return v.ID == id })
	if i < 0 {
		return 0, senderError("NoSuchEntity", http.StatusNotFound, "Policy %s version %s does not exist or is not attachable.", p.ARN, id)
	}
	return i, nil
}

func (s *roleStore) getPolicyVersion(ctx fiber.Ctx) (*iamapi.Response, error) {
	var out policyVersionXML
	err := s.withPolicy(ctx, false, func(_ *bolt.Tx, p *managedPolicy) error {
		i, err := version(ctx, p)
		if err == nil {
			out = versionOf(p, p.Versions[i], true)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return respond("GetPolicyVersion", &policyVersionResult{PolicyVersion: out}), nil
}

func (s *roleStore) deletePolicyVersion(ctx fiber.Ctx) (*iamapi.Response, error) {
	err := s.withPolicy(ctx, true, func(_ *bolt.Tx, p *managedPolicy) error {
		i, err := version(ctx, p)
		if err != nil {
			return err
		}
		if p.Versions[i].ID == p.DefaultVersion {
			return senderError("DeleteConflict", http.StatusConflict, "Cannot delete the default version of a policy.")
		}
		p.Versions = slices.Delete(p.Versions, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return respond("DeletePolicyVersion", nil), nil
}

func (s *roleStore) listPolicyVersions(ctx fiber.Ctx) (*iamapi.Response, error) {
	var out []policyVersionXML
	err := s.withPolicy(ctx, false, func(_ *bolt.Tx, p *managedPolicy) error {
		for i := len(p.Versions) - 1; i >= 0; i-- { // newest first, as IAM lists them
			out = append(out, versionOf(p, p.Versions[i], false))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return respond("ListPolicyVersions", &policyVersionsResult{Versions: out}), nil
}

// attachments reads the policy ARNs attached to role, after checking the
// role exists.
func attachments(tx *bolt.Tx, role string) ([]string, error) {
	if _, err := getRole(tx, role); err != nil {
		return nil, err
	}
	var arns []string
	if raw := tx.Bucket(attachmentsBucket).Get(roleKey(role)); raw != nil {
		if err := json.Unmarshal(raw, &arns); err != nil {
			return nil, err
		}
	}
	return arns, nil
}

func putAttachments(tx *bolt.Tx, role string, arns []string) error {
	if len(arns) == 0 {
		return tx.Bucket(attachmentsBucket).Delete(roleKey(role))
	}
	raw, err := json.Marshal(arns)
	if err != nil {
		return err
	}
	return tx.Bucket(attachmentsBucket).Put(roleKey(role), raw)
}

// attachment changes whether ctx's policy is attached to ctx's role.
func (s *roleStore) attachment(ctx fiber.Ctx, action string, attach bool) (*iamapi.Response, error) {
	role, err := required(ctx, "RoleName")
	if err != nil {
		return nil, err
	}
	err = s.withPolicy(ctx, true, func(tx *bolt.Tx, p *managedPolicy) error {
		arns, err := attachments(tx, role)
		if err != nil {
			return err
		}
		i := slices.Index(arns, p.ARN)
		switch {
		case attach && i >= 0:
			return nil // attached already, as IAM answers
		case attach && len(arns) >= maxAttachedPerRole:
			return senderError("LimitExceeded", http.StatusConflict, "Cannot exceed quota for PoliciesPerRole: %d", maxAttachedPerRole)
		case attach:
			arns = append(arns, p.ARN)
			p.Attachments++
		case i < 0:
			return senderError("NoSuchEntity", http.StatusNotFound, "Policy %s was not found.", p.ARN)
		default:
			arns = slices.Delete(arns, i, i+1)
			p.Attachments--
		}
		return putAttachments(tx, role, arns)
	})
	if err != nil {
		return nil, err
	}
	return respond(action, nil), nil
}

func (s *roleStore) attachRolePolicy(ctx fiber.Ctx) (*iamapi.Response, error) {
	return s.attachment(ctx, "AttachRolePolicy", true)
}

func (s *roleStore) detachRolePolicy(ctx fiber.Ctx) (*iamapi.Response, error) {
	return s.attachment(ctx, "DetachRolePolicy", false)
}

func (s *roleStore) listAttachedRolePolicies(ctx fiber.Ctx) (*iamapi.Response, error) {
	role, err := required(ctx, "RoleName")
	if err != nil {
		return nil, err
	}
	var out []attachedPolicy
	err = s.db.View(func(tx *bolt.Tx) error {
		arns, err := attachments(tx, role)
		for _, a := range arns {
			out = append(out, attachedPolicy{PolicyName: a[strings.LastIndexByte(a, '/')+1:], PolicyArn: a})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return respond("ListAttachedRolePolicies", &attachedPoliciesResult{AttachedPolicies: out}), nil
}

type policyXML struct {
	PolicyName, PolicyId, Arn, Path, DefaultVersionId string
	AttachmentCount                                   int
	IsAttachable                                      bool
	CreateDate, UpdateDate                            time.Time
}

func policyOf(p *managedPolicy) policyXML {
	return policyXML{PolicyName: p.Name, PolicyId: p.ID, Arn: p.ARN, Path: p.Path, DefaultVersionId: p.DefaultVersion,
		AttachmentCount: p.Attachments, IsAttachable: true, CreateDate: p.Created, UpdateDate: p.Updated}
}

type policyVersionXML struct {
	Document         string `xml:",omitempty"`
	VersionId        string
	IsDefaultVersion bool
	CreateDate       time.Time
}

// versionOf renders v; the document, URL-encoded as IAM hands documents
// out, only where IAM includes it.
func versionOf(p *managedPolicy, v policyVersion, withDocument bool) policyVersionXML {
	out := policyVersionXML{VersionId: v.ID, IsDefaultVersion: v.ID == p.DefaultVersion, CreateDate: v.Created}
	if withDocument {
		out.Document = url.PathEscape(v.Document)
	}
	return out
}

// actionResponse is the envelope of every answer here: <ActionResponse>
// holding <ActionResult> (absent for calls that return nothing) and the
// request id. Element names are set per call through XMLName values.
type actionResponse struct {
	XMLName          xml.Name
	Result           any
	ResponseMetadata types.ResponseMetadata
}

func (r *actionResponse) SetRequestID(id string) { r.ResponseMetadata.RequestID = id }

// The result bodies. Their XMLName, set by respond, names the result
// element after the call.
type policyResult struct {
	XMLName xml.Name
	Policy  policyXML
}

type policyVersionResult struct {
	XMLName       xml.Name
	PolicyVersion policyVersionXML
}

type policyVersionsResult struct {
	XMLName     xml.Name
	Versions    []policyVersionXML `xml:"Versions>member"`
	IsTruncated bool
}

type attachedPolicy struct{ PolicyName, PolicyArn string }

type attachedPoliciesResult struct {
	XMLName          xml.Name
	AttachedPolicies []attachedPolicy `xml:"AttachedPolicies>member"`
	IsTruncated      bool
}

// respond wraps body, a pointer to one of the result types or nil, in the
// envelope of action.
func respond(action string, body any) *iamapi.Response {
	r := &actionResponse{XMLName: xml.Name{Space: "https://iam.amazonaws.com/doc/2010-05-08/", Local: action + "Response"}}
	if body != nil {
		reflect.ValueOf(body).Elem().FieldByName("XMLName").Set(reflect.ValueOf(xml.Name{Local: action + "Result"}))
		r.Result = body
	}
	return &iamapi.Response{Data: r}
}
