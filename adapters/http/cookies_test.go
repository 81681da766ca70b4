package http_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	secureRefreshCookie = "__Secure-refresh_token"
	plainRefreshCookie  = "refresh_token"
	secureCSRFCookie    = "__Host-csrf_token"
	plainCSRFCookie     = "csrf_token"
)

var cookieTransport = map[string]string{"X-Session-Transport": "cookie"}

// setCookies parses the response's Set-Cookie headers by name.
func setCookies(res response) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		out[c.Name] = c
	}
	return out
}

// rawSetCookie returns the Set-Cookie header that sets name.
func rawSetCookie(t testing.TB, res response, name string) string {
	t.Helper()
	for _, v := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			return v
		}
	}
	t.Fatalf("no Set-Cookie for %s in %v", name, res.Header.Values("Set-Cookie"))
	return ""
}

// cookieLogin signs in with cookie transport and returns the response and
// the two cookies it set.
func (h *harness) cookieLogin(t testing.TB, u registered) (res response, refresh, csrf *http.Cookie) {
	t.Helper()
	res = h.mustDo(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: cookieTransport,
		body: map[string]string{"email": u.Email, "password": u.Password}}, http.StatusOK)
	cs := setCookies(res)
	name, csrfCookie := secureRefreshCookie, secureCSRFCookie
	if !h.hcfg.CookieSecure {
		name, csrfCookie = plainRefreshCookie, plainCSRFCookie
	}
	if cs[name] == nil || cs[csrfCookie] == nil {
		t.Fatalf("cookie login set %v", res.Header.Values("Set-Cookie"))
	}
	return res, cs[name], cs[csrfCookie]
}

func (h *harness) cookieRefresh(t testing.TB, refresh, csrf *http.Cookie, headers map[string]string) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/auth/refresh", cookies: []*http.Cookie{refresh, csrf}, headers: headers})
}

func csrfHeader(csrf *http.Cookie) map[string]string {
	return map[string]string{"X-CSRF-Token": csrf.Value}
}

func assertNoRefreshInBody(t testing.TB, res response) {
	t.Helper()
	var body map[string]json.RawMessage
	res.JSON(t, &body)
	if _, ok := body["refresh_token"]; ok {
		t.Errorf("refresh_token in the JSON body in cookie transport: %s", res.Body)
	}
	if _, ok := body["access_token"]; !ok {
		t.Errorf("no access_token in body: %s", res.Body)
	}
}

// checkRefreshCookie asserts the hardened attributes (CK-01
// "Cookie"): path-scoped so __Secure- (not __Host-), HttpOnly, Secure,
// SameSite=Strict stated explicitly, no Domain, Max-Age to the absolute
// deadline.
func checkRefreshCookie(t testing.TB, res response, c *http.Cookie, maxAge int) {
	t.Helper()
	if c.Name != secureRefreshCookie || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode ||
		c.Path != "/api/v1/auth" || c.Domain != "" || c.MaxAge != maxAge || c.Value == "" {
		t.Errorf("refresh cookie = %+v (raw %q), want HttpOnly Secure SameSite=Strict Path=/api/v1/auth Max-Age=%d no Domain",
			c, c.Raw, maxAge)
	}
	raw := rawSetCookie(t, res, c.Name)
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/auth"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %s", raw, want)
		}
	}
	if strings.Contains(strings.ToLower(raw), "domain=") {
		t.Errorf("Set-Cookie %q has a Domain", raw)
	}
}

func TestCookie_CK01_LoginSetsHardenedCookies_RefreshTokenOnlyInCookie(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("ck01"))
	res, refresh, csrf := h.cookieLogin(t, u)

	checkRefreshCookie(t, res, refresh, defaultAbs)
	// The CSRF cookie has Path=/ and no Domain, so it carries the __Host-
	// prefix: a sibling subdomain cannot plant a double-submit value. It is
	// HttpOnly: pages get the token from the answer's csrf_token (CK-05).
	if csrf.Name != secureCSRFCookie || !csrf.HttpOnly || !csrf.Secure || csrf.SameSite != http.SameSiteStrictMode || csrf.Path != "/" ||
		csrf.Domain != "" || csrf.MaxAge != defaultAbs || len(csrf.Value) < 32 {
		t.Errorf("csrf cookie = %+v: want __Host-csrf_token, HttpOnly, Secure, SameSite=Strict, Path=/, no Domain", csrf)
	}
	assertNoRefreshInBody(t, res)
	// CK-03: token responses are never cached.
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	// The cookie holds a working refresh token of this session.
	if claims(t, refresh.Value)["sid"] == nil {
		t.Errorf("cookie value is not a refresh token")
	}

	// The form login honours the same transport.
	form := h.do(t, req{method: "POST", path: "/api/v1/auth/login", headers: cookieTransport, contentType: "application/x-www-form-urlencoded",
		body: "grant_type=password&username=" + u.Email + "&password=" + strings.ReplaceAll(u.Password, " ", "+")})
	if form.Status != http.StatusOK || setCookies(form)[secureRefreshCookie] == nil {
		t.Fatalf("form login with cookie transport: %d %v", form.Status, form.Header.Values("Set-Cookie"))
	}
	assertNoRefreshInBody(t, form)
}

// CK-02: a cookie-borne refresh needs the CSRF defence; SameSite is only
// defence in depth.
func TestCookie_CK02_RefreshWithoutCSRFDefence_Refused(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("ck02"))
	_, refresh, csrf := h.cookieLogin(t, u)
	same := h.srv.URL

	cases := map[string]map[string]string{
		"no X-CSRF-Token":              nil,
		"wrong X-CSRF-Token":           {"X-CSRF-Token": "not-the-cookie-value"},
		"foreign Origin":               {"X-CSRF-Token": csrf.Value, "Origin": "https://evil.example"},
		"opaque Origin":                {"X-CSRF-Token": csrf.Value, "Origin": "null"},
		"cross-site fetch, no Origin":  {"X-CSRF-Token": csrf.Value, "Sec-Fetch-Site": "cross-site"},
		"cross-site fetch, own Origin": {"X-CSRF-Token": csrf.Value, "Origin": same, "Sec-Fetch-Site": "cross-site"},
	}
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			expectProblem(t, h.cookieRefresh(t, refresh, csrf, hdr), http.StatusForbidden, "csrf_failed")
		})
	}
	// The CSRF cookie alone, without the header, is not enough either.
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/refresh", cookies: []*http.Cookie{refresh}, headers: csrfHeader(csrf)}),
		http.StatusForbidden, "csrf_failed")

	// The refusals consumed nothing: with the defence the same cookie works.
	h.clock.Advance(time.Hour)
	res := h.cookieRefresh(t, refresh, csrf, map[string]string{"X-CSRF-Token": csrf.Value, "Origin": same, "Sec-Fetch-Site": "same-origin"})
	expectStatus(t, res, http.StatusOK, "refresh with the CSRF header")
	cs := setCookies(res)
	next := cs[secureRefreshCookie]
	if next == nil || cs[secureCSRFCookie] == nil {
		t.Fatalf("refresh set %v, want both cookies", res.Header.Values("Set-Cookie"))
	}
	checkRefreshCookie(t, res, next, defaultAbs-3600) // Max-Age counts down to the unmoved absolute deadline
	if next.Value == refresh.Value || claims(t, next.Value)["jti"] == claims(t, refresh.Value)["jti"] {
		t.Error("refresh cookie was not rotated")
	}
	if cs[secureCSRFCookie].Value != csrf.Value {
		t.Error("csrf token changed on refresh; open tabs would lose it")
	}
	assertNoRefreshInBody(t, res)
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q (CK-03)", cc)
	}
	// Rotation happened: after the grace window the old cookie is reuse.
	h.clock.Advance(h.cfg.Grace + time.Second)
	expectProblem(t, h.cookieRefresh(t, refresh, csrf, csrfHeader(csrf)), http.StatusUnauthorized, "refresh_token_reused")
}

func TestCookie_RefreshWithoutAnyToken_401(t *testing.T) {
	h := newHarness(t)
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/refresh"}), http.StatusUnauthorized, "invalid_refresh_token")
}

// REV-01 in cookie mode: logout clears both cookies (empty value,
// Max-Age=0) and the refresh token is dead server-side.
func TestCookie_REV01_LogoutClearsBothCookies(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("rev01"))
	login, refresh, csrf := h.cookieLogin(t, u)
	var tk tokens
	login.JSON(t, &tk)

	// CK-02 for logout: the cookie without the CSRF header is refused.
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: tk.AccessToken, cookies: []*http.Cookie{refresh, csrf}}),
		http.StatusForbidden, "csrf_failed")

	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: tk.AccessToken,
		cookies: []*http.Cookie{refresh, csrf}, headers: csrfHeader(csrf)}, http.StatusNoContent)
	assertCleared(t, res, secureRefreshCookie, true)
	expectProblem(t, h.cookieRefresh(t, refresh, csrf, csrfHeader(csrf)), http.StatusUnauthorized, "invalid_refresh_token")
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusUnauthorized, "invalid_token")
}

func assertCleared(t testing.TB, res response, refreshName string, secure bool) {
	t.Helper()
	cs := setCookies(res)
	csrfCookie := secureCSRFCookie
	if !secure {
		csrfCookie = plainCSRFCookie
	}
	for _, name := range []string{refreshName, csrfCookie} {
		c := cs[name]
		if c == nil {
			t.Errorf("logout did not clear %s: %v", name, res.Header.Values("Set-Cookie"))
			continue
		}
		if c.Value != "" || c.MaxAge >= 0 || !strings.Contains(rawSetCookie(t, res, name), "Max-Age=0") || c.Secure != secure {
			t.Errorf("%s not cleared: %+v", name, c)
		}
	}
	if c := cs[refreshName]; c != nil && (c.Path != "/api/v1/auth" || !c.HttpOnly) {
		t.Errorf("clearing cookie does not match the one set (path %q): %+v", c.Path, c)
	}
}

// A stale or foreign refresh cookie must not keep a browser from signing
// out: the current session ends and the cookies are cleared anyway.
func TestCookie_LogoutWithStaleCookie_StillEndsSessionAndClears(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("stale"))
	other := h.register(t, uniqueEmail("stale-other"))
	_, foreign, _ := h.cookieLogin(t, other)
	login, _, csrf := h.cookieLogin(t, u)
	var tk tokens
	login.JSON(t, &tk)

	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: tk.AccessToken,
		cookies: []*http.Cookie{foreign, csrf}, headers: csrfHeader(csrf)}, http.StatusNoContent)
	assertCleared(t, res, secureRefreshCookie, true)
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusUnauthorized, "invalid_token")
	// The other user's session is not touched by someone else's logout.
	expectStatus(t, h.cookieRefresh(t, foreign, csrf, csrfHeader(csrf)), http.StatusOK, "other user's session was ended")
}

// COOKIE_SECURE=false (local plain HTTP): the plain name and no Secure
// attribute; everything else as hardened as ever.
func TestCookie_SecureOff_PlainNameWithoutSecure(t *testing.T) {
	h := newHarness(t, withCookieSecure(false))
	u := h.register(t, uniqueEmail("insecure"))
	res, refresh, csrf := h.cookieLogin(t, u)
	if refresh.Name != plainRefreshCookie || refresh.Secure || csrf.Secure {
		t.Errorf("cookies = %+v / %+v, want refresh_token without Secure", refresh, csrf)
	}
	if setCookies(res)[secureRefreshCookie] != nil {
		t.Error("__Secure- cookie set with Secure off")
	}
	for _, raw := range res.Header.Values("Set-Cookie") {
		if strings.Contains(raw, "Secure") && !strings.HasPrefix(raw, "__Secure") {
			t.Errorf("Set-Cookie %q has Secure", raw)
		}
	}
	if !refresh.HttpOnly || refresh.SameSite != http.SameSiteStrictMode || refresh.Path != "/api/v1/auth" {
		t.Errorf("refresh cookie = %+v", refresh)
	}
	next := h.cookieRefresh(t, refresh, csrf, csrfHeader(csrf))
	if next.Status != http.StatusOK || setCookies(next)[plainRefreshCookie] == nil {
		t.Fatalf("refresh with plain cookie: %d %v", next.Status, next.Header.Values("Set-Cookie"))
	}
	// A __Secure- cookie is not what this server reads.
	secure := &http.Cookie{Name: secureRefreshCookie, Value: setCookies(next)[plainRefreshCookie].Value}
	expectProblem(t, h.cookieRefresh(t, secure, csrf, csrfHeader(csrf)), http.StatusUnauthorized, "invalid_refresh_token")

	var tk tokens
	next.JSON(t, &tk)
	out := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: tk.AccessToken,
		cookies: []*http.Cookie{setCookies(next)[plainRefreshCookie], csrf}, headers: csrfHeader(csrf)}, http.StatusNoContent)
	assertCleared(t, out, plainRefreshCookie, false)
}

// SES-01 with cookies: a login that presents an existing refresh cookie
// gets a new session and a new token; the presented one is never adopted.
func TestCookie_SES01_LoginIgnoresPresentedCookie(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("fixation"))
	_, first, csrf := h.cookieLogin(t, u)
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: cookieTransport, cookies: []*http.Cookie{first, csrf},
		body: map[string]string{"email": u.Email, "password": u.Password}}, http.StatusOK)
	second := setCookies(res)[secureRefreshCookie]
	if second == nil || second.Value == first.Value || claims(t, second.Value)["sid"] == claims(t, first.Value)["sid"] {
		t.Error("the presented session was adopted")
	}
}

// csrfOf is the csrf_token of a token answer ("" when absent).
func csrfOf(t testing.TB, res response) string {
	t.Helper()
	var body struct {
		CSRF *string `json:"csrf_token"`
	}
	res.JSON(t, &body)
	if body.CSRF == nil {
		return ""
	}
	return *body.CSRF
}

// CK-05: the page never reads a cookie. The cookie-transport sign-in and
// refresh answers carry the CSRF token in the body (equal to the server's
// HttpOnly copy, unchanged for the session); the body transport carries
// none, and a cookie refresh sent with the token from the body succeeds.
func TestCookie_CK05_CSRFTokenInAnswer_CookieHttpOnly(t *testing.T) {
	for _, secure := range []bool{true, false} {
		t.Run(map[bool]string{true: "secure", false: "plain"}[secure], func(t *testing.T) {
			h := newHarness(t, withCookieSecure(secure))
			u := h.register(t, uniqueEmail("ck05"))
			res, refresh, csrf := h.cookieLogin(t, u)
			token := csrfOf(t, res)
			if token == "" || token != csrf.Value {
				t.Fatalf("csrf_token in the sign-in answer = %q, want the CSRF cookie's value %q", token, csrf.Value)
			}
			if !csrf.HttpOnly || !strings.Contains(rawSetCookie(t, res, csrf.Name), "HttpOnly") {
				t.Errorf("CSRF cookie is readable by scripts: %s", rawSetCookie(t, res, csrf.Name))
			}
			h.clock.Advance(time.Minute)
			r2 := h.cookieRefresh(t, refresh, csrf, map[string]string{"X-CSRF-Token": token})
			expectStatus(t, r2, http.StatusOK, "cookie refresh with the answer's token")
			if got := csrfOf(t, r2); got != token {
				t.Errorf("refresh answer csrf_token = %q, want the session's %q", got, token)
			}
			if body := h.login(t, u, nil); body.RefreshToken == "" {
				t.Fatal("body transport without a refresh token")
			}
			plain := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/login/json",
				body: map[string]string{"email": u.Email, "password": u.Password}}, http.StatusOK)
			if got := csrfOf(t, plain); got != "" {
				t.Errorf("body transport answered a csrf_token %q", got)
			}
		})
	}
}

// The csrf_failed answer names the cookie this server really uses
// (__Host-csrf_token when Secure, csrf_token on plain HTTP) and where the
// token comes from.
func TestCookie_CK02_CSRFFailedMessage_NamesTheCookieInUse(t *testing.T) {
	for _, c := range []struct {
		secure       bool
		want, absent string
	}{
		{true, "__Host-csrf_token", ""},
		{false, "csrf_token cookie", "__Host-"},
	} {
		h := newHarness(t, withCookieSecure(c.secure))
		u := h.register(t, uniqueEmail("ck02msg"))
		_, refresh, csrf := h.cookieLogin(t, u)
		p := expectProblem(t, h.cookieRefresh(t, refresh, csrf, nil), http.StatusForbidden, "csrf_failed")
		if !strings.Contains(p.Detail, c.want) || (c.absent != "" && strings.Contains(p.Detail, c.absent)) ||
			!strings.Contains(p.Detail, "X-CSRF-Token") || !strings.Contains(p.Detail, "GET /api/v1/auth/csrf") {
			t.Errorf("secure=%v: csrf_failed detail %q, want it to name %q, X-CSRF-Token and GET /api/v1/auth/csrf", c.secure, p.Detail, c.want)
		}
	}
}

// CK-05: GET /api/v1/auth/csrf gives a page that lost its in-memory token
// (a reload) the session's token, only from its own or an allowed origin;
// without a refresh cookie there is nothing to give; a refresh cookie that
// lost its CSRF cookie gets a new one that works.
func TestCookie_CK05_GetCSRFToken(t *testing.T) {
	h := newHarness(t, withAllowedOrigins("https://app.example.test"))
	u := h.register(t, uniqueEmail("ck05get"))
	login, refresh, csrf := h.cookieLogin(t, u)
	get := func(cookies []*http.Cookie, headers map[string]string) response {
		return h.do(t, req{method: "GET", path: "/api/v1/auth/csrf", cookies: cookies, headers: headers})
	}

	for name, hdr := range map[string]map[string]string{
		"same origin, no Origin header": nil,
		"allowed origin":                {"Origin": "https://app.example.test", "Sec-Fetch-Site": "same-site"},
	} {
		res := get([]*http.Cookie{refresh, csrf}, hdr)
		if res.Status != http.StatusOK || csrfOf(t, res) != csrfOf(t, login) || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %s (Cache-Control %q), want 200 with the session's token, no-store", name, res.Status, res.Body, res.Header.Get("Cache-Control"))
		}
		if len(setCookies(res)) != 0 {
			t.Errorf("%s: set cookies %v though both were present", name, res.Header.Values("Set-Cookie"))
		}
	}
	if res := get([]*http.Cookie{refresh, csrf}, map[string]string{"Origin": "https://app.example.test"}); res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.test" {
		t.Errorf("allowed origin: no CORS answer: %v", res.Header)
	}
	for name, hdr := range map[string]map[string]string{
		"foreign origin":               {"Origin": "https://evil.example"},
		"sibling origin not allowed":   {"Origin": "https://evil.example.test", "Sec-Fetch-Site": "same-site"},
		"opaque origin":                {"Origin": "null"},
		"cross-site fetch, no Origin":  {"Sec-Fetch-Site": "cross-site"},
		"cross-site fetch, own Origin": {"Origin": h.srv.URL, "Sec-Fetch-Site": "cross-site"},
	} {
		res := get([]*http.Cookie{refresh, csrf}, hdr)
		expectProblem(t, res, http.StatusForbidden, "csrf_failed")
		if strings.Contains(string(res.Body), csrf.Value) || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: the token or a CORS grant leaked: %v %s", name, res.Header, res.Body)
		}
	}
	expectProblem(t, get([]*http.Cookie{csrf}, nil), http.StatusUnauthorized, "invalid_refresh_token")
	expectProblem(t, get(nil, nil), http.StatusUnauthorized, "invalid_refresh_token")

	// The browser kept the refresh cookie but dropped the CSRF cookie: a
	// new token, set HttpOnly, that the next refresh accepts.
	res := get([]*http.Cookie{refresh}, nil)
	expectStatus(t, res, http.StatusOK, "refresh cookie alone")
	fresh := setCookies(res)[secureCSRFCookie]
	if fresh == nil || !fresh.HttpOnly || !fresh.Secure || fresh.Path != "/" || fresh.Value != csrfOf(t, res) || fresh.Value == csrf.Value {
		t.Fatalf("new CSRF cookie = %+v, body %s", fresh, res.Body)
	}
	h.clock.Advance(time.Minute)
	expectStatus(t, h.cookieRefresh(t, refresh, fresh, map[string]string{"X-CSRF-Token": fresh.Value}), http.StatusOK, "refresh with the new token")
}
