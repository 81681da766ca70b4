package http_test

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	httpadapter "github.com/sessiond/sessiond/adapters/http"
)

const (
	appOrigin   = "http://app.example.test:5173"
	otherOrigin = "http://evil.example.test"
)

func withAllowedOrigins(origins ...string) harnessOption {
	return withHTTPConfig(func(c *httpadapter.Config) { c.AllowedOrigins = origins })
}

func preflight(t *testing.T, h *harness, origin, path, method, headers string) response {
	t.Helper()
	return h.do(t, req{method: http.MethodOptions, path: path, headers: map[string]string{
		"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers,
	}})
}

func hasToken(list, want string) bool {
	for _, v := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(v), want) {
			return true
		}
	}
	return false
}

func varies(res response, on string) bool {
	return slices.ContainsFunc(res.Header.Values("Vary"), func(v string) bool { return hasToken(v, on) })
}

// A browser app on an allowed origin can call the API with credentials:
// the preflight is answered 204 (not 405 from the validation gate) with the
// methods and headers the API uses, and actual responses name the origin.
func TestCORS_AllowedOriginPreflightAndActual(t *testing.T) {
	h := newHarness(t, withAllowedOrigins(appOrigin), withCookieSecure(false))
	for _, c := range []struct{ path, method, headers string }{
		{"/api/v1/auth/refresh", "POST", "content-type,x-csrf-token"},
		{"/api/v1/auth/login/json", "POST", "content-type,x-session-transport,x-device-id"},
		{"/api/v1/accounts/me/security", "PATCH", "authorization,content-type"},
		{"/api/v1/sessions/0b6f5e8e-2f4c-4a53-9a3e-6f1d9c2b7a10", "DELETE", "authorization"},
		{"/api/v1/auth/me", "GET", "authorization"},
		{"/.well-known/jwks.json", "GET", ""},
	} {
		res := preflight(t, h, appOrigin, c.path, c.method, c.headers)
		if res.Status != http.StatusNoContent {
			t.Fatalf("preflight %s %s: %d, want 204", c.method, c.path, res.Status)
		}
		hd := res.Header
		if hd.Get("Access-Control-Allow-Origin") != appOrigin || hd.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("preflight %s: allow-origin %q credentials %q", c.path, hd.Get("Access-Control-Allow-Origin"), hd.Get("Access-Control-Allow-Credentials"))
		}
		if !hasToken(hd.Get("Access-Control-Allow-Methods"), c.method) {
			t.Errorf("preflight %s: methods %q lack %s", c.path, hd.Get("Access-Control-Allow-Methods"), c.method)
		}
		for _, want := range []string{"Authorization", "Content-Type", "X-CSRF-Token", "X-Device-Id", "X-Session-Transport", "X-Request-Id", "traceparent", "tracestate"} {
			if !hasToken(hd.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("preflight %s: allowed headers %q lack %s", c.path, hd.Get("Access-Control-Allow-Headers"), want)
			}
		}
		if hd.Get("Access-Control-Max-Age") == "" || !varies(res, "Origin") {
			t.Errorf("preflight %s: max-age %q vary %q", c.path, hd.Get("Access-Control-Max-Age"), hd.Values("Vary"))
		}
	}

	// Actual responses, success and problem alike.
	u := h.register(t, uniqueEmail("cors"))
	tk := h.login(t, u, map[string]string{"Origin": appOrigin})
	for _, res := range []response{
		h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken, headers: map[string]string{"Origin": appOrigin}}),
		h.do(t, req{method: "GET", path: "/api/v1/auth/me", headers: map[string]string{"Origin": appOrigin}}),
	} {
		hd := res.Header
		if hd.Get("Access-Control-Allow-Origin") != appOrigin || hd.Get("Access-Control-Allow-Credentials") != "true" || !varies(res, "Origin") {
			t.Errorf("%d: allow-origin %q credentials %q vary %q", res.Status, hd.Get("Access-Control-Allow-Origin"), hd.Get("Access-Control-Allow-Credentials"), hd.Values("Vary"))
		}
		for _, want := range []string{"Retry-After", "X-Request-Id", "traceparent"} {
			if !hasToken(hd.Get("Access-Control-Expose-Headers"), want) {
				t.Errorf("%d: exposed headers %q lack %s", res.Status, hd.Get("Access-Control-Expose-Headers"), want)
			}
		}
	}
}

// Any other origin gets no CORS header at all, preflight or not, so the
// browser refuses to send or read.
func TestCORS_OtherOriginsGetNoCORSHeaders(t *testing.T) {
	h := newHarness(t, withAllowedOrigins(appOrigin))
	u := h.register(t, uniqueEmail("cors-other"))
	tk := h.login(t, u, nil)
	for _, origin := range []string{otherOrigin, "null", strings.TrimSuffix(appOrigin, ":5173"), appOrigin + ".evil.test", "https://app.example.test:5173"} {
		for _, res := range []response{
			preflight(t, h, origin, "/api/v1/auth/refresh", "POST", "content-type,x-csrf-token"),
			h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken, headers: map[string]string{"Origin": origin}}),
		} {
			for k := range res.Header {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("origin %q: %d carries %s: %q", origin, res.Status, k, res.Header.Get(k))
				}
			}
			if !varies(res, "Origin") {
				t.Errorf("origin %q: no Vary: Origin", origin)
			}
		}
	}
	// Without ALLOWED_ORIGINS nobody gets CORS headers.
	h2 := newHarness(t)
	res := preflight(t, h2, appOrigin, "/api/v1/auth/me", "GET", "authorization")
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no allowed origins, still allow-origin %q", res.Header.Get("Access-Control-Allow-Origin"))
	}
}

// CK-04: ALLOWED_ORIGINS holds exact origins only. The server refuses to
// start with a wildcard, the opaque origin null, a path, a trailing slash,
// a query or fragment, user info, another scheme than http/https, or no
// host; one test per rule.
func TestCORS_CK04_AllowedOrigins_RefusedAtStart(t *testing.T) {
	for rule, entry := range map[string]string{
		"wildcard":          "*",
		"wildcard in host":  "https://*.example.test",
		"opaque null":       "null",
		"path":              "https://app.example.test/app",
		"trailing slash":    "https://app.example.test/",
		"query":             "https://app.example.test?x=1",
		"fragment":          "https://app.example.test#top",
		"user info":         "https://user@app.example.test",
		"other scheme":      "ftp://app.example.test",
		"no scheme":         "app.example.test",
		"no host":           "https://",
		"port out of range": "https://app.example.test:70000",
	} {
		t.Run(rule, func(t *testing.T) {
			if _, err := httpadapter.ParseOrigins([]string{"https://ok.example.test", entry}); err == nil {
				t.Fatalf("ParseOrigins accepted %q", entry)
			} else if !strings.Contains(err.Error(), entry) && entry != "https://" {
				t.Errorf("error %q does not name the entry %q", err, entry)
			}
			_, err := httpadapter.NewServer(nil, nil, nil, httpadapter.Config{AllowedOrigins: []string{entry}}, slog.New(slog.DiscardHandler))
			if err == nil {
				t.Fatalf("NewServer started with ALLOWED_ORIGINS=%q", entry)
			}
		})
	}
	for _, ok := range []string{"https://app.example.test", "http://localhost:5173", "HTTPS://App.Example.Test:443", "http://[::1]:8080", "http://127.0.0.1"} {
		if _, err := httpadapter.ParseOrigins([]string{ok}); err != nil {
			t.Errorf("ParseOrigins(%q): %v", ok, err)
		}
	}
}

// CK-04: CORS and the CSRF origin check read one parsed list, so they
// agree on every origin: an entry written with upper case or the default
// port matches what a browser sends, for both; a near miss matches
// neither.
func TestCORS_CK04_CORSAndCSRFUseOneParsedList(t *testing.T) {
	h := newHarness(t, withAllowedOrigins("HTTPS://App.Example.Test:443", "http://localhost:5173"))
	u := h.register(t, uniqueEmail("ck04"))
	for _, c := range []struct {
		origin  string
		allowed bool
	}{
		{"https://app.example.test", true},
		{"http://localhost:5173", true},
		{"https://app.example.test:8443", false},
		{"http://app.example.test", false},
		{"https://evil.example.test", false},
		{"http://localhost:5174", false},
		{"null", false},
		{"*", false},
	} {
		pre := preflight(t, h, c.origin, "/api/v1/auth/refresh", "POST", "content-type,x-csrf-token")
		corsOK := pre.Header.Get("Access-Control-Allow-Origin") == c.origin && pre.Header.Get("Access-Control-Allow-Credentials") == "true"
		if !corsOK && pre.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: allow-origin %q", c.origin, pre.Header.Get("Access-Control-Allow-Origin"))
		}
		_, refresh, csrf := h.cookieLogin(t, u)
		res := h.cookieRefresh(t, refresh, csrf, map[string]string{"X-CSRF-Token": csrf.Value, "Origin": c.origin, "Sec-Fetch-Site": "cross-site"})
		csrfOK := res.Status == http.StatusOK
		if !csrfOK {
			expectProblem(t, res, http.StatusForbidden, "csrf_failed")
		}
		if corsOK != c.allowed || csrfOK != c.allowed {
			t.Errorf("Origin %q: CORS allowed %v, CSRF allowed %v, want both %v", c.origin, corsOK, csrfOK, c.allowed)
		}
	}
}
