package http

import (
	"context"
	"net/http"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// The device cookie (OWASP Authentication Cheat Sheet, "device cookies";
// LGN-09, docs/security-checklist.md): every successful sign-in sets it,
// HttpOnly, on the sign-in paths only; a sign-in presenting a valid one
// for its email is judged on that device's own brute-force counter, so
// that an attacker guessing the owner's password from elsewhere never
// locks the owner's known devices out. It is no credential: it opens
// nothing by itself, and without it a sign-in is judged as before, on the
// email's counter.

// deviceCookiePath scopes the cookie to POST /api/v1/auth/login and
// /api/v1/auth/login/json (RFC 6265 path-match): no other request carries
// it.
const deviceCookiePath = "/api/v1/auth/login"

// deviceCookieName is __Secure-login_device with Secure cookies (the
// __Host- prefix would need Path=/), login_device without.
func (s *Server) deviceCookieName() string {
	if s.cfg.CookieSecure {
		return "__Secure-login_device"
	}
	return "login_device"
}

// deviceCookie is the cookie a successful sign-in sets.
func (s *Server) deviceCookie(p core.TokenPair) *http.Cookie {
	return &http.Cookie{
		Name: s.deviceCookieName(), Value: p.DeviceToken, Path: deviceCookiePath,
		MaxAge:   cookieMaxAge(p.DeviceExpiresAt, p.IssuedAt),
		HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode,
	}
}

// signIn runs a sign-in with the request's device cookie and answers with
// the pair, in the transport asked for, plus a fresh device cookie.
func (s *Server) signIn(ctx context.Context, email, password string, transport *api.SessionTransport) (tokenIssued, error) {
	in := core.SignInRequest{Email: email, Password: password}
	ri := requestFrom(ctx)
	if c, err := ri.r.Cookie(s.deviceCookieName()); err == nil {
		in.DeviceToken = c.Value
	}
	p, err := s.svc.SignIn(ctx, in, ri.client)
	if err != nil {
		return tokenIssued{}, err
	}
	if c := p.MFAChallenge; c != nil {
		return tokenIssued{challenge: c}, nil
	}
	return s.signedIn(p, transport), nil
}

// signedIn is the answer of every sign-in (a login, the second
// factor's answer, an accepted invitation): the tokens in the chosen transport and the device cookie.
func (s *Server) signedIn(p core.TokenPair, transport *api.SessionTransport) tokenIssued {
	t := s.tokenResponse(p, cookieTransport(transport), "")
	if p.DeviceToken != "" {
		t.cookies = append(t.cookies, s.deviceCookie(p))
	}
	return t
}
