package policy

import (
	"bytes"
	"encoding/json"
	"regexp"
)

// resourceVariable matches an IAM policy variable with a ':' in its name,
// such as ${aws:username} or ${cognito-identity.amazonaws.com:sub}.
var resourceVariable = regexp.MustCompile(`\$\{[^}]*:[^}]*\}`)

// WithoutResourceVariables returns doc with every Resource entry that holds
// a policy variable removed from its Allow statement, and Allow statements
// left without a resource (or with such a NotResource) removed: the form a
// target that cannot store policy variables in resources (Ceph RGW 16.2)
// gets instead. It only ever grants less. It reports false when nothing
// would change, when a Deny statement uses a variable (leaving it out would
// grant more) or when no statement would be left. Conditions are kept as
// they are: such targets store variables in condition values.
func WithoutResourceVariables(doc []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var top map[string]any
	if dec.Decode(&top) != nil {
		return nil, false
	}
	list := asList(top["Statement"])
	changed := false
	kept := make([]any, 0, len(list))
	for _, e := range list {
		st, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		if hasVariable(st["NotResource"]) {
			if st["Effect"] != "Allow" {
				return nil, false
			}
			changed = true
			continue
		}
		if !hasVariable(st["Resource"]) {
			kept = append(kept, st)
			continue
		}
		if st["Effect"] != "Allow" {
			return nil, false
		}
		changed = true
		var rest []any
		for _, r := range asList(st["Resource"]) {
			if s, ok := r.(string); !ok || !resourceVariable.MatchString(s) {
				rest = append(rest, r)
			}
		}
		if len(rest) > 0 {
			st["Resource"] = rest
			kept = append(kept, st)
		}
	}
	if !changed || len(kept) == 0 {
		return nil, false
	}
	top["Statement"] = kept
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // keep '&', '<' and '>' as written
	if enc.Encode(top) != nil {
		return nil, false
	}
	return bytes.TrimSpace(out.Bytes()), true
}

// EquivalentNarrowed reports whether stored is want as a target that cannot
// store policy variables in resources keeps it: what such a target holds
// after want was written, so a reconcile need not write it again.
func EquivalentNarrowed(stored, want []byte) bool {
	narrowed, ok := WithoutResourceVariables(want)
	return ok && Equivalent(stored, narrowed)
}

func hasVariable(v any) bool {
	if v == nil {
		return false
	}
	for _, r := range asList(v) {
		if s, ok := r.(string); ok && resourceVariable.MatchString(s) {
			return true
		}
	}
	return false
}
