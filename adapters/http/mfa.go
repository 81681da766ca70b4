package http

import (
	"context"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// Second factor and recent authentication (core/mfa.go,
// docs/session-rules.md §11). Secrets, codes and otpauth URIs are answered
// once and never logged.

// enrolOnlyAllowed are the operations an enrol-only session may call
// (core.EnrolmentRequired for every other bearer operation).
var enrolOnlyAllowed = map[string]bool{
	"enrolTotp": true, "confirmTotp": true, "getMfaStatus": true,
	"getMe": true, "logout": true, "getCsrfToken": true,
}

// VerifyMfa answers a sign-in's second-factor challenge with tokens, as a
// sign-in does.
func (s *Server) VerifyMfa(ctx context.Context, req api.VerifyMfaRequestObject) (api.VerifyMfaResponseObject, error) {
	in := core.MFAAnswer{ChallengeToken: req.Body.MfaChallengeToken}
	if req.Body.Code != nil {
		in.Code = *req.Body.Code
	}
	if req.Body.RecoveryCode != nil {
		in.RecoveryCode = *req.Body.RecoveryCode
	}
	ri := requestFrom(ctx)
	p, err := s.svc.VerifyMFA(ctx, in, ri.client)
	if err != nil {
		return nil, err
	}
	return s.signedIn(p, req.Params.XSessionTransport), nil
}

// GetMfaStatus returns the caller's second-factor state.
func (s *Server) GetMfaStatus(ctx context.Context, _ api.GetMfaStatusRequestObject) (api.GetMfaStatusResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.svc.MFAStatusOf(ctx, p)
	if err != nil {
		return nil, err
	}
	return api.GetMfaStatus200JSONResponse{Enabled: st.Enabled, RecoveryCodesRemaining: st.RecoveryCodesRemaining}, nil
}

// noStore answers a body that holds a secret: never cached.
type noStore struct {
	status int
	body   any
}

func (n noStore) write(w http.ResponseWriter) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	return writeJSON(w, n.status, n.body)
}

func (n noStore) VisitEnrolTotpResponse(w http.ResponseWriter) error               { return n.write(w) }
func (n noStore) VisitConfirmTotpResponse(w http.ResponseWriter) error             { return n.write(w) }
func (n noStore) VisitRegenerateRecoveryCodesResponse(w http.ResponseWriter) error { return n.write(w) }
func (n noStore) VisitReauthenticateResponse(w http.ResponseWriter) error          { return n.write(w) }

// EnrolTotp starts a TOTP enrolment.
func (s *Server) EnrolTotp(ctx context.Context, _ api.EnrolTotpRequestObject) (api.EnrolTotpResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.svc.EnrolTOTP(ctx, p, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return noStore{http.StatusCreated, api.TotpEnrolment{Secret: e.Secret, OtpauthUri: e.URI}}, nil
}

// ConfirmTotp confirms the pending enrolment.
func (s *Server) ConfirmTotp(ctx context.Context, req api.ConfirmTotpRequestObject) (api.ConfirmTotpResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.svc.ConfirmTOTP(ctx, p, req.Body.Code, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return noStore{http.StatusOK, api.MfaConfirmed{RecoveryCodes: c.RecoveryCodes, AccessToken: c.AccessToken,
		TokenType: api.MfaConfirmedTokenTypeBearer, ExpiresIn: int(c.AccessTTL / time.Second)}}, nil
}

// DisableTotp removes the caller's second factor.
func (s *Server) DisableTotp(ctx context.Context, _ api.DisableTotpRequestObject) (api.DisableTotpResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.svc.DisableTOTP(ctx, p, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return api.DisableTotp204Response{}, nil
}

// RegenerateRecoveryCodes replaces the caller's recovery codes.
func (s *Server) RegenerateRecoveryCodes(ctx context.Context, _ api.RegenerateRecoveryCodesRequestObject) (api.RegenerateRecoveryCodesResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	codes, err := s.svc.RegenerateRecoveryCodes(ctx, p, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return noStore{http.StatusOK, api.RecoveryCodes{RecoveryCodes: codes}}, nil
}

// Reauthenticate renews the session's authentication.
func (s *Server) Reauthenticate(ctx context.Context, req api.ReauthenticateRequestObject) (api.ReauthenticateResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	code := ""
	if req.Body.Code != nil {
		code = *req.Body.Code
	}
	r, err := s.svc.Reauthenticate(ctx, p, req.Body.Password, code, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return noStore{http.StatusOK, api.AccessTokenResponse{AccessToken: r.AccessToken, TokenType: api.AccessTokenResponseTokenTypeBearer,
		ExpiresIn: int(r.AccessTTL / time.Second), AuthTime: r.AuthTime.UTC()}}, nil
}

// ResetMemberMfa removes a member's second factor and ends their sessions.
func (s *Server) ResetMemberMfa(ctx context.Context, req api.ResetMemberMfaRequestObject) (api.ResetMemberMfaResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.svc.ResetMemberMFA(ctx, p, req.UserId, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.ResetMemberMfa200JSONResponse{RevokedCount: int(n)}, nil
}
