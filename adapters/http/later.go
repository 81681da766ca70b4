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

func (s *Server) ListAuditEvents(context.Context, api.ListAuditEventsRequestObject) (api.ListAuditEventsResponseObject, error) {
	return nil, notImplemented()
}
func (s *Server) ListMembers(context.Context, api.ListMembersRequestObject) (api.ListMembersResponseObject, error) {
	return nil, notImplemented()
}
func (s *Server) CreateMember(context.Context, api.CreateMemberRequestObject) (api.CreateMemberResponseObject, error) {
	return nil, notImplemented()
}
func (s *Server) GetAccountSecurity(context.Context, api.GetAccountSecurityRequestObject) (api.GetAccountSecurityResponseObject, error) {
	return nil, notImplemented()
}
func (s *Server) UpdateAccountSecurity(context.Context, api.UpdateAccountSecurityRequestObject) (api.UpdateAccountSecurityResponseObject, error) {
	return nil, notImplemented()
}
func (s *Server) RevokeAccountSessions(context.Context, api.RevokeAccountSessionsRequestObject) (api.RevokeAccountSessionsResponseObject, error) {
	return nil, notImplemented()
}
