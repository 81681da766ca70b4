package http

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// Cookie transport (README "Browser clients"; CK-01, CK-05). The refresh cookie is HttpOnly,
// SameSite=Strict, scoped to the auth path (so it cannot use the __Host-
// prefix; __Secure- when Secure), no Domain, Max-Age = seconds to the
// session's absolute deadline. The CSRF defence is a double submit that no
// page reads from a cookie: the server hands the token out in the body of
// the cookie-transport sign-in and refresh answers (TokenResponse.
// csrf_token) and of GET /api/v1/auth/csrf, all readable only by the own
// origin and ALLOWED_ORIGINS (CORS); its own copy is an HttpOnly cookie;
// cookie-borne refresh and logout must send the token in X-CSRF-Token.
// README.md "Browser clients: CSRF" has the threat model per layout.
const (
	cookiePath      = "/api/v1/auth"
	csrfHeader      = "X-CSRF-Token"
	transportHeader = "X-Session-Transport"
)

// csrfCookieName is __Host-csrf_token when Secure: the CSRF cookie has
// Path=/ and no Domain, so it can take the __Host- prefix, which tells the
// browser to refuse it from a sibling subdomain or plain HTTP (a planted
// double-submit value would defeat the check). csrf_token for local HTTP.
// The cookie is HttpOnly: pages get the token from answers, never from
// document.cookie (which any page of the API's host, on any port, could
// read).
func (s *Server) csrfCookieName() string {
	if s.cfg.CookieSecure {
		return "__Host-csrf_token"
	}
	return "csrf_token"
}

func (s *Server) refreshCookieName() string {
	if s.cfg.CookieSecure {
		return "__Secure-refresh_token"
	}
	return "refresh_token"
}

// cookieMaxAge is the seconds from issue to the session's absolute
// deadline (at least 1: Max-Age 0 would delete the cookie at once).
func cookieMaxAge(absoluteDeadline, issuedAt time.Time) int {
	return max(1, int(absoluteDeadline.Sub(issuedAt).Seconds()))
}

func (s *Server) refreshCookie(token string, absoluteDeadline, issuedAt time.Time) *http.Cookie {
	return &http.Cookie{
		Name: s.refreshCookieName(), Value: token, Path: cookiePath, MaxAge: cookieMaxAge(absoluteDeadline, issuedAt),
		HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode,
	}
}

func (s *Server) csrfCookie(value string, absoluteDeadline, issuedAt time.Time) *http.Cookie {
	return &http.Cookie{
		Name: s.csrfCookieName(), Value: value, Path: "/", MaxAge: cookieMaxAge(absoluteDeadline, issuedAt),
		HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode,
	}
}

// clearedCookies expire both cookies (empty value, Max-Age=0).
func (s *Server) clearedCookies() []*http.Cookie {
	return []*http.Cookie{
		{Name: s.refreshCookieName(), Value: "", Path: cookiePath, MaxAge: -1, HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode},
		{Name: s.csrfCookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode},
	}
}

func newCSRFValue() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// csrfFailure is the answer to a failed CSRF check; it names the cookie
// this server really uses and where the token comes from.
func (s *Server) csrfFailure() error {
	return &core.Error{Code: codeCSRFFailed, Message: fmt.Sprintf(
		"cookie-borne requests must come from this server's origin or one of ALLOWED_ORIGINS and send the session's CSRF token "+
			"(csrf_token of the sign-in answer or of GET /api/v1/auth/csrf; the server's copy is the %s cookie) in X-CSRF-Token",
		s.csrfCookieName())}
}

// checkOrigin refuses a request from a foreign origin: an Origin that is
// neither the server's own host nor in ALLOWED_ORIGINS, or a request the
// browser marks cross-site (Fetch Metadata) from an origin not explicitly
// allowed, Origin header or not.
func (s *Server) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin != "" && !s.origins.Allowed(origin) && !sameHost(origin, r.Host) {
		return s.csrfFailure()
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" && !s.origins.Allowed(origin) {
		return s.csrfFailure()
	}
	return nil
}

// checkCSRF is the defence for cookie-borne requests: the origin check,
// then the X-CSRF-Token header must equal the CSRF cookie (double submit:
// a page that cannot read the API's answers cannot learn the token, and a
// cross-site page cannot set a custom header without a preflight that CORS
// refuses). SameSite=Strict is defence in depth only (CK-02).
func (s *Server) checkCSRF(r *http.Request) error {
	if err := s.checkOrigin(r); err != nil {
		return err
	}
	c, err := r.Cookie(s.csrfCookieName())
	h := r.Header.Get(csrfHeader)
	if err != nil || c.Value == "" || h == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(h)) != 1 {
		return s.csrfFailure()
	}
	return nil
}

// sameHost reports whether origin names the host the request was sent to
// (the API's own origin, or a page on the same host behind a proxy that
// keeps Host).
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// GetCsrfToken answers the CSRF token of the session whose refresh cookie
// came with the request, for a page that lost the copy it kept in memory
// (a reload with no other tab). The origin check runs first and CORS keeps
// the answer from any page not allowed, so only the pages that could have
// read the sign-in answer can read this one. A refresh cookie that came
// without its CSRF cookie gets a new one.
func (s *Server) GetCsrfToken(ctx context.Context, _ api.GetCsrfTokenRequestObject) (api.GetCsrfTokenResponseObject, error) {
	r := requestFrom(ctx).r
	if err := s.checkOrigin(r); err != nil {
		return nil, err
	}
	rc, err := r.Cookie(s.refreshCookieName())
	if err != nil || rc.Value == "" {
		return nil, core.Errorf(core.CodeInvalidRefreshToken, "no session cookie: sign in with X-Session-Transport: cookie first")
	}
	res := csrfIssued{}
	if c, err := r.Cookie(s.csrfCookieName()); err == nil && c.Value != "" && len(c.Value) <= 256 {
		res.token = c.Value
	} else {
		res.token = newCSRFValue()
		// The refresh cookie's Max-Age is not sent back; the CSRF cookie
		// lives for the browser session, and the next refresh sets it again
		// with the session's deadline.
		res.cookie = &http.Cookie{Name: s.csrfCookieName(), Value: res.token, Path: "/", HttpOnly: true,
			Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode}
	}
	return res, nil
}

// csrfIssued answers GET /api/v1/auth/csrf (no-store: the token is a
// session secret).
type csrfIssued struct {
	token  string
	cookie *http.Cookie
}

func (c csrfIssued) VisitGetCsrfTokenResponse(w http.ResponseWriter) error {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if c.cookie != nil {
		http.SetCookie(w, c.cookie)
	}
	return writeJSON(w, http.StatusOK, api.CsrfTokenResponse{CsrfToken: c.token})
}
