package http

import (
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

func contractRouters(t testing.TB) (table, kin routers.Router) {
	t.Helper()
	doc, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	c, err := newContract(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.router.(*staticRoutes); !ok {
		t.Fatalf("the contract's router is %T, not the table", c.router)
	}
	kin, err = gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return c.router, kin
}

// The table answers every request as the kin-openapi router does: the same
// route (path, method, operation), the same path parameters, the same
// refusal, for parameterless paths, paths with parameters, unknown paths,
// wrong methods and paths that are only almost a contract path.
func TestStaticRoutes_SameAnswersAsKinOpenAPI(t *testing.T) {
	table, kin := contractRouters(t)
	if n := len(table.(*staticRoutes).routes); n < 20 {
		t.Fatalf("only %d parameterless routes in the table", n)
	}
	paths := []string{
		"/api/v1/auth/refresh", "/api/v1/auth/me", "/api/v1/auth/login/json", "/api/v1/sessions",
		"/api/v1/accounts/me/members", "/api/v1/accounts/me/audit-events",
		"/api/v1/sessions/9b2d4c1e-6a7f-4e3b-8c5d-1f2a3b4c5d6e", "/api/v1/sessions/not-a-uuid",
		"/api/v1/accounts/me/members/9b2d4c1e-6a7f-4e3b-8c5d-1f2a3b4c5d6e/revoke-sessions",
		"/api/v1/auth/me/", "/api/v1/auth//me", "/api/v1/auth/ME", "/api/v1/auth/me%2F", "/api/v1/auth%2Fme",
		"/api/v1/auth/m%65", "/api/v1/auth/refresh?x=1", "/api/v1/nothing", "/", "/healthz", "/readyz",
		"/.well-known/jwks.json", "/metrics", "/docs",
	}
	methods := append(append([]string{}, tableMethods...), "PROPFIND")
	for _, p := range paths {
		for _, m := range methods {
			r := httptest.NewRequest(m, p, nil)
			gr, gp, ge := table.FindRoute(r)
			wr, wp, we := kin.FindRoute(r)
			if !errors.Is(ge, we) && ge != we {
				t.Errorf("%s %s: error %v, kin-openapi %v", m, p, ge, we)
				continue
			}
			if (gr == nil) != (wr == nil) {
				t.Errorf("%s %s: route %v, kin-openapi %v", m, p, gr, wr)
				continue
			}
			if gr != nil && (gr.Path != wr.Path || gr.Method != wr.Method || gr.Operation != wr.Operation ||
				gr.PathItem != wr.PathItem || gr.Spec != wr.Spec || gr.Server != wr.Server) {
				t.Errorf("%s %s: route %+v, kin-openapi %+v", m, p, *gr, *wr)
			}
			if len(gp) != len(wp) || !maps.Equal(gp, wp) {
				t.Errorf("%s %s: params %v, kin-openapi %v", m, p, gp, wp)
			}
		}
	}
}

// BenchmarkFindRoute routes the two hot requests: old = kin-openapi's
// gorilla/mux router, new = the table in front of it.
func BenchmarkFindRoute(b *testing.B) {
	table, kin := contractRouters(b)
	reqs := []*http.Request{
		httptest.NewRequest(http.MethodPost, "/api/v1/auth/refresh", nil),
		httptest.NewRequest(http.MethodGet, "/api/v1/auth/me", nil),
	}
	for _, c := range []struct {
		name string
		r    routers.Router
	}{{"old", kin}, {"new", table}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range reqs {
					if _, _, err := c.r.FindRoute(r); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
