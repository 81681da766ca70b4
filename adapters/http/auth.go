package http

import (
	"context"
	"net/http"
	"strings"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// tokenIssued answers sign-in and refresh: no-store caching (tokens must
// not be cached anywhere, CK-03) and, in cookie transport, the refresh and
// CSRF cookies — two Set-Cookie headers, which the generated response type
// cannot express.
type tokenIssued struct {
	body    api.TokenResponse
	cookies []*http.Cookie
	// challenge, when set, is the answer instead of tokens: 202 with the
	// second-factor challenge (sign-in only).
	challenge *core.MFAChallengeIssued
}

func (t tokenIssued) write(w http.ResponseWriter) error {
	if c := t.challenge; c != nil {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		methods := make([]api.MfaChallengeMethods, len(c.Methods))
		for i, m := range c.Methods {
			methods[i] = api.MfaChallengeMethods(m)
		}
		return writeJSON(w, http.StatusAccepted, api.MfaChallenge{MfaChallengeToken: c.Token, ExpiresAt: c.ExpiresAt.UTC(), Methods: methods})
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	for _, c := range t.cookies {
		http.SetCookie(w, c)
	}
	return writeJSON(w, http.StatusOK, t.body)
}

func (t tokenIssued) VisitLoginJsonResponse(w http.ResponseWriter) error    { return t.write(w) }
func (t tokenIssued) VisitLoginFormResponse(w http.ResponseWriter) error    { return t.write(w) }
func (t tokenIssued) VisitRefreshTokenResponse(w http.ResponseWriter) error { return t.write(w) }
func (t tokenIssued) VisitAcceptInvitationResponse(w http.ResponseWriter) error {
	return t.write(w)
}
func (t tokenIssued) VisitVerifyMfaResponse(w http.ResponseWriter) error { return t.write(w) }

// loggedOut answers logout: 204, clearing the cookies when the client used
// them.
type loggedOut struct{ cookies []*http.Cookie }

func (l loggedOut) VisitLogoutResponse(w http.ResponseWriter) error {
	for _, c := range l.cookies {
		http.SetCookie(w, c)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) tokenResponse(p core.TokenPair, cookieMode bool, csrf string) tokenIssued {
	body := api.TokenResponse{
		AccessToken: p.AccessToken, TokenType: api.TokenResponseTokenTypeBearer, ExpiresIn: int(p.AccessExpiresIn / time.Second),
		IdleExpiresAt: p.IdleExpiresAt.UTC(), AbsoluteExpiresAt: p.AbsoluteExpiresAt.UTC(), SessionId: p.SessionID,
	}
	if !cookieMode {
		rt := p.RefreshToken
		body.RefreshToken = &rt
		return tokenIssued{body: body}
	}
	if csrf == "" {
		csrf = newCSRFValue()
	}
	body.CsrfToken = &csrf // the page keeps it in memory (cookies.go)
	return tokenIssued{body: body, cookies: []*http.Cookie{
		s.refreshCookie(p.RefreshToken, p.AbsoluteExpiresAt, p.IssuedAt),
		s.csrfCookie(csrf, p.AbsoluteExpiresAt, p.IssuedAt),
	}}
}

// RegisterUser creates an account and its owner.
func (s *Server) RegisterUser(ctx context.Context, req api.RegisterUserRequestObject) (api.RegisterUserResponseObject, error) {
	b := req.Body
	r, err := s.svc.Register(ctx, core.RegisterInput{
		NewUser: core.NewUser{Email: b.Email, Password: b.Password, Name: b.Name}, AccountName: b.AccountName,
	}, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	if r.Pending {
		// The same answer for every email (verification.go).
		return api.RegisterUser202JSONResponse{Status: api.VerificationRequired, Message: registrationPendingMessage}, nil
	}
	return api.RegisterUser201JSONResponse(userBody(r.User)), nil
}

func userBody(u core.User) api.User {
	return api.User{
		Id: u.ID, AccountId: u.AccountID, Email: openapi_types.Email(u.Email), Name: u.Name,
		AccountRole: api.AccountRole(u.Role), IsActive: u.Active, CreatedAt: u.CreatedAt.UTC(),
	}
}

func cookieTransport(v *api.SessionTransport) bool { return v != nil && *v == api.Cookie }

// LoginJson signs in with a JSON body.
func (s *Server) LoginJson(ctx context.Context, req api.LoginJsonRequestObject) (api.LoginJsonResponseObject, error) {
	t, err := s.signIn(ctx, req.Body.Email, req.Body.Password, req.Params.XSessionTransport)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// LoginForm signs in with the OAuth2 password form.
func (s *Server) LoginForm(ctx context.Context, req api.LoginFormRequestObject) (api.LoginFormResponseObject, error) {
	t, err := s.signIn(ctx, req.Body.Username, req.Body.Password, req.Params.XSessionTransport)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// RefreshToken rotates the refresh token taken from, in order, the
// Authorization header, the JSON body, or the refresh cookie (which needs
// the CSRF defence and keeps the answer in cookie transport).
func (s *Server) RefreshToken(ctx context.Context, req api.RefreshTokenRequestObject) (api.RefreshTokenResponseObject, error) {
	r := requestFrom(ctx).r
	var raw string
	fromCookie := false
	if t, ok := bearerToken(r); ok {
		raw = t
	} else if req.Body != nil && req.Body.RefreshToken != nil && *req.Body.RefreshToken != "" {
		raw = *req.Body.RefreshToken
	} else if c, err := r.Cookie(s.refreshCookieName()); err == nil && c.Value != "" {
		if err := s.checkCSRF(r); err != nil {
			return nil, err
		}
		raw, fromCookie = c.Value, true
	}
	if raw == "" {
		return nil, core.Errorf(core.CodeInvalidRefreshToken, "a refresh token is required (Authorization: Bearer, JSON body, or cookie)")
	}
	p, err := s.svc.Refresh(ctx, raw, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	csrf := ""
	if fromCookie {
		if c, err := r.Cookie(s.csrfCookieName()); err == nil {
			csrf = c.Value
		}
	}
	if st := stateFrom(ctx); st != nil {
		st.outcome = refreshOutcome(p)
	}
	return s.tokenResponse(p, fromCookie, csrf), nil
}

// Logout ends the current session (and the session of a refresh token
// given in the body or cookie, if it is the caller's; any other is
// ignored). Idempotent.
func (s *Server) Logout(ctx context.Context, req api.LogoutRequestObject) (api.LogoutResponseObject, error) {
	b, _ := bearerFrom(ctx)
	r := requestFrom(ctx).r
	var raw string
	var cookies []*http.Cookie
	if req.Body != nil && req.Body.RefreshToken != nil {
		raw = strings.TrimSpace(*req.Body.RefreshToken)
	}
	if c, err := r.Cookie(s.refreshCookieName()); err == nil && c.Value != "" {
		if err := s.checkCSRF(r); err != nil {
			return nil, err
		}
		if raw == "" {
			raw = c.Value
		}
		cookies = s.clearedCookies()
	}
	// A stale or foreign refresh token (cookie or body) does not keep the
	// caller from signing out: the service ignores it and ends the current
	// session anyway (REV-06); the cookies are cleared.
	if err := s.svc.Logout(ctx, b, raw, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return loggedOut{cookies: cookies}, nil
}

// LogoutAll ends every session of the caller.
func (s *Server) LogoutAll(ctx context.Context, _ api.LogoutAllRequestObject) (api.LogoutAllResponseObject, error) {
	b, _ := bearerFrom(ctx)
	n, err := s.svc.LogoutAll(ctx, b, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.LogoutAll200JSONResponse{RevokedCount: int(n)}, nil
}

// GetMe returns the caller's profile.
func (s *Server) GetMe(ctx context.Context, _ api.GetMeRequestObject) (api.GetMeResponseObject, error) {
	b, _ := bearerFrom(ctx)
	u, err := s.svc.Me(ctx, b)
	if err != nil {
		return nil, err
	}
	return api.GetMe200JSONResponse(userBody(u)), nil
}
