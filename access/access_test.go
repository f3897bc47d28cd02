package access

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "anything/at:all", true},
		{"", "", true},
		{"", "a", false},
		{"a*c", "abbbc", true},
		{"a*c", "abbb", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a?c", "aéc", true}, // ? is a character, not a byte
		{"arn:*:/backend/app1/*", "arn:aws:amplifybackend:us-east-1:000000000000:/backend/app1/", true},
		{"arn:*:/backend/app1/*", "arn:aws:amplifybackend:us-east-1:000000000000:/backend/app10/", false},
		{"*a*a*a*b", strings.Repeat("a", 200), false},
		{"**", "x", true},
		{"a*", "a", true},
	} {
		if got := match(c.p, c.s); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

// globRegexp is the matcher's reference: the same glob as a regular
// expression, which the fuzz test holds match to.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"*", ""}, {"a?c", "abc"}, {"a*b*c", "aXbYc"}, {"*/x", "a/b/x"}, {"?é", "aé"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if !isUTF8(p) || !isUTF8(s) {
			return
		}
		if got, want := match(p, s), globRegexp(p).MatchString(s); got != want {
			t.Fatalf("match(%q, %q) = %v, the reference says %v", p, s, got, want)
		}
	})
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestParseRefusesWithTheElementAndRule(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ doc, want string }{
		{`[]`, "not a JSON object"},
		{`{"Statement":[]} x`, "text after the JSON value"},
		{`{"Version":"2012-10-17"}`, "no Statement"},
		{`{"Version":"2020-01-01","Statement":[]}`, `Version must be "2012-10-17"`},
		{`{"Statement":{"Effect":"Allow","Action":"*"}}`, "Statement[0].Resource is missing"},
		{`{"Statement":[{"Effect":"Permit","Action":"*","Resource":"*"}]}`, `Statement[0].Effect must be "Allow" or "Deny"`},
		{`{"Statement":[{"Action":"*","Resource":"*"}]}`, "Statement[0] has no Effect"},
		{`{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`, `Statement[0].Action[0] "s3:GetObject" is not an action of this service`},
		{`{"Statement":[{"Effect":"Allow","Action":"amplifybackend:CreateBackendStorge","Resource":"*"}]}`, `"amplifybackend:CreateBackendStorge" matches no action`},
		{`{"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}`, "Statement[0].Action must not be an empty list"},
		{`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"backend/app1"}]}`, `Statement[0].Resource[0] "backend/app1" is neither "*" nor an ARN`},
		{`{"Statement":[{"Effect":"Allow","NotAction":"*","Resource":"*"}]}`, "Statement[0].NotAction is not supported"},
		{`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]}`, "Statement[0].Condition is not supported"},
		{`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Colour":"red"}]}`, `Statement[0] has an element "Colour"`},
		{`{"Statement":[],"Extra":1}`, `has an element "Extra"`},
		{`{"Statement":[{"Effect":"Allow","Action":"*","Resource":[""]}]}`, "Statement[0].Resource[0] must not be empty"},
		{`{"Statement":[{"Effect":"Allow","Action":7,"Resource":"*"}]}`, "Statement[0].Action must be a string or a list of strings"},
		{`{"Statement":[` + strings.Repeat(" ", MaxDocumentBytes) + `]}`, "at most"},
	} {
		_, err := Parse([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%.80s) = %v, want an error containing %q", c.doc, err, c.want)
		}
	}
}

// TestDecisions is the evaluation table: explicit deny over allow over
// implicit deny, actions without case, resources with it.
func TestDecisions(t *testing.T) {
	t.Parallel()
	s := Scope{Region: "us-east-1"}
	p := MustParse([]byte(`{"Version":"2012-10-17","Statement":[
		{"Sid":"App1","Effect":"Allow","Action":"amplifybackend:*","Resource":"arn:aws:amplifybackend:*:*:/backend/app1/*"},
		{"Sid":"NoProdDeletes","Effect":"Deny","Action":["amplifybackend:Delete*","amplifybackend:RemoveAllBackends"],"Resource":["arn:aws:amplifybackend:*:*:/backend/app1/environments/prod","arn:aws:amplifybackend:*:*:/backend/app1/"]},
		{"Effect":"Allow","Action":"amplifybackend:lists3buckets","Resource":"*"}
	]}`))
	for _, c := range []struct {
		action, resource string
		want             Decision
	}{
		{"amplifybackend:CreateBackendStorage", s.Environment("app1", "dev"), Decision{Allow, "App1"}},
		{"AMPLIFYBACKEND:createbackendstorage", s.Environment("app1", "dev"), Decision{Allow, "App1"}},
		{"amplifybackend:DeleteBackendStorage", s.Environment("app1", "prod"), Decision{ExplicitDeny, "NoProdDeletes"}},
		{"amplifybackend:DeleteBackendStorage", s.Environment("app1", "dev"), Decision{Allow, "App1"}},
		{"amplifybackend:RemoveAllBackends", s.App("app1"), Decision{ExplicitDeny, "NoProdDeletes"}},
		{"amplifybackend:GetBackend", s.App("app1"), Decision{Allow, "App1"}},
		{"amplifybackend:GetBackendJob", s.Job("app1", "dev", "j1"), Decision{Allow, "App1"}},
		{"amplifybackend:GetBackend", s.App("app2"), Decision{}},
		{"amplifybackend:GetBackend", s.App("App1"), Decision{}}, // resources match with case
		{"amplifybackend:GetBackend", s.App("app1/x"), Decision{}},
		{"amplifybackend:GetBackend", s.App("app10"), Decision{}},
		{"amplifybackend:ListS3Buckets", AnyResource, Decision{Allow, "Statement[2]"}},
		{"amplifybackend:GetConsoleSystem", AnyResource, Decision{}}, // …/backend/app1/* does not cover "*"
	} {
		if got := p.Decide(c.action, c.resource); got != c.want {
			t.Errorf("Decide(%s, %s) = %+v, want %+v", c.action, c.resource, got, c.want)
		}
	}
	err := p.Authorize("amplifybackend:RemoveAllBackends", s.Environment("app1", "dev"), s.Environment("app1", "prod"))
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Resource != s.Environment("app1", "prod") || denied.Decision.Effect != ExplicitDeny {
		t.Fatalf("Authorize over two environments = %v, want the prod one denied explicitly", err)
	}
	if err := p.Authorize("amplifybackend:GetBackend", s.App("app1"), s.Environment("app1", "dev")); err != nil {
		t.Fatalf("Authorize = %v", err)
	}
	if (&Policy{}).Allows("amplifybackend:GetBackend", AnyResource) {
		t.Fatal("an empty policy allows something")
	}
}

func TestSegmentKeepsNamesInTheirPlace(t *testing.T) {
	t.Parallel()
	s := Scope{Region: "r", Account: "123456789012"}
	if got, want := s.Environment("a/b*", "e?%"), "arn:aws:amplifybackend:r:123456789012:/backend/a%2Fb%2A/environments/e%3F%25"; got != want {
		t.Fatalf("Environment = %q, want %q", got, want)
	}
	app1 := MustParse(AppDocument("app1", false))
	for _, app := range []string{"app1/environments/dev", "app1/x", "app1*"} {
		if app1.Allows(Action("GetBackend"), s.App(app)) {
			t.Errorf("a key of app1 may act on app %q", app)
		}
	}
}

// TestTemplates compares the documents keys create writes with
// testdata/templates.golden.json, and checks each means what it says.
func TestTemplates(t *testing.T) {
	t.Parallel()
	docs := map[string]json.RawMessage{
		"administrator":        json.RawMessage(AdministratorDocument),
		"app-full app1":        AppDocument("app1", false),
		"app-read-only app1":   AppDocument("app1", true),
		"env-storage app1 dev": EnvironmentStorageDocument("app1", "dev"),
	}
	got, err := json.MarshalIndent(docs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "templates.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Fatalf("templates differ from %s (go test ./access -update rewrites it):\n%s", golden, got)
	}
	s := Scope{Region: "eu-west-1", Account: "111122223333"}
	ro, full, env := MustParse(docs["app-read-only app1"]), MustParse(docs["app-full app1"]), MustParse(docs["env-storage app1 dev"])
	for _, c := range []struct {
		p        *Policy
		action   string
		resource string
		want     bool
	}{
		{ro, "GetBackendStorage", s.Environment("app1", "dev"), true},
		{ro, "ListBackendJobs", s.Job("app1", "dev", "") + "x", true},
		{ro, "CreateBackendStorage", s.Environment("app1", "dev"), false},
		{ro, "GetToken", s.App("app1"), false},
		{ro, "GetBackend", s.App("app2"), false},
		{full, "RemoveAllBackends", s.App("app1"), true},
		{full, "CreateBackendStorage", s.Environment("app2", "dev"), false},
		{full, "ListS3Buckets", AnyResource, false},
		{env, "CreateBackendStorage", s.Environment("app1", "dev"), true},
		{env, "UpdateBackendJob", s.Job("app1", "dev", "j"), true},
		{env, "CreateBackendStorage", s.Environment("app1", "prod"), false},
		{env, "DeleteBackend", s.Environment("app1", "dev"), false},
		{env, "CompleteConsoleMultipartUpload", s.Environment("app1", "dev"), true},
		{ro, "ListConsoleObjects", s.Environment("app1", "dev"), true},
		{ro, "DeleteConsoleObjects", s.Environment("app1", "dev"), false},
		{env, "GetBackend", s.App("app1"), false},
	} {
		if got := c.p.Allows(Action(c.action), c.resource); got != c.want {
			t.Errorf("%s on %s: allowed %v, want %v", c.action, c.resource, got, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(AdministratorDocument))
	f.Add(AppDocument("app1", true))
	f.Add(EnvironmentStorageDocument("a", "b"))
	f.Add([]byte(`{"Statement":{"Effect":"Deny","Action":["amplifybackend:Get?ackend*"],"Resource":"arn:*"}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := Parse(doc)
		if err != nil {
			return
		}
		again, err := Parse(p.Document())
		if err != nil {
			t.Fatalf("the document of a parsed policy does not parse: %v", err)
		}
		for _, a := range []string{"amplifybackend:GetBackend", "amplifybackend:DeleteBackendStorage"} {
			for _, r := range []string{AnyResource, Scope{Region: "r"}.App("a"), Scope{Region: "r"}.Environment("a", "b")} {
				if p.Decide(a, r) != again.Decide(a, r) {
					t.Fatalf("the compacted document decides %s on %s differently", a, r)
				}
			}
		}
	})
}

func TestWithinAllowsOnlyWhatBothAllow(t *testing.T) {
	t.Parallel()
	s := Scope{Region: "r"}
	creator := MustParse([]byte(`{"Statement":[
		{"Effect":"Allow","Action":"amplifybackend:*","Resource":"*"},
		{"Sid":"KeepProd","Effect":"Deny","Action":"amplifybackend:Delete*","Resource":"arn:aws:amplifybackend:*:*:/backend/app1/environments/prod"}]}`))
	session := MustParse(AppDocument("app1", false)).Within(creator)
	for _, c := range []struct {
		action, resource string
		want             Effect
	}{
		{"amplifybackend:CreateBackendStorage", s.Environment("app1", "dev"), Allow},
		{"amplifybackend:CreateBackendStorage", s.Environment("app2", "dev"), ImplicitDeny},
		{"amplifybackend:DeleteBackendStorage", s.Environment("app1", "prod"), ExplicitDeny},
		{"amplifybackend:ListS3Buckets", AnyResource, ImplicitDeny},
	} {
		if got := session.Decide(c.action, c.resource).Effect; got != c.want {
			t.Errorf("%s on %s = %v, want %v", c.action, c.resource, got, c.want)
		}
	}
	readOnly := MustParse(AppDocument("app1", false)).Within(MustParse(AppDocument("app1", true)))
	if readOnly.Allows("amplifybackend:CreateBackendStorage", s.Environment("app1", "dev")) {
		t.Fatal("a session invited by a read-only key may write")
	}
}
