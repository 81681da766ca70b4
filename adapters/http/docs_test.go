package http_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/http/docs"
)

// docsHandler is the complete handler (gate included) with no service
// behind it: /docs must answer without one, and anything that reached an
// API handler would panic on the nil service and answer 500.
//
// /docs is outside openapi.yaml (like the HTML it serves, it has no
// contract), so these requests are served in-process rather than through
// h.do, whose contract check only knows the API.
func docsHandler(t *testing.T, enabled bool) http.Handler {
	t.Helper()
	api, err := httpadapter.NewServer(nil, func() any { return nil }, nil,
		httpadapter.Config{DocsEnabled: enabled}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return api.Handler()
}

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestDocs_ServesSwaggerUI_SameOriginOnly_WithCSP(t *testing.T) {
	h := docsHandler(t, true)
	wantHeaders := map[string]string{
		"Content-Security-Policy":    docs.ContentSecurityPolicy,
		"X-Content-Type-Options":     "nosniff",
		"Referrer-Policy":            "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin",
	}
	csp := docs.ContentSecurityPolicy
	for _, d := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "connect-src 'self';", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-") || strings.Contains(csp, "*") || strings.Contains(csp, "http") {
		t.Errorf("CSP %q allows more than this origin", csp)
	}

	var page string
	for _, p := range []string{"/docs", "/docs/"} {
		rec := serve(h, http.MethodGet, p)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %q", p, rec.Code, rec.Header().Get("Content-Type"))
		}
		for k, v := range wantHeaders {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", p, k, got, v)
			}
		}
		page = rec.Body.String()
	}

	// No inline script or style for the CSP to forbid; every script and
	// stylesheet comes from this origin, under /docs/.
	if regexp.MustCompile(`<script[^>]*>[^<]`).MatchString(page) || strings.Contains(page, "<style") || strings.Contains(page, " style=") {
		t.Errorf("the page has inline script or style:\n%s", page)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 4 {
		t.Fatalf("the page references %d files:\n%s", len(refs), page)
	}
	wantType := map[string]string{".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
	for _, m := range refs {
		ref := m[1]
		if ref == "/openapi.yaml" {
			continue
		}
		u, err := url.Parse(ref)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(u.Path, "/docs/") {
			t.Errorf("the page loads %q, not a file of its own", ref)
			continue
		}
		rec := serve(h, http.MethodGet, ref)
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d", ref, rec.Code)
			continue
		}
		ext := ref[strings.LastIndex(ref, "."):]
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, wantType[ext]) {
			t.Errorf("GET %s: Content-Type %q", ref, ct)
		}
		if rec.Header().Get("Content-Security-Policy") != csp || rec.Header().Get("ETag") == "" {
			t.Errorf("GET %s: headers %v", ref, rec.Header())
		}
		// A revalidation is answered without the body.
		r := httptest.NewRequest(http.MethodGet, ref, nil)
		r.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		again := httptest.NewRecorder()
		h.ServeHTTP(again, r)
		if again.Code != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match: %d", ref, again.Code)
		}
	}

	// The initializer points Swagger UI at this origin's spec and nowhere else.
	initJS := serve(h, http.MethodGet, "/docs/init.js").Body.String()
	if !strings.Contains(initJS, `url: "/openapi.yaml"`) || strings.Contains(initJS, "http://") || strings.Contains(initJS, "https://") {
		t.Errorf("init.js:\n%s", initJS)
	}
}

func TestDocs_UnknownPathsAndMethods_AreProblems_AndTheGateStillGuardsTheAPI(t *testing.T) {
	h := docsHandler(t, true)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/docs/nope.js", http.StatusNotFound},
		{http.MethodGet, "/docs/../openapi.yaml", http.StatusNotFound},
		{http.MethodGet, "/docs/dist/swagger-ui.css", http.StatusNotFound},
		{http.MethodGet, "/docsx", http.StatusNotFound},
		{http.MethodGet, "/api/v1/docs", http.StatusNotFound},
		{http.MethodPost, "/docs", http.StatusMethodNotAllowed},
		// The API behind it is unchanged: routed, authenticated, validated.
		{http.MethodGet, "/api/v1/auth/me", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/nope", http.StatusNotFound},
	} {
		rec := serve(h, tc.method, tc.path)
		if rec.Code != tc.status || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %q, want %d problem+json", tc.method, tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.status)
		}
	}
	if rec := serve(h, http.MethodHead, "/docs"); rec.Code != http.StatusOK {
		t.Errorf("HEAD /docs: %d", rec.Code)
	}
}

func TestDocs_Disabled_Is404(t *testing.T) {
	h := docsHandler(t, false)
	for _, p := range []string{"/docs", "/docs/", "/docs/init.js", "/docs/swagger-ui-bundle.js"} {
		rec := serve(h, http.MethodGet, p)
		if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s with docs off: %d %q, want 404 problem+json", p, rec.Code, rec.Header().Get("Content-Type"))
		}
		if rec.Header().Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s with docs off reached the docs handler", p)
		}
	}
}

// Swagger UI's "Authorize" works because every operation that takes an
// access token also offers the oauth2Password scheme, whose token URL is
// the OAuth2 password form.
func TestSpec_EveryAccessTokenOperation_OffersTheOAuth2PasswordFlow(t *testing.T) {
	doc, err := httpadapter.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	s := doc.Components.SecuritySchemes["oauth2Password"]
	if s == nil || s.Value.Type != "oauth2" || s.Value.Flows == nil || s.Value.Flows.Password == nil {
		t.Fatalf("oauth2Password is not an OAuth2 password flow: %+v", s)
	}
	if got := s.Value.Flows.Password.TokenURL; got != "/api/v1/auth/login" {
		t.Fatalf("tokenUrl = %q", got)
	}
	form := doc.Paths.Find("/api/v1/auth/login")
	if form == nil || form.Post == nil || form.Post.OperationID != "loginForm" {
		t.Fatal("the token URL is not the OAuth2 password form")
	}
	n := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security == nil {
				continue
			}
			var bearer, oauth bool
			for _, r := range *op.Security {
				_, b := r["bearerAuth"]
				_, o := r["oauth2Password"]
				bearer, oauth = bearer || b, oauth || o
			}
			if bearer != oauth {
				t.Errorf("%s %s: bearerAuth=%v oauth2Password=%v; offer both or neither", method, path, bearer, oauth)
			}
			if bearer {
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no operation takes an access token")
	}
}

// The exact request Swagger UI's password flow sends (its default puts the
// empty client id and secret in a Basic header, and always sends scope).
func TestLoginForm_AcceptsSwaggerUIsPasswordGrant(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("swagger"))
	body := url.Values{"grant_type": {"password"}, "scope": {""}, "username": {u.Email}, "password": {u.Password}}
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/login", contentType: "application/x-www-form-urlencoded",
		headers: map[string]string{"Authorization": "Basic Og==", "Accept": "application/json, text/plain, */*"},
		body:    body.Encode()}, http.StatusOK)
	var tk tokens
	res.JSON(t, &tk)
	if tk.AccessToken == "" || !strings.EqualFold(tk.TokenType, "bearer") {
		t.Fatalf("token response %+v", tk)
	}
	expectStatus(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusOK, "me with the granted token")
}
