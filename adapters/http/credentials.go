package http

import (
	"context"
	"net/http"

	"github.com/sessiond/sessiond/adapters/http/api"
)

// ChangePassword changes the caller's password; the caller's other
// sessions end, the current one survives.
func (s *Server) ChangePassword(ctx context.Context, req api.ChangePasswordRequestObject) (api.ChangePasswordResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.svc.ChangePassword(ctx, p, req.Body.CurrentPassword, req.Body.NewPassword, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return noStore204{}, nil
}

// resetRequestedMessage is the one answer to a reset request, whether or
// not the address belongs to anyone.
const resetRequestedMessage = "If the address belongs to an account, a password-reset link has been sent to it."

// RequestPasswordReset always answers the same 200 body (no enumeration),
// and is never refused per email (the mail rate holds mails back instead,
// LGN-11).
func (s *Server) RequestPasswordReset(ctx context.Context, req api.RequestPasswordResetRequestObject) (api.RequestPasswordResetResponseObject, error) {
	if err := s.svc.RequestPasswordReset(ctx, req.Body.Email, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return api.RequestPasswordReset200JSONResponse{Message: resetRequestedMessage}, nil
}

// ConfirmPasswordReset consumes a reset token and sets the new password;
// all of the user's sessions end.
func (s *Server) ConfirmPasswordReset(ctx context.Context, req api.ConfirmPasswordResetRequestObject) (api.ConfirmPasswordResetResponseObject, error) {
	if err := s.svc.ConfirmPasswordReset(ctx, req.Body.Token, req.Body.NewPassword, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return noStore204{}, nil
}

// noStore204 answers 204 with Cache-Control: no-store (credential
// operations are never cacheable).
type noStore204 struct{}

func (noStore204) write(w http.ResponseWriter) error {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (r noStore204) VisitChangePasswordResponse(w http.ResponseWriter) error       { return r.write(w) }
func (r noStore204) VisitConfirmPasswordResetResponse(w http.ResponseWriter) error { return r.write(w) }
func (r noStore204) VisitVerifyEmailResponse(w http.ResponseWriter) error          { return r.write(w) }
