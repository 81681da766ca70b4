package http

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/core"
)

// TestProblemCodeEnumIsEveryCode keeps openapi.yaml's ProblemCode enum equal
// to the set of error codes in the server's source: every constant of type
// core.Code (and every core.Code("...") conversion) in the module's non-test
// Go files. A new code that the enum forgets — which generated clients then
// could not switch on — fails here, and so does an enum value nothing sends.
func TestProblemCodeEnumIsEveryCode(t *testing.T) {
	doc, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	ref := doc.Components.Schemas["ProblemCode"]
	if ref == nil || ref.Value == nil {
		t.Fatal("openapi.yaml has no components.schemas.ProblemCode")
	}
	var enum []string
	for _, v := range ref.Value.Enum {
		enum = append(enum, v.(string))
	}
	slices.Sort(enum)
	if got := doc.Components.Schemas["Problem"].Value.Properties["code"].Ref; got != "#/components/schemas/ProblemCode" {
		t.Errorf("Problem.code is %q, want a $ref to ProblemCode", got)
	}

	inSource := sourceCodes(t, "../..")
	if len(inSource) < 10 {
		t.Fatalf("found only %d codes in the source; is the scan broken? %v", len(inSource), inSource)
	}
	if !slices.Equal(enum, inSource) {
		t.Errorf("ProblemCode enum and the codes in the source differ\n enum:   %v\n source: %v\n missing from the enum: %v\n not in the source: %v",
			enum, inSource, minus(inSource, enum), minus(enum, inSource))
	}
	for _, c := range inSource {
		if _, ok := statusByCode[core.Code(c)]; !ok {
			t.Errorf("code %q has no HTTP status in statusByCode", c)
		}
	}
}

// sourceCodes collects the string values of core.Code constants and
// conversions under root (non-test, non-generated Go files).
func sourceCodes(t *testing.T, root string) []string {
	t.Helper()
	set := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".data", "node_modules", "testdata", "clients", "contract", "tools":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, ".gen.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		isCode := func(e ast.Expr) bool {
			switch x := e.(type) {
			case *ast.Ident:
				return x.Name == "Code" && f.Name.Name == "core"
			case *ast.SelectorExpr:
				id, ok := x.X.(*ast.Ident)
				return ok && id.Name == "core" && x.Sel.Name == "Code"
			}
			return false
		}
		add := func(e ast.Expr) {
			if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					set[s] = true
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.ValueSpec:
				if x.Type != nil && isCode(x.Type) {
					for _, v := range x.Values {
						add(v)
					}
				}
			case *ast.CallExpr:
				if isCode(x.Fun) && len(x.Args) == 1 {
					add(x.Args[0])
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}
