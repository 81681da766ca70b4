package http

import (
	"context"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// Operations in the contract whose behaviour is not built yet answer 501
// problem+json.

func notImplemented() error {
	return core.Errorf(core.CodeNotImplemented, "this operation is not implemented yet")
}

func (s *Server) ChangePassword(context.Context, api.ChangePasswordRequestObject) (api.ChangePasswordResponseObject, error) {
	return nil, notImplemented()
}
func (s *Server) ConfirmPasswordReset(context.Context, api.ConfirmPasswordResetRequestObject) (api.ConfirmPasswordResetResponseObject, error) {
	return nil, notImplemented()
}
func (s *Server) RequestPasswordReset(context.Context, api.RequestPasswordResetRequestObject) (api.RequestPasswordResetResponseObject, error) {
	return nil, notImplemented()
}
func (s *Server) ListSessions(context.Context, api.ListSessionsRequestObject) (api.ListSessionsResponseObject, error) {
	return nil, notImplemented()
}
func (s *Server) RevokeSession(context.Context, api.RevokeSessionRequestObject) (api.RevokeSessionResponseObject, error) {
	return nil, notImplemented()
}
