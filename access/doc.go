// Package access decides what a caller may do: it parses the IAM-style
// policy document each API key carries and evaluates it for one action on
// one or more resource ARNs, as IAM's evaluation logic documents it: an
// explicit Deny wins, then an Allow, and anything no statement allows is
// denied (implicit deny).
//
// It knows nothing of HTTP, keys or the store. The handlers name the
// action of each route and the ARNs of what it touches (see Scope); the
// key files hold the documents; this package only says yes or no, and
// which statement said so.
//
// Actions are the service prefix "amplifybackend" and an operation name
// (amplifybackend:CreateBackendStorage), matched without regard to case,
// as IAM matches them. Resources are ARNs in the formats of the service
// authorization reference for AWS Amplify Admin, built by Scope, and
// matched with case. In both, "*" matches any run of characters and "?"
// any one character.
//
// Names inside an ARN are escaped (Scope.Segment) so that a name holding
// "/" cannot pose as a path of the ARN: a key allowed /backend/app1/*
// is not thereby allowed an app whose id is "app1/x".
package access
