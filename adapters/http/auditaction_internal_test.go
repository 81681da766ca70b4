package http

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/core"
)

// TestSpec_ADM05_AuditActionEnumIsEveryActionTheCodeWrites keeps
// openapi.yaml's AuditAction enum equal to the actions the server writes:
// the Action… string constants of package core (every audit event is built
// from one), and core.AuditActions, the list the audit filters check
// against. An action the enum forgets (which generated clients could not
// decode) fails here, and so does an enum value nothing writes. The action
// of every Service.event call must be one of those constants, not a
// literal (docs/security-checklist.md, ADM-05).
func TestSpec_ADM05_AuditActionEnumIsEveryActionTheCodeWrites(t *testing.T) {
	doc, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	ref := doc.Components.Schemas["AuditAction"]
	if ref == nil || ref.Value == nil {
		t.Fatal("openapi.yaml has no components.schemas.AuditAction")
	}
	var enum []string
	for _, v := range ref.Value.Enum {
		enum = append(enum, v.(string))
	}
	slices.Sort(enum)
	if got := doc.Components.Schemas["AuditEvent"].Value.Properties["action"].Ref; got != "#/components/schemas/AuditAction" {
		t.Errorf("AuditEvent.action is %q, want a $ref to AuditAction", got)
	}

	files, err := filepath.Glob("../../core/*.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]bool{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.ValueSpec:
				for i, name := range x.Names {
					if !strings.HasPrefix(name.Name, "Action") || i >= len(x.Values) {
						continue
					}
					if lit, ok := x.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						consts[s] = true
					}
				}
			case *ast.CallExpr:
				sel, ok := x.Fun.(*ast.SelectorExpr)
				if ok && sel.Sel.Name == "event" && len(x.Args) >= 3 {
					if _, lit := x.Args[2].(*ast.BasicLit); lit {
						t.Errorf("%s: an audit event with a literal action; use an Action… constant of core/audit.go", path)
					}
				}
			}
			return true
		})
	}
	inSource := slices.Sorted(func(yield func(string) bool) {
		for s := range consts {
			if !yield(s) {
				return
			}
		}
	})
	if len(inSource) < 15 {
		t.Fatalf("found only %d actions in core; is the scan broken? %v", len(inSource), inSource)
	}
	if !slices.Equal(enum, inSource) {
		t.Errorf("AuditAction enum and the actions in core differ\n missing from the enum: %v\n not in core: %v",
			minus(inSource, enum), minus(enum, inSource))
	}
	listed := slices.Sorted(slices.Values(core.AuditActions))
	if !slices.Equal(listed, inSource) {
		t.Errorf("core.AuditActions and the Action… constants differ\n missing from AuditActions: %v\n not a constant: %v",
			minus(inSource, listed), minus(listed, inSource))
	}
}
