package access

import (
	"fmt"
	"strings"
)

// Effect is the outcome of evaluating a policy for one action on one
// resource.
type Effect int

const (
	// ImplicitDeny: no statement allows the action on the resource.
	ImplicitDeny Effect = iota
	// Allow: a statement allows it and none denies it.
	Allow
	// ExplicitDeny: a Deny statement names it; no Allow can undo that.
	ExplicitDeny
)

func (e Effect) String() string {
	switch e {
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "ImplicitDeny"
}

// Decision is an Effect and the statement that decided it (none for an
// implicit deny).
type Decision struct {
	Effect Effect
	// Statement is the deciding statement's Sid, or "Statement[i]" when it
	// has none; empty for an implicit deny.
	Statement string
}

// Decide evaluates p for action ("amplifybackend:Name") on resource (an
// ARN, or "*" for an action that names no resource).
func (p *Policy) Decide(action, resource string) Decision {
	d := p.decide(strings.ToLower(action), resource)
	if p.limit == nil || d.Effect == ExplicitDeny {
		return d
	}
	l := p.limit.Decide(action, resource)
	switch {
	case l.Effect == ExplicitDeny:
		return l
	case l.Effect == ImplicitDeny:
		return Decision{}
	}
	return d
}

// Within returns a policy that allows only what both p and limit allow:
// what a sign-in session may do is what the key that invited it may do,
// narrowed to one app. Both are evaluated when asked, so a later change
// to either applies at once.
func (p *Policy) Within(limit *Policy) *Policy {
	return &Policy{statements: p.statements, doc: p.doc, limit: limit}
}

func (p *Policy) decide(action, resource string) Decision {
	var d Decision
	for _, st := range p.statements {
		if !st.matches(action, resource) {
			continue
		}
		if st.deny {
			return Decision{Effect: ExplicitDeny, Statement: st.name()}
		}
		if d.Effect == ImplicitDeny {
			d = Decision{Effect: Allow, Statement: st.name()}
		}
	}
	return d
}

// Allows reports whether p allows action on resource.
func (p *Policy) Allows(action, resource string) bool {
	return p.Decide(action, resource).Effect == Allow
}

// Authorize checks that p allows action on every one of resources (a
// call is allowed only if everything it touches is), and returns a
// *DeniedError naming the first resource that is not allowed.
func (p *Policy) Authorize(action string, resources ...string) error {
	for _, r := range resources {
		if d := p.Decide(action, r); d.Effect != Allow {
			return &DeniedError{Action: action, Resource: r, Decision: d}
		}
	}
	return nil
}

// DeniedError is a refused authorization.
type DeniedError struct {
	Action   string
	Resource string
	Decision Decision
}

func (e *DeniedError) Error() string {
	how := "no statement allows it"
	if e.Decision.Effect == ExplicitDeny {
		how = "denied explicitly by " + e.Decision.Statement
	}
	return fmt.Sprintf("%s on %s: %s", e.Action, e.Resource, how)
}

func (st statement) matches(action, resource string) bool {
	return anyMatch(st.actions, action) && anyMatch(st.resources, resource)
}

func anyMatch(patterns []string, s string) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

func (st statement) name() string {
	if st.sid != "" {
		return st.sid
	}
	return fmt.Sprintf("Statement[%d]", st.index)
}
