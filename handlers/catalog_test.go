package handlers

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// parseSources parses the package's source files, tests left out.
func parseSources(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// catalogVerb matches the verbs of a message template.
var catalogVerb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

// verbs counts the values a template quotes.
func verbs(template string) int {
	n := 0
	for _, v := range catalogVerb.FindAllString(template, -1) {
		if v != "%%" {
			n++
		}
	}
	return n
}

// statusOf is the status each AWS error type is answered with.
var statusOf = map[string]int{
	BadRequest: 400, NotFound: 404, TooManyRequests: 429, GatewayTimeout: 504, MissingAuthentication: 403,
	UnrecognizedClient: 403, InvalidSignature: 403, ExpiredToken: 403, AccessDenied: 403, InternalFailure: 500, UnknownOperation: 404,
}

// TestCatalogRendersAWSShape answers every entry of the catalog through the
// real router and checks what a client receives: the status of its type,
// X-Amzn-ErrorType, x-amzn-RequestId, a JSON body with __type and a message
// whose verbs all got a value, resourceType on NotFoundException and
// limitType on TooManyRequestsException, and neither elsewhere.
func TestCatalogRendersAWSShape(t *testing.T) {
	t.Parallel()
	e := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e.GET("/catalog/:code", func(c echo.Context) error {
		n, err := strconv.Atoi(c.Param("code"))
		if err != nil {
			return err
		}
		cd := code(n)
		args := make([]any, verbs(catalog[cd].message))
		for i := range args {
			args[i] = 7
			if strings.Contains("sq", string(catalogVerb.FindAllString(catalog[cd].message, -1)[i][1])) {
				args[i] = "x"
			}
		}
		return cd.with(args...)
	})
	for cd := code(1); int(cd) < len(catalog); cd++ {
		want := catalog[cd]
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/catalog/"+strconv.Itoa(int(cd)), nil))
		var doc map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Errorf("entry %d: body is not JSON: %q", cd, w.Body)
			continue
		}
		if want.typ == "" || want.message == "" || w.Code != statusOf[want.typ] || w.Code != want.status {
			t.Errorf("entry %d: type %q, status %d answered %d; %s is answered %d", cd, want.typ, want.status, w.Code, want.typ, statusOf[want.typ])
		}
		h := w.Header()
		if h.Get("X-Amzn-ErrorType") != want.typ || h.Get("x-amzn-RequestId") == "" || h.Get("Content-Type") != "application/json" {
			t.Errorf("entry %d: headers %v", cd, h)
		}
		msg, _ := doc["message"].(string)
		if doc["__type"] != want.typ || msg == "" || strings.Contains(msg, "%!") {
			t.Errorf("entry %d: body %s", cd, w.Body)
		}
		members := map[string]bool{"__type": true, "message": true}
		if want.typ == NotFound {
			members["resourceType"] = true
			if doc["resourceType"] == "" || doc["resourceType"] != want.resourceType {
				t.Errorf("entry %d: resourceType %v, want %q", cd, doc["resourceType"], want.resourceType)
			}
		}
		if want.typ == TooManyRequests {
			members["limitType"] = true
			if doc["limitType"] == "" || doc["limitType"] != want.limitType {
				t.Errorf("entry %d: limitType %v, want %q", cd, doc["limitType"], want.limitType)
			}
		}
		for k := range doc {
			if !members[k] {
				t.Errorf("entry %d (%s): member %q does not belong to the type", cd, want.typ, k)
			}
		}
	}
}

// TestCatalogEntriesAreProduced reads the package's code: every entry of
// the catalog is produced somewhere (an entry nothing produces is an error
// the API claims and never answers), every with passes as many values as
// its template quotes, and no code but the catalog's makes an APIError.
func TestCatalogEntriesAreProduced(t *testing.T) {
	t.Parallel()
	names := map[string]code{}
	used := map[code]int{}
	fset, parsed := parseSources(t)
	for _, file := range parsed {
		// The codes, in the order of their declaration: iota.
		for _, d := range file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST || len(g.Specs) == 0 {
				continue
			}
			if first, ok := g.Specs[0].(*ast.ValueSpec); !ok || first.Type == nil || fmt.Sprint(first.Type) != "code" {
				continue
			}
			for i, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					if n.Name != "_" {
						names[n.Name] = code(i)
					}
				}
			}
		}
	}
	if len(names) != len(catalog)-1 {
		t.Fatalf("found %d codes, the catalog has %d entries", len(names), len(catalog)-1)
	}
	declared := map[*ast.Ident]bool{}
	for _, file := range parsed {
		inCatalog := fset.Position(file.Package).Filename == "catalog.go"
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for _, id := range n.Names {
					declared[id] = true // a declaration, not a use
				}
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok && inCatalog && names[id.Name] != 0 {
					return false // the catalog's own table
				}
			case *ast.CompositeLit:
				if id, ok := n.Type.(*ast.Ident); ok && id.Name == "APIError" && !inCatalog {
					t.Errorf("%s: an APIError made outside the catalog", fset.Position(n.Pos()))
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "with" {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok && names[id.Name] != 0 && n.Ellipsis == token.NoPos {
					if want := verbs(catalog[names[id.Name]].message); len(n.Args) != want {
						t.Errorf("%s: %s.with has %d values, its template quotes %d", fset.Position(n.Pos()), id.Name, len(n.Args), want)
					}
				}
			case *ast.Ident:
				if c := names[n.Name]; c != 0 && !declared[n] {
					used[c]++
				}
			}
			return true
		})
	}
	for name, c := range names {
		if used[c] == 0 {
			t.Errorf("catalog entry %s is produced nowhere", name)
		}
	}
}

// TestOpenAPIListsTheCatalog: openapi.yaml's ErrorType names exactly the
// types of the catalog, and ListS3Buckets, the operation that calls the
// storage target while answering, documents what a target failure is
// answered with.
func TestOpenAPIListsTheCatalog(t *testing.T) {
	t.Parallel()
	spec := loadOpenAPI(t)
	enum, _ := spec.resolve(t, oaMap(oaMap(spec.root["components"])["schemas"])["ErrorType"])["enum"].([]any)
	documented := map[string]bool{}
	for _, v := range enum {
		documented[fmt.Sprint(v)] = true
	}
	answered := map[string]bool{}
	for _, e := range catalog[1:] {
		answered[e.typ] = true
	}
	for typ := range answered {
		if !documented[typ] {
			t.Errorf("%s is answered but not in openapi.yaml's ErrorType", typ)
		}
	}
	for typ := range documented {
		if !answered[typ] {
			t.Errorf("openapi.yaml's ErrorType lists %s, which no catalog entry answers", typ)
		}
	}
	responses := oaMap(spec.operations(t)["POST /s3Buckets"].op["responses"])
	for _, c := range []code{errTargetFailed, errTargetThrottled} {
		if responses[strconv.Itoa(catalog[c].status)] == nil {
			t.Errorf("ListS3Buckets does not document %d (%s)", catalog[c].status, catalog[c].typ)
		}
	}
}
