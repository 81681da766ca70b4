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
)

// constValues returns the values of the string constants declared in the
// Go files of dir whose names start with prefix.
func constValues(t *testing.T, dir, prefix string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, prefix) || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						out[name.Name] = v
					}
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s* constants in %s", prefix, dir)
	}
	return out
}

// Every revoke reason core can store and every fault kind the database
// adapter can report has its series: a reason or kind added without a
// label fails here.
func TestMetricLabels_EveryReasonAndFaultKind_HasALabel(t *testing.T) {
	for name, v := range constValues(t, "../../core", "Reason") {
		if !slices.Contains(revokeReasons, v) {
			t.Errorf("core.%s (%q) has no sessiond_sessions_revoked_total label", name, v)
		}
	}
	for name, v := range constValues(t, "../postgres", "Fault") {
		if !slices.Contains(dbFaultKinds, v) {
			t.Errorf("postgres.%s (%q) has no sessiond_db_errors_total label", name, v)
		}
	}
}
