package policy

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestEquivalent(t *testing.T) {
	t.Parallel()
	translated, _ := json.Marshal(Translate(Input{
		Bucket: "b", SidPrefix: "P", Authenticated: []Permission{Read, CreateAndUpdate, Delete},
	}).AuthRole)

	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{
			"identical", `{"Version":"2012-10-17","Statement":[]}`, `{"Version":"2012-10-17","Statement":[]}`, true,
		},
		{
			"string vs one-element array",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]}]}`,
			true,
		},
		{
			"reordered keys and white space",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["r"]}]}`,
			"{\n \"Statement\" : [ {\"Resource\":[\"r\"], \"Action\":[\"s3:GetObject\"], \"Effect\":\"Allow\"} ],\n \"Version\":\"2012-10-17\"}",
			true,
		},
		{
			"reordered and repeated action and resource sets",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":["a","b"]}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:GetObject"],"Resource":["b","a"]}]}`,
			true,
		},
		{
			"reordered statements",
			`{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"x","Resource":"r"},{"Sid":"B","Effect":"Deny","Action":"y","Resource":"r"}]}`,
			`{"Version":"2012-10-17","Statement":[{"Sid":"B","Effect":"Deny","Action":"y","Resource":"r"},{"Sid":"A","Effect":"Allow","Action":"x","Resource":"r"}]}`,
			true,
		},
		{
			"single statement object vs array",
			`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"x","Resource":"r"}}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["x"],"Resource":["r"]}]}`,
			true,
		},
		{
			"condition values as sets, bool as text",
			`{"Statement":[{"Effect":"Allow","Action":"x","Resource":"r","Condition":{"StringLike":{"s3:prefix":["b/","a/"]},"Bool":{"aws:SecureTransport":false}}}]}`,
			`{"Statement":[{"Effect":"Allow","Action":"x","Resource":"r","Condition":{"Bool":{"aws:SecureTransport":"false"},"StringLike":{"s3:prefix":["a/","b/"]}}}]}`,
			true,
		},
		{
			"principal values as sets",
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:2","arn:1"]},"Action":"x","Resource":"r"}]}`,
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:1","arn:2"]},"Action":"x","Resource":"r"}]}`,
			true,
		},
		{
			"translated document vs its reordered round trip",
			string(translated),
			reorderedAuthDocument,
			true,
		},
		{
			"different action",
			`{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"r"}]}`,
			`{"Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"r"}]}`,
			false,
		},
		{
			"extra action",
			`{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"r"}]}`,
			`{"Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:DeleteObject"],"Resource":"r"}]}`,
			false,
		},
		{
			"different effect",
			`{"Statement":[{"Effect":"Allow","Action":"x","Resource":"r"}]}`,
			`{"Statement":[{"Effect":"Deny","Action":"x","Resource":"r"}]}`,
			false,
		},
		{
			"different Sid",
			`{"Statement":[{"Sid":"A","Effect":"Allow","Action":"x","Resource":"r"}]}`,
			`{"Statement":[{"Sid":"B","Effect":"Allow","Action":"x","Resource":"r"}]}`,
			false,
		},
		{
			"extra statement",
			`{"Statement":[{"Effect":"Allow","Action":"x","Resource":"r"}]}`,
			`{"Statement":[{"Effect":"Allow","Action":"x","Resource":"r"},{"Effect":"Allow","Action":"y","Resource":"r"}]}`,
			false,
		},
		{
			"different condition prefix",
			`{"Statement":[{"Effect":"Allow","Action":"x","Resource":"r","Condition":{"StringLike":{"s3:prefix":"public/"}}}]}`,
			`{"Statement":[{"Effect":"Allow","Action":"x","Resource":"r","Condition":{"StringLike":{"s3:prefix":"private/"}}}]}`,
			false,
		},
		{
			"Action vs NotAction",
			`{"Statement":[{"Effect":"Allow","Action":"x","Resource":"r"}]}`,
			`{"Statement":[{"Effect":"Allow","NotAction":"x","Resource":"r"}]}`,
			false,
		},
		{
			"star principal is not the AWS star",
			`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"x","Resource":"r"}]}`,
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"x","Resource":"r"}]}`,
			false,
		},
		{
			"different Version",
			`{"Version":"2012-10-17","Statement":[]}`,
			`{"Version":"2008-10-17","Statement":[]}`,
			false,
		},
		{"malformed first", `{"Statement":[`, `{"Statement":[]}`, false},
		{"malformed second", `{"Statement":[]}`, `nope`, false},
		{"not an object", `[]`, `[]`, false},
		{"trailing data", `{} {}`, `{}`, false},
		{"statement not an object", `{"Statement":[1]}`, `{"Statement":[1]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Equivalent([]byte(tt.a), []byte(tt.b)); got != tt.want {
				t.Errorf("Equivalent(a, b) = %v, want %v", got, tt.want)
			}
			if got := Equivalent([]byte(tt.b), []byte(tt.a)); got != tt.want {
				t.Errorf("Equivalent(b, a) = %v, want %v", got, tt.want)
			}
		})
	}
}

// reorderedAuthDocument is Translate's auth document for all permissions as a
// target might hand it back: statements, keys and lists reordered, single
// elements as strings.
const reorderedAuthDocument = `{
  "Statement": [
    {"Sid": "PList", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
     "Condition": {"StringLike": {"s3:prefix": ["private/${cognito-identity.amazonaws.com:sub}/*", "private/${cognito-identity.amazonaws.com:sub}/", "protected/*", "protected/", "public/*", "public/"]}}},
    {"Resource": "arn:aws:s3:::b/public/*", "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], "Effect": "Allow", "Sid": "PPublic"},
    {"Sid": "PPrivate", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": "arn:aws:s3:::b/private/${cognito-identity.amazonaws.com:sub}/*"},
    {"Sid": "PProtected", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"], "Resource": ["arn:aws:s3:::b/protected/${cognito-identity.amazonaws.com:sub}/*"]},
    {"Sid": "PReadProtected", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/protected/*"},
    {"Sid": "PUploads", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/uploads/*"}
  ],
  "Version": "2012-10-17"
}`

func TestDecodeDocument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"URL-encoded", `%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D`, `{"Version":"2012-10-17","Statement":[]}`},
		{"URL-encoded with newlines and spaces", `%7B%0A%20%20%22Version%22%3A%20%222012-10-17%22%0A%7D`, "{\n  \"Version\": \"2012-10-17\"\n}"},
		{"literal plus stays plus", `%7B%22Sid%22%3A%22a+b%22%7D`, `{"Sid":"a+b"}`},
		{"encoded plus", `%7B%22Sid%22%3A%22a%2Bb%22%7D`, `{"Sid":"a+b"}`},
		{"raw JSON passes through", ` {"Sid":"a+b %41"} `, `{"Sid":"a+b %41"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeDocument(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("DecodeDocument = %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "%7B%zz", "hello", "%7B%22Sid%22"} {
		if _, err := DecodeDocument(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeDocument(%q) error = %v, want ErrMalformed", bad, err)
		}
	}
}
