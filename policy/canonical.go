package policy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
)

// Equivalent reports whether two policy documents grant the same thing, so a
// reconcile step can write only on drift. Targets hand documents back in a
// different shape than they were written: a one-element array as a string,
// keys reordered, lists reordered. Both documents are canonicalised first:
//
//   - object keys are sorted (by re-encoding);
//   - "Statement" may be one object or an array, and is compared as a set of
//     statements, since IAM evaluates statements without regard to order;
//   - Action, NotAction, Resource, NotResource, the values of a Principal or
//     NotPrincipal object and every condition value list are compared as sets
//     of strings, a single string being a one-element set; numbers and
//     booleans in those lists count as their text, as IAM compares them.
//
// Anything else (Version, Sid, Effect, case) must match exactly. A malformed
// document is never equivalent to anything, so the caller rewrites it.
func Equivalent(a, b []byte) bool {
	ca, ok := canonicalDocument(a)
	if !ok {
		return false
	}
	cb, ok := canonicalDocument(b)
	return ok && bytes.Equal(ca, cb)
}

func canonicalDocument(doc []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // keep 1 and 1.0 apart, and big numbers exact
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	if st, ok := top["Statement"]; ok {
		if top["Statement"], ok = canonicalStatements(st); !ok {
			return nil, false
		}
	}
	out, err := json.Marshal(top)
	return out, err == nil
}

func canonicalStatements(v any) (any, bool) {
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	for i, e := range list {
		st, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		canonicalStatement(st)
		list[i] = st
	}
	return canonicalSet(list), true
}

func canonicalStatement(st map[string]any) {
	for _, k := range []string{"Action", "NotAction", "Resource", "NotResource"} {
		if v, ok := st[k]; ok {
			st[k] = canonicalSet(asList(v))
		}
	}
	for _, k := range []string{"Principal", "NotPrincipal"} {
		// "*" stays a string: it is not the same as {"AWS": "*"}.
		if m, ok := st[k].(map[string]any); ok {
			for kind, v := range m {
				m[kind] = canonicalSet(asList(v))
			}
		}
	}
	if cond, ok := st["Condition"].(map[string]any); ok {
		for _, keys := range cond {
			if keys, ok := keys.(map[string]any); ok {
				for k, v := range keys {
					keys[k] = canonicalSet(asList(v))
				}
			}
		}
	}
}

func asList(v any) []any {
	if list, ok := v.([]any); ok {
		return list
	}
	return []any{v}
}

// canonicalSet turns a list into a sorted list without duplicates. Scalars
// become their text; anything else is ordered by its canonical encoding.
func canonicalSet(list []any) []any {
	type keyed struct {
		key string
		v   any
	}
	ks := make([]keyed, 0, len(list))
	for _, e := range list {
		if text, ok := scalarText(e); ok {
			e = text
		}
		b, err := json.Marshal(e)
		if err != nil {
			b = nil
		}
		ks = append(ks, keyed{string(b), e})
	}
	slices.SortFunc(ks, func(x, y keyed) int { return strings.Compare(x.key, y.key) })
	ks = slices.CompactFunc(ks, func(x, y keyed) bool { return x.key == y.key })
	out := make([]any, len(ks))
	for i, k := range ks {
		out[i] = k.v
	}
	return out
}

// DecodeDocument turns a policy document as an IAM API returned it into JSON.
// AWS and versitygw URL-encode the documents in GetRolePolicy and GetRole
// answers (RFC 3986), Ceph RGW does not; a JSON document starts with '{', an
// encoded one cannot. The decoding is url.PathUnescape, never QueryUnescape,
// which would turn a literal '+' (as in a policy name or condition value)
// into a space. The result is checked to be JSON.
func DecodeDocument(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, malformed("URL encoding: %v", err)
		}
		s = strings.TrimSpace(u)
	}
	if !json.Valid([]byte(s)) {
		return nil, malformed("not JSON")
	}
	return []byte(s), nil
}
