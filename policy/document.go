package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Version is the policy language version written into every document. It is
// the only version in which policy variables such as
// ${cognito-identity.amazonaws.com:sub} are expanded; under the default
// 2008-10-17 they would be matched literally and private paths would break.
const Version = "2012-10-17"

// Document is an IAM or S3 policy document as this package writes it. It
// models only what we emit; documents written by others are handled as raw
// JSON (see MergeBucketPolicy) so nothing we do not model is ever lost.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one policy statement. Field order in the struct is the order
// AWS documentation and the Amplify CLI use, which keeps our JSON readable.
//
// Resource is omitted when empty (unlike the other list): trust policies must
// not carry a Resource element, IAM rejects them with "Has prohibited field
// Resource". Every permission statement Translate writes has one.
type Statement struct {
	Sid       string     `json:"Sid,omitempty"`
	Effect    string     `json:"Effect"`
	Principal any        `json:"Principal,omitempty"`
	Action    Strings    `json:"Action"`
	Resource  Strings    `json:"Resource,omitempty"`
	Condition Conditions `json:"Condition,omitempty"`
}

// Strings is a policy list element (Action, Resource, condition values). AWS
// accepts either a single string or an array there, and returns whatever was
// written; we always write an array, so one shape is produced and compared,
// and we read both so documents written by others parse.
type Strings []string

// MarshalJSON writes s as an array, also when it is nil, so a statement never
// carries "Action": null.
func (s Strings) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(s))
}

// UnmarshalJSON reads a single value or an array. Numbers and booleans are
// kept as their JSON text because IAM accepts them in condition values
// ("aws:SecureTransport": false) and evaluates them as strings.
func (s *Strings) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if v == nil {
		*s = nil
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	out := make(Strings, 0, len(list))
	for _, e := range list {
		text, ok := scalarText(e)
		if !ok {
			return fmt.Errorf("policy: list element %s is not a string", b)
		}
		out = append(out, text)
	}
	*s = out
	return nil
}

// scalarText returns the string a policy engine compares for a JSON scalar.
func scalarText(v any) (string, bool) {
	switch e := v.(type) {
	case string:
		return e, true
	case json.Number:
		return e.String(), true
	case bool:
		if e {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// Conditions is a statement's Condition block: operator, then condition key,
// then values, e.g. {"StringLike": {"s3:prefix": ["public/"]}}. Maps marshal
// with sorted keys, which keeps Translate's output byte-stable.
type Conditions map[string]map[string]Strings

// TrustPolicy returns the trust policy a missing auth or unauth role is
// created with when the operator configured none. It is the one Amplify Gen1
// writes: Cognito identity pools assume the role through web identity
// federation, limited to one identity pool (when known) and to identities of
// the matching kind, so a guest identity can never assume the auth role.
func TrustPolicy(authenticated bool, identityPoolID string) *Document {
	const cognito = "cognito-identity.amazonaws.com"
	amr := "unauthenticated"
	if authenticated {
		amr = "authenticated"
	}
	cond := Conditions{
		"ForAnyValue:StringLike": {cognito + ":amr": {amr}},
	}
	if identityPoolID != "" {
		cond["StringEquals"] = map[string]Strings{cognito + ":aud": {identityPoolID}}
	}
	return &Document{
		Version: Version,
		Statement: []Statement{{
			Effect:    "Allow",
			Principal: map[string]string{"Federated": cognito},
			Action:    Strings{"sts:AssumeRoleWithWebIdentity"},
			Condition: cond,
		}},
	}
}
