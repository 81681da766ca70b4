package telemetry

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/adapters/audit"
	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/core"
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
// adapter or the HTTP layer can report has its series from the start: a
// reason or kind added without a label fails here.
func TestMetricLabels_EveryReasonAndFaultKind_HasASeries(t *testing.T) {
	text := scrape(t, New())
	for name, v := range constValues(t, "../../core", "Reason") {
		if series := `sessiond_sessions_revoked_total{reason="` + v + `"} 0`; !strings.Contains(text, "\n"+series) {
			t.Errorf("core.%s (%q) has no series: want %s", name, v, series)
		}
	}
	for name, v := range constValues(t, "../postgres", "Fault") {
		if series := `sessiond_db_errors_total{kind="` + v + `"} 0`; !strings.Contains(text, "\n"+series) {
			t.Errorf("postgres.%s (%q) has no series: want %s", name, v, series)
		}
	}
	for name, v := range constValues(t, "../http", "fault") {
		if series := `sessiond_db_errors_total{kind="` + v + `"} 0`; !strings.Contains(text, "\n"+series) {
			t.Errorf("http.%s (%q) has no series: want %s", name, v, series)
		}
	}
	for name, v := range constValues(t, "../argon2", "Shed") {
		if series := `sessiond_hash_shed_total{reason="` + v + `"} 0`; !strings.Contains(text, "\n"+series) {
			t.Errorf("argon2.%s (%q) has no series: want %s", name, v, series)
		}
	}
	// The reason list core exports is its constants, no more.
	if got, want := len(core.RevokeReasons()), len(constValues(t, "../../core", "Reason")); got != want {
		t.Errorf("core.RevokeReasons has %d reasons, core declares %d", got, want)
	}
	if got, want := len(postgres.FaultKinds), len(constValues(t, "../postgres", "Fault")); got != want {
		t.Errorf("postgres.FaultKinds has %d kinds, the package declares %d", got, want)
	}
	// Every refresh rejection and sign-in outcome the HTTP layer reports.
	for _, v := range httpadapter.RefreshOutcomes() {
		if series := `sessiond_refreshes_total{outcome="` + v + `"} 0`; !strings.Contains(text, "\n"+series) {
			t.Errorf("want %s", series)
		}
	}
	for _, v := range httpadapter.SignInOutcomes() {
		if series := `sessiond_signins_total{outcome="` + v + `"} 0`; !strings.Contains(text, "\n"+series) {
			t.Errorf("want %s", series)
		}
	}
	for _, o := range audit.WebhookOutcomes() {
		if series := `sessiond_webhook_deliveries_total{outcome="` + string(o) + `"} 0`; !strings.Contains(text, "\n"+series) {
			t.Errorf("want %s", series)
		}
	}
}

// scrape reads the metrics as Prometheus would.
func scrape(t *testing.T, tel *Telemetry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}
