package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// testPrefix and otherPrefix are two resources' prefixes in the same bucket.
var (
	testPrefix  = SidPrefix("app1", "dev", "photos")
	otherPrefix = SidPrefix("app1", "dev", "videos")
)

// Foreign statements as other writers leave them: fields we do not model,
// NotPrincipal, a string-valued Action, a single-string Resource, no Sid, odd
// spacing and escapes that must survive.
const (
	foreignDeny = `{"Sid":"DenyInsecure","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"Bool":{"aws:SecureTransport":false}}}`
	foreignNot  = `{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::1:root"},"NotAction":"s3:GetObject","Resource":"arn:aws:s3:::b/x/*","Future":{"a":[1,2.50,"\u003c"]}}`
)

func ourStatement(sid string) Statement {
	return Statement{Sid: sid, Effect: "Allow", Principal: "*", Action: Strings{"s3:GetObject"}, Resource: Strings{"arn:aws:s3:::b/public/*"}}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMergeBucketPolicy(t *testing.T) {
	t.Parallel()
	oldOurs := mustJSON(t, ourStatement(testPrefix+"GuestPublic"))
	oldOursList := mustJSON(t, ourStatement(testPrefix+"GuestList"))
	sibling := mustJSON(t, ourStatement(otherPrefix+"GuestPublic"))
	newOurs := []Statement{ourStatement(testPrefix + "GuestPublic"), ourStatement(testPrefix + "GuestUploads")}
	newOursJSON := mustJSON(t, newOurs[0]) + "," + mustJSON(t, newOurs[1])

	tests := []struct {
		name      string
		existing  string
		prefix    string
		ours      []Statement
		want      string
		wantEmpty bool
	}{
		{
			name:     "no policy yet",
			existing: "",
			prefix:   testPrefix,
			ours:     newOurs,
			want:     `{"Version":"2012-10-17","Statement":[` + newOursJSON + `]}`,
		},
		{
			name:      "no policy and nothing to add",
			existing:  "  \n",
			prefix:    testPrefix,
			want:      `{"Version":"2012-10-17","Statement":[]}`,
			wantEmpty: true,
		},
		{
			name: "foreign statements, Id and key order kept; ours replaced",
			existing: `{
				"Id": "keep-me",
				"Statement": [` + foreignDeny + `, ` + oldOurs + `,
					` + foreignNot + `, ` + sibling + `, ` + oldOursList + `],
				"Version": "2012-10-17"
			}`,
			prefix: testPrefix,
			ours:   newOurs,
			want:   `{"Id":"keep-me","Statement":[` + foreignDeny + `,` + foreignNot + `,` + sibling + `,` + newOursJSON + `],"Version":"2012-10-17"}`,
		},
		{
			name:      "only ours, now none",
			existing:  `{"Version":"2012-10-17","Statement":[` + oldOurs + `,` + oldOursList + `]}`,
			prefix:    testPrefix,
			want:      `{"Version":"2012-10-17","Statement":[]}`,
			wantEmpty: true,
		},
		{
			name:     "only ours, now none, sibling resource stays",
			existing: `{"Version":"2012-10-17","Statement":[` + oldOurs + `,` + sibling + `]}`,
			prefix:   testPrefix,
			want:     `{"Version":"2012-10-17","Statement":[` + sibling + `]}`,
		},
		{
			name:     "single-object Statement",
			existing: `{"Version":"2012-10-17","Statement":` + foreignDeny + `}`,
			prefix:   testPrefix,
			ours:     newOurs[:1],
			want:     `{"Version":"2012-10-17","Statement":[` + foreignDeny + `,` + mustJSON(t, newOurs[0]) + `]}`,
		},
		{
			name:     "no Statement key",
			existing: `{"Version":"2012-10-17","Id":"x"}`,
			prefix:   testPrefix,
			ours:     newOurs[:1],
			want:     `{"Version":"2012-10-17","Id":"x","Statement":[` + mustJSON(t, newOurs[0]) + `]}`,
		},
		{
			name:     "missing Version left alone",
			existing: `{"Statement":[` + foreignDeny + `]}`,
			prefix:   testPrefix,
			want:     `{"Statement":[` + foreignDeny + `]}`,
		},
		{
			name:     "Sid matched case-sensitively",
			existing: `{"Version":"2012-10-17","Statement":[{"sid":"` + testPrefix + `Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
			prefix:   testPrefix,
			want:     `{"Version":"2012-10-17","Statement":[{"sid":"` + testPrefix + `Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
		},
		{
			name:     "empty prefix owns nothing",
			existing: `{"Version":"2012-10-17","Statement":[` + foreignDeny + `,` + foreignNot + `]}`,
			prefix:   "",
			want:     `{"Version":"2012-10-17","Statement":[` + foreignDeny + `,` + foreignNot + `]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, empty, err := MergeBucketPolicy([]byte(tt.existing), tt.prefix, tt.ours)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("merged\n got %s\nwant %s", got, tt.want)
			}
			if empty != tt.wantEmpty {
				t.Errorf("empty = %v, want %v", empty, tt.wantEmpty)
			}
			if !json.Valid(got) {
				t.Errorf("merged document is not JSON: %s", got)
			}

			// Run twice: merging the result again must change nothing, the
			// property reconcile relies on to make no write the second time.
			again, _, err := MergeBucketPolicy(got, tt.prefix, tt.ours)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, got) {
				t.Errorf("second merge differs:\n%s\n%s", got, again)
			}
		})
	}
}

func TestMergeBucketPolicyMalformed(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`not json`,
		`null`,
		`[]`,
		`"policy"`,
		`{"Version":"2012-10-17"`,
		`{"Version":"2012-10-17"} {}`,
		`{"Version":"2012-10-17","Statement":"s3:*"}`,
		`{"Version":"2012-10-17","Statement":[1]}`,
		`{"Version":"2012-10-17","Statement":[{"Sid":7}]}`,
		`{"Statement":[],"Statement":[]}`,
	} {
		t.Run(doc, func(t *testing.T) {
			t.Parallel()
			_, _, err := MergeBucketPolicy([]byte(doc), testPrefix, []Statement{ourStatement(testPrefix + "GuestPublic")})
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("MergeBucketPolicy error = %v, want ErrMalformed", err)
			}
			if _, err := ourStatements([]byte(doc), testPrefix); !errors.Is(err, ErrMalformed) {
				t.Errorf("OurStatements error = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestOurStatements(t *testing.T) {
	t.Parallel()
	doc := `{"Version":"2012-10-17","Statement":[` + strings.Join([]string{
		foreignDeny,
		mustJSON(t, ourStatement(testPrefix+"GuestPublic")),
		foreignNot,
		mustJSON(t, ourStatement(otherPrefix+"GuestPublic")),
		mustJSON(t, ourStatement(testPrefix+"GuestList")),
	}, ",") + `]}`
	tests := []struct {
		name   string
		doc    string
		prefix string
		want   int
	}{
		{"ours among others", doc, testPrefix, 2},
		{"sibling resource", doc, otherPrefix, 1},
		{"resource with none", doc, SidPrefix("app1", "prod", "photos"), 0},
		{"empty prefix owns nothing", doc, "", 0},
		{"no policy", "", testPrefix, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ourStatements([]byte(tt.doc), tt.prefix)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("OurStatements = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestMergeTranslatedRoundTrip runs the path the bucket step takes: translate,
// merge into a policy with foreign statements, then remove (merge nothing).
func TestMergeTranslatedRoundTrip(t *testing.T) {
	t.Parallel()
	d := Translate(Input{Bucket: "b", SidPrefix: testPrefix, Unauthenticated: []Permission{Read, CreateAndUpdate}, PublicGuestAccess: true})
	start := `{"Version":"2012-10-17","Statement":[` + foreignDeny + `]}`
	merged, empty, err := MergeBucketPolicy([]byte(start), testPrefix, d.Bucket)
	if err != nil || empty {
		t.Fatalf("merge: empty=%v err=%v", empty, err)
	}
	if n, err := ourStatements(merged, testPrefix); err != nil || n != len(d.Bucket) {
		t.Fatalf("OurStatements = %d, %v; want %d", n, err, len(d.Bucket))
	}
	removed, empty, err := MergeBucketPolicy(merged, testPrefix, nil)
	if err != nil || empty {
		t.Fatalf("remove: empty=%v err=%v", empty, err)
	}
	if string(removed) != start {
		t.Errorf("after removal\n got %s\nwant %s", removed, start)
	}
}

// ourStatements counts the statements in doc whose Sid starts with
// sidPrefix; an empty doc holds none.
func ourStatements(doc []byte, sidPrefix string) (int, error) {
	p, err := parseRawPolicy(doc)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, st := range p.statements {
		if sid, _ := statementSid(st); owned(sid, sidPrefix) {
			n++
		}
	}
	return n, nil
}
