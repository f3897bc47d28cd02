package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const goldenBucket = "amplify-demo-bucket"

var goldenPrefix = SidPrefix("app1", "dev", "photos")

// subsets lists every subset of the three permissions, each in the canonical
// order READ, CREATE_AND_UPDATE, DELETE, the empty one first.
func subsets() [][]Permission {
	all := []Permission{Read, CreateAndUpdate, Delete}
	var out [][]Permission
	for mask := range 1 << len(all) {
		s := []Permission{}
		for i, p := range all {
			if mask&(1<<i) != 0 {
				s = append(s, p)
			}
		}
		out = append(out, s)
	}
	return out
}

func subsetName(ps []Permission) string {
	if len(ps) == 0 {
		return "none"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = string(p)
	}
	return strings.Join(names, "+")
}

// goldenFile is what one file under testdata/translate holds: the input, so a
// reader needs nothing else, and the three results.
type goldenFile struct {
	Input      Input       `json:"input"`
	AuthRole   *Document   `json:"authRole"`
	UnauthRole *Document   `json:"unauthRole"`
	Bucket     []Statement `json:"bucket"`
}

type goldenCase struct {
	path string
	in   Input
}

func goldenCases() []goldenCase {
	var cases []goldenCase
	for _, auth := range subsets() {
		for _, guest := range subsets() {
			cases = append(cases, goldenCase{
				path: filepath.Join("testdata", "translate", "auth-"+subsetName(auth)+"_guest-"+subsetName(guest)+".json"),
				in: Input{
					Bucket:            goldenBucket,
					SidPrefix:         goldenPrefix,
					Authenticated:     auth,
					Unauthenticated:   guest,
					PublicGuestAccess: true,
				},
			})
		}
	}
	return append(cases, goldenCase{
		path: filepath.Join("testdata", "translate", "no-public-guest-access.json"),
		in: Input{
			Bucket:          goldenBucket,
			SidPrefix:       goldenPrefix,
			Authenticated:   []Permission{Read, CreateAndUpdate, Delete},
			Unauthenticated: []Permission{Read, CreateAndUpdate},
		},
	})
}

func TestTranslateGolden(t *testing.T) {
	t.Parallel()
	for _, c := range goldenCases() {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			t.Parallel()
			d := Translate(c.in)
			got := goldenFile{Input: c.in, AuthRole: d.AuthRole, UnauthRole: d.UnauthRole, Bucket: d.Bucket}
			if got.Bucket == nil {
				got.Bucket = []Statement{}
			}
			checkGolden(t, c.path, got)
		})
	}
}

// TestTranslateGoldenNoStrayFiles keeps testdata honest: a golden file no case
// produces any more would otherwise rot unnoticed.
func TestTranslateGoldenNoStrayFiles(t *testing.T) {
	t.Parallel()
	if *update {
		t.Skip("files are being rewritten")
	}
	var want []string
	for _, c := range goldenCases() {
		want = append(want, c.path)
	}
	got, err := filepath.Glob(filepath.Join("testdata", "translate", "*"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("testdata/translate holds %d files, the cases produce %d; run go test ./policy -update and delete strays", len(got), len(want))
	}
}

// checkGolden compares got with the file at path as canonical indented JSON
// (keys sorted), or rewrites the file under -update.
func checkGolden(t *testing.T, path string, got any) {
	t.Helper()
	gotJSON, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	gotJSON = append(gotJSON, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, gotJSON, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantJSON, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./policy -update to create it)", err)
	}
	if g, w := canonicalIndent(t, gotJSON), canonicalIndent(t, wantJSON); g != w {
		t.Errorf("%s differs (run go test ./policy -update after checking the change)\ngot:\n%s\nwant:\n%s", path, g, w)
	}
}

func canonicalIndent(t *testing.T, b []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("golden JSON: %v", err)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

var sidRE = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// TestTranslateInvariants checks, over all 64 combinations, the rules the
// golden files only show: what guests may never get, who carries a Principal,
// that Sids are valid, unique and ours, and that documents stay small.
func TestTranslateInvariants(t *testing.T) {
	t.Parallel()
	for _, c := range goldenCases() {
		d := Translate(c.in)
		name := filepath.Base(c.path)

		if (d.AuthRole == nil) != (len(c.in.Authenticated) == 0) {
			t.Errorf("%s: auth role document present = %v", name, d.AuthRole != nil)
		}
		if (d.UnauthRole == nil) != (len(c.in.Unauthenticated) == 0) {
			t.Errorf("%s: unauth role document present = %v", name, d.UnauthRole != nil)
		}
		if wantBucket := c.in.PublicGuestAccess && len(c.in.Unauthenticated) > 0; (len(d.Bucket) > 0) != wantBucket {
			t.Errorf("%s: %d bucket statements", name, len(d.Bucket))
		}

		var guest []Statement
		for _, doc := range []*Document{d.AuthRole, d.UnauthRole} {
			if doc == nil {
				continue
			}
			if doc.Version != Version {
				t.Errorf("%s: Version %q", name, doc.Version)
			}
			checkStatements(t, name, doc.Statement, c.in.SidPrefix, false)
			b, _ := json.Marshal(doc)
			// AWS caps all inline policies of a role at 10,240 characters;
			// one resource must leave room for several others.
			if len(b) > 2048 {
				t.Errorf("%s: role document is %d bytes", name, len(b))
			}
		}
		if d.UnauthRole != nil {
			guest = append(guest, d.UnauthRole.Statement...)
		}
		checkStatements(t, name, d.Bucket, c.in.SidPrefix+"Guest", true)
		guest = append(guest, d.Bucket...)

		for _, st := range guest {
			for _, r := range st.Resource {
				if strings.Contains(r, "/private/") || strings.Contains(r, "${") {
					t.Errorf("%s: guest statement %s on %s", name, st.Sid, r)
				}
				if strings.Contains(r, "/protected/") && !slices.Equal(st.Action, Strings{"s3:GetObject"}) {
					t.Errorf("%s: guest statement %s grants %v on %s", name, st.Sid, st.Action, r)
				}
			}
		}
	}
}

func checkStatements(t *testing.T, name string, sts []Statement, sidPrefix string, bucket bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, st := range sts {
		if !sidRE.MatchString(st.Sid) || !strings.HasPrefix(st.Sid, sidPrefix) || seen[st.Sid] {
			t.Errorf("%s: bad or repeated Sid %q", name, st.Sid)
		}
		seen[st.Sid] = true
		if st.Effect != "Allow" || len(st.Action) == 0 || len(st.Resource) == 0 {
			t.Errorf("%s: statement %s: %+v", name, st.Sid, st)
		}
		if bucket && st.Principal != "*" {
			t.Errorf("%s: bucket statement %s has Principal %v", name, st.Sid, st.Principal)
		}
		if !bucket && st.Principal != nil {
			t.Errorf("%s: role statement %s has Principal %v", name, st.Sid, st.Principal)
		}
	}
}

// TestTranslateIsSetSemantics: permission lists are sets, so duplicates, order
// and unknown elements must not change a single byte of the output.
func TestTranslateIsSetSemantics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		got, want []Permission
	}{
		{"duplicates", []Permission{Read, Read, Delete, Read}, []Permission{Read, Delete}},
		{"order", []Permission{Delete, CreateAndUpdate, Read}, []Permission{Read, CreateAndUpdate, Delete}},
		{"duplicates and order", []Permission{Delete, Read, Delete, CreateAndUpdate, Read}, []Permission{Read, CreateAndUpdate, Delete}},
		{"unknown element skipped", []Permission{"WRITE", Read, "read"}, []Permission{Read}},
		{"only unknown elements", []Permission{"WRITE", ""}, nil},
		{"nil and empty", nil, []Permission{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := func(ps []Permission) Input {
				return Input{Bucket: "b", SidPrefix: "P", Authenticated: ps, Unauthenticated: ps, PublicGuestAccess: true}
			}
			got, _ := json.Marshal(Translate(in(tt.got)))
			want, _ := json.Marshal(Translate(in(tt.want)))
			if !bytes.Equal(got, want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// TestTranslateSharesNoSlices: callers may adjust one document (say, add a
// Principal) without the change leaking into another.
func TestTranslateSharesNoSlices(t *testing.T) {
	t.Parallel()
	all := []Permission{Read, CreateAndUpdate, Delete}
	d := Translate(Input{Bucket: "b", SidPrefix: "P", Authenticated: all, Unauthenticated: all, PublicGuestAccess: true})
	d.Bucket[0].Action[0] = "changed"
	d.AuthRole.Statement[0].Action[0] = "changed"
	if d.UnauthRole.Statement[0].Action[0] == "changed" {
		t.Error("bucket and unauth role statements share an Action slice")
	}
	for _, st := range d.AuthRole.Statement[1:] {
		if st.Action[0] == "changed" {
			t.Errorf("auth statement %s shares its Action slice with the public one", st.Sid)
		}
	}
}
