package http

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sessiond/sessiond/core"
)

// Cookie transport (SPEC §4, §6). The refresh cookie is HttpOnly,
// SameSite=Strict, scoped to the auth path (so it cannot use the __Host-
// prefix; __Secure- when Secure), no Domain, Max-Age = seconds to the
// session's absolute deadline. A readable CSRF cookie carries the
// double-submit value that cookie-borne refresh and logout must echo in
// X-CSRF-Token.
const (
	cookiePath      = "/api/v1/auth"
	csrfHeader      = "X-CSRF-Token"
	transportHeader = "X-Session-Transport"
)

// csrfCookieName is __Host-csrf_token when Secure: the CSRF cookie has
// Path=/ and no Domain, so it can take the __Host- prefix, which tells the
// browser to refuse it from a sibling subdomain or plain HTTP (a planted
// double-submit value would defeat the check). csrf_token for local HTTP.
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
		HttpOnly: false, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode,
	}
}

// clearedCookies expire both cookies (empty value, Max-Age=0).
func (s *Server) clearedCookies() []*http.Cookie {
	return []*http.Cookie{
		{Name: s.refreshCookieName(), Value: "", Path: cookiePath, MaxAge: -1, HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode},
		{Name: s.csrfCookieName(), Value: "", Path: "/", MaxAge: -1, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode},
	}
}

func newCSRFValue() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// checkCSRF is the defence for cookie-borne requests: a foreign Origin is
// refused, and the X-CSRF-Token header must equal the csrf_token cookie
// (double submit: a cross-site page can make the browser send cookies but
// can neither read them nor set custom headers). SameSite=Strict is
// defence in depth only.
func (s *Server) checkCSRF(r *http.Request) error {
	fail := &core.Error{Code: codeCSRFFailed, Message: "cookie-borne requests must send the csrf_token cookie value in X-CSRF-Token from the same origin"}
	origin := r.Header.Get("Origin")
	if origin != "" && !s.originAllowed(origin, r.Host) {
		return fail
	}
	// Fetch metadata: a browser marks a request from another site, Origin
	// or not; only an explicitly allowed origin may be cross-site.
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" && !s.explicitlyAllowed(origin) {
		return fail
	}
	c, err := r.Cookie(s.csrfCookieName())
	h := r.Header.Get(csrfHeader)
	if err != nil || c.Value == "" || h == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(h)) != 1 {
		return fail
	}
	return nil
}

func (s *Server) explicitlyAllowed(origin string) bool {
	if origin == "" {
		return false
	}
	for _, o := range s.cfg.AllowedOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func (s *Server) originAllowed(origin, host string) bool {
	if s.explicitlyAllowed(origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}
