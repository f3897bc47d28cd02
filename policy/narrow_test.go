package policy

import (
	"testing"
)

func TestWithoutResourceVariables(t *testing.T) {
	t.Parallel()
	const sub = "${cognito-identity.amazonaws.com:sub}"
	for _, tt := range []struct {
		name, doc, want string
		ok              bool
	}{
		{
			name: "variables dropped, the rest kept in order, conditions untouched",
			doc: `{"Version":"2012-10-17","Statement":[` +
				`{"Sid":"Public","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/public/*"},` +
				`{"Sid":"Private","Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b/private/` + sub + `/*"]},` +
				`{"Sid":"Mixed","Effect":"Allow","Action":"s3:PutObject","Resource":["arn:aws:s3:::b/private/` + sub + `/*","arn:aws:s3:::b/a&b/*"]},` +
				`{"Sid":"Not","Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::b/private/` + sub + `/*"},` +
				`{"Sid":"List","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":["private/` + sub + `/"]}}}]}`,
			want: `{"Version":"2012-10-17","Statement":[` +
				`{"Sid":"Public","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/public/*"},` +
				`{"Sid":"Mixed","Effect":"Allow","Action":"s3:PutObject","Resource":["arn:aws:s3:::b/a&b/*"]},` +
				`{"Sid":"List","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":["private/` + sub + `/"]}}}]}`,
			ok: true,
		},
		{name: "nothing to drop", doc: `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`},
		{name: "a deny with a variable stands", doc: `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/private/` + sub + `/*"}]}`},
		{name: "nothing would be left", doc: `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/private/` + sub + `/*"}]}`},
		{name: "not JSON", doc: `{"Statement":`},
		{name: "no statement", doc: `{"Version":"2012-10-17"}`},
	} {
		got, ok := WithoutResourceVariables([]byte(tt.doc))
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v (%s)", tt.name, ok, tt.ok, got)
			continue
		}
		if ok && !Equivalent(got, []byte(tt.want)) {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
		if ok != EquivalentNarrowed(got, []byte(tt.doc)) {
			t.Errorf("%s: EquivalentNarrowed(narrowed, doc) = %v", tt.name, !ok)
		}
		if EquivalentNarrowed([]byte(tt.doc), []byte(tt.doc)) {
			t.Errorf("%s: a document is its own narrowed form", tt.name)
		}
	}
}
