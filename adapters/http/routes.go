package http

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// staticRoutes answers FindRoute for the contract's paths without
// parameters (/api/v1/auth/refresh, /api/v1/auth/me, …) from a table, and
// hands every other request to the kin-openapi router it wraps. That router
// tries the contract's paths one after the other, each a gorilla/mux
// regular-expression match with its own allocations: 1–4 % of the server's
// CPU per request and about 15 allocations (make bench, CPU profile;
// bench/README.md "CPU per request").
//
// The table is filled by asking the wrapped router itself, once per
// parameterless path and method, and keeps only what it answered: the route
// for a request is a function of its method and escaped path alone (the
// contract's servers name no host or scheme, checked here; otherwise there
// is no table), so a request whose method and escaped path are in the table
// gets exactly the route the wrapped router would give it. Everything else,
// refusals included, is the wrapped router's.
type staticRoutes struct {
	next   routers.Router
	routes map[string]*routers.Route // by method + " " + escaped path
}

// tableMethods are the methods the table is filled for.
var tableMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect}

func newStaticRoutes(doc *openapi3.T, next routers.Router) routers.Router {
	for _, s := range doc.Servers {
		u, err := url.Parse(s.URL)
		if err != nil || u.Host != "" || u.Scheme != "" || strings.Contains(s.URL, "{") {
			return next
		}
	}
	t := &staticRoutes{next: next, routes: map[string]*routers.Route{}}
	for path, item := range doc.Paths.Map() {
		if strings.Contains(path, "{") || len(item.Servers) > 0 {
			continue
		}
		for _, method := range tableMethods {
			r, err := http.NewRequest(method, path, nil)
			if err != nil || r.URL.EscapedPath() != path {
				continue
			}
			route, params, err := next.FindRoute(r)
			if err != nil || len(params) != 0 {
				continue
			}
			t.routes[method+" "+path] = route
		}
	}
	return t
}

// FindRoute implements routers.Router.
func (t *staticRoutes) FindRoute(r *http.Request) (*routers.Route, map[string]string, error) {
	if route, ok := t.routes[r.Method+" "+r.URL.EscapedPath()]; ok {
		cp := *route // as the wrapped router does: each caller gets its own copy
		return &cp, map[string]string{}, nil
	}
	return t.next.FindRoute(r)
}
