package access

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Policy is a parsed policy document. The zero Policy, like a document
// without statements, allows nothing.
type Policy struct {
	statements []statement
	doc        json.RawMessage
	// limit, when set, must allow too (Within).
	limit *Policy
}

type statement struct {
	sid       string
	index     int
	deny      bool
	actions   []string // lower-cased patterns
	resources []string
}

// MaxDocumentBytes bounds a policy document, as IAM bounds an inline user
// policy (2,048 characters there; larger here, since one key's document
// may list many apps).
const MaxDocumentBytes = 64 << 10

// ServicePrefix is the prefix of every action a policy may name.
const ServicePrefix = "amplifybackend"

// Versions a document may declare; IAM knows these two.
var versions = []string{"2012-10-17", "2008-10-17"}

// AdministratorDocument allows every action on every resource: what the
// default key, and any key written without a policy, may do.
const AdministratorDocument = `{"Version":"2012-10-17","Statement":[{"Sid":"Administrator","Effect":"Allow","Action":"*","Resource":"*"}]}`

// Administrator is AdministratorDocument parsed.
var Administrator = MustParse([]byte(AdministratorDocument))

// Parse reads an IAM JSON policy document: Version (optional), and
// Statement, one statement or a list, each with Effect Allow or Deny,
// Action and Resource (a string or a list of strings) and an optional
// Sid. What IAM would read differently from this package is refused
// rather than half-understood: NotAction, NotResource, Principal and
// Condition, actions of another service, and names of actions the
// service does not have. Errors name the element and the rule.
func Parse(doc []byte) (*Policy, error) {
	if len(doc) > MaxDocumentBytes {
		return nil, fmt.Errorf("the policy document is %d bytes; at most %d are allowed", len(doc), MaxDocumentBytes)
	}
	var raw map[string]json.RawMessage
	if err := strictUnmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("the policy document is not a JSON object: %w", err)
	}
	for k := range raw {
		if k != "Version" && k != "Statement" && k != "Id" {
			return nil, fmt.Errorf("the policy document has an element %q; a policy has Version, Id and Statement only", k)
		}
	}
	if v, ok := raw["Version"]; ok {
		var s string
		if err := json.Unmarshal(v, &s); err != nil || !slices.Contains(versions, s) {
			return nil, fmt.Errorf("the policy's Version must be %q (or %q), not %s", versions[0], versions[1], v)
		}
	}
	st, ok := raw["Statement"]
	if !ok {
		return nil, fmt.Errorf("the policy document has no Statement")
	}
	var list []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(st), []byte("[")) {
		if err := json.Unmarshal(st, &list); err != nil {
			return nil, fmt.Errorf("the policy's Statement must be a statement or a list of statements: %w", err)
		}
	} else {
		list = []json.RawMessage{st}
	}
	p := &Policy{}
	for i, s := range list {
		parsed, err := parseStatement(i, s)
		if err != nil {
			return nil, err
		}
		p.statements = append(p.statements, parsed)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return nil, err
	}
	p.doc = compact.Bytes()
	return p, nil
}

// MustParse is Parse for documents fixed in the program.
func MustParse(doc []byte) *Policy {
	p, err := Parse(doc)
	if err != nil {
		panic("access: " + err.Error())
	}
	return p
}

// Document returns the document p was parsed from, compacted (without
// the limit Within put on it).
func (p *Policy) Document() json.RawMessage { return p.doc }

func parseStatement(i int, doc json.RawMessage) (statement, error) {
	where := fmt.Sprintf("Statement[%d]", i)
	var raw map[string]json.RawMessage
	if err := strictUnmarshal(doc, &raw); err != nil {
		return statement{}, fmt.Errorf("%s is not a JSON object: %w", where, err)
	}
	st := statement{index: i}
	for k, v := range raw {
		switch k {
		case "Sid":
			if err := json.Unmarshal(v, &st.sid); err != nil {
				return statement{}, fmt.Errorf("%s.Sid must be a string", where)
			}
		case "Effect":
			var e string
			_ = json.Unmarshal(v, &e)
			switch e {
			case "Allow":
			case "Deny":
				st.deny = true
			default:
				return statement{}, fmt.Errorf("%s.Effect must be \"Allow\" or \"Deny\", not %s", where, v)
			}
		case "Action", "Resource":
		case "NotAction", "NotResource", "Principal", "NotPrincipal", "Condition":
			return statement{}, fmt.Errorf("%s.%s is not supported: write the statement with Action and Resource only", where, k)
		default:
			return statement{}, fmt.Errorf("%s has an element %q; a statement has Sid, Effect, Action and Resource", where, k)
		}
	}
	if _, ok := raw["Effect"]; !ok {
		return statement{}, fmt.Errorf("%s has no Effect", where)
	}
	actions, err := stringList(where+".Action", raw["Action"])
	if err != nil {
		return statement{}, err
	}
	for j, a := range actions {
		if err := checkAction(fmt.Sprintf("%s.Action[%d]", where, j), a); err != nil {
			return statement{}, err
		}
		actions[j] = strings.ToLower(a)
	}
	st.actions = actions
	if st.resources, err = stringList(where+".Resource", raw["Resource"]); err != nil {
		return statement{}, err
	}
	for j, r := range st.resources {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return statement{}, fmt.Errorf("%s.Resource[%d] %q is neither \"*\" nor an ARN (arn:aws:%s:REGION:ACCOUNT:/backend/...)", where, j, r, ServicePrefix)
		}
	}
	return st, nil
}

// stringList reads an element that is a string or a non-empty list of
// non-empty strings.
func stringList(where string, v json.RawMessage) ([]string, error) {
	if v == nil {
		return nil, fmt.Errorf("%s is missing", where)
	}
	var one string
	if err := json.Unmarshal(v, &one); err == nil {
		if one == "" {
			return nil, fmt.Errorf("%s must not be empty", where)
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, fmt.Errorf("%s must be a string or a list of strings", where)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s must not be an empty list", where)
	}
	for i, s := range list {
		if s == "" {
			return nil, fmt.Errorf("%s[%d] must not be empty", where, i)
		}
	}
	return list, nil
}

// checkAction accepts "*", and "amplifybackend:NAME" where NAME is an
// action of the service or a pattern that matches at least one: a pattern
// that can match nothing is a typo the author would want to hear about.
func checkAction(where, a string) error {
	if a == "*" {
		return nil
	}
	prefix, name, ok := strings.Cut(a, ":")
	if !ok || !strings.EqualFold(prefix, ServicePrefix) {
		return fmt.Errorf("%s %q is not an action of this service: actions are %q or %s:NAME", where, a, "*", ServicePrefix)
	}
	lower := strings.ToLower(name)
	for _, known := range Actions {
		if match(lower, strings.ToLower(known)) {
			return nil
		}
	}
	return fmt.Errorf("%s %q matches no action of %s (see the README's list of actions)", where, a, ServicePrefix)
}

// strictUnmarshal decodes one JSON value and refuses anything after it.
func strictUnmarshal(doc []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(doc))
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("text after the JSON value")
	}
	return nil
}
