package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrMalformed is returned (wrapped) when a policy document read from a
// target is not a JSON policy document. Callers treat it as a terminal job
// error: retrying cannot repair a document someone else wrote.
var ErrMalformed = errors.New("policy: malformed policy document")

// rawPolicy is a policy document read from a target, split just far enough to
// find our statements. Everything is kept as raw JSON in its original order,
// so a round trip through MergeBucketPolicy changes nothing we do not own:
// not NotPrincipal, not a string-valued Action, not fields AWS adds tomorrow.
type rawPolicy struct {
	keys       []string          // top-level keys in document order
	values     [][]byte          // values of keys, same index
	statements []json.RawMessage // elements of "Statement", in order
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// parseRawPolicy reads doc; an empty doc (only white space) is "no policy"
// and yields an empty rawPolicy with no keys.
func parseRawPolicy(doc []byte) (*rawPolicy, error) {
	p := &rawPolicy{}
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 {
		return p, nil
	}
	// Tokens instead of a map: a map would lose the order of top-level keys,
	// and encoding/json matches struct fields case-insensitively, which would
	// read a foreign "statement" or "sid" as ours.
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, malformed("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed("%v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, malformed("duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, malformed("value of %q: %v", key, err)
		}
		p.keys = append(p.keys, key)
		p.values = append(p.values, raw)
		if key == "Statement" {
			if p.statements, err = splitStatements(raw); err != nil {
				return nil, err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, malformed("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed("data after the document")
	}
	return p, nil
}

// splitStatements accepts both shapes AWS accepts for "Statement": an array
// of objects or a single object.
func splitStatements(raw json.RawMessage) ([]json.RawMessage, error) {
	var list []json.RawMessage
	switch firstByte(raw) {
	case '[':
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, malformed("Statement: %v", err)
		}
	case '{':
		list = []json.RawMessage{raw}
	default:
		return nil, malformed("Statement is neither an object nor an array")
	}
	for i, st := range list {
		if firstByte(st) != '{' {
			return nil, malformed("Statement[%d] is not an object", i)
		}
		if _, err := statementSid(st); err != nil {
			return nil, err
		}
	}
	return list, nil
}

func firstByte(b []byte) byte {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// statementSid returns the statement's Sid, "" when it has none.
func statementSid(st json.RawMessage) (string, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(st, &fields); err != nil {
		return "", malformed("statement: %v", err)
	}
	raw, ok := fields["Sid"]
	if !ok {
		return "", nil
	}
	var sid string
	if err := json.Unmarshal(raw, &sid); err != nil {
		return "", malformed("Sid %s is not a string", raw)
	}
	return sid, nil
}

// owned reports whether a statement with this Sid was written by the resource
// owning sidPrefix. An empty prefix owns nothing: matching every statement
// would make a caller's mistake delete everybody else's grants.
func owned(sid, sidPrefix string) bool {
	return sidPrefix != "" && strings.HasPrefix(sid, sidPrefix)
}

// MergeBucketPolicy is the only way our statements get into a bucket policy,
// because the bucket policy is shared: it may hold statements written by
// people or by other resources. It takes the bucket's current policy (nil or
// empty means the bucket has none), drops every statement whose Sid starts
// with sidPrefix, appends ours, and returns the new document.
//
// Foreign statements and other top-level keys (such as "Id") are kept byte for
// byte, in their order, apart from insignificant white space. A document that
// had no policy gets Version 2012-10-17; an existing Version is left as it is,
// since changing it would change how foreign statements are evaluated.
//
// empty is true when the result holds no statement at all; the caller then
// deletes the bucket policy, since S3 rejects one without statements.
func MergeBucketPolicy(existing []byte, sidPrefix string, ours []Statement) (merged []byte, empty bool, err error) {
	p, err := parseRawPolicy(existing)
	if err != nil {
		return nil, false, err
	}
	if len(p.keys) == 0 {
		v, _ := json.Marshal(Version)
		p.keys, p.values = []string{"Version"}, [][]byte{v}
	}

	var stmts bytes.Buffer
	stmts.WriteByte('[')
	n := 0
	add := func(b []byte) error {
		if n > 0 {
			stmts.WriteByte(',')
		}
		n++
		return json.Compact(&stmts, b)
	}
	for _, st := range p.statements {
		sid, _ := statementSid(st) // already checked by parseRawPolicy
		if owned(sid, sidPrefix) {
			continue
		}
		if err := add(st); err != nil {
			return nil, false, malformed("%v", err)
		}
	}
	for _, st := range ours {
		b, err := json.Marshal(st)
		if err != nil {
			return nil, false, fmt.Errorf("policy: encode statement %q: %w", st.Sid, err)
		}
		if err := add(b); err != nil {
			return nil, false, err
		}
	}
	stmts.WriteByte(']')

	var out bytes.Buffer
	out.WriteByte('{')
	wroteStatement := false
	for i, k := range p.keys {
		if i > 0 {
			out.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		out.Write(key)
		out.WriteByte(':')
		if k == "Statement" {
			out.Write(stmts.Bytes())
			wroteStatement = true
			continue
		}
		if err := json.Compact(&out, p.values[i]); err != nil {
			return nil, false, malformed("%v", err)
		}
	}
	if !wroteStatement {
		out.WriteString(`,"Statement":`)
		out.Write(stmts.Bytes())
	}
	out.WriteByte('}')
	return out.Bytes(), n == 0, nil
}
