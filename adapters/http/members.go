package http

import (
	"context"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// Account administration of members and of every session of the account
// (owner only; the owner check, the last-owner rule and tenant scoping are
// core's).

// ListAccountSessions returns one page of the account's live sessions.
func (s *Server) ListAccountSessions(ctx context.Context, req api.ListAccountSessionsRequestObject) (api.ListAccountSessionsResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, cursor := pageParams(req.Params.Limit, req.Params.Cursor)
	page, err := s.svc.ListAccountSessions(ctx, p, req.Params.UserId, limit, cursor)
	if err != nil {
		return nil, err
	}
	items := make([]api.AccountSession, len(page.Sessions))
	for i, si := range page.Sessions {
		items[i] = accountSessionBody(si)
	}
	return api.ListAccountSessions200JSONResponse{Items: items, NextCursor: nullableString(page.NextCursor)}, nil
}

// accountSessionBody is a session as an owner sees it: the fields of the
// caller's own list plus whose it is.
func accountSessionBody(si core.SessionInfo) api.AccountSession {
	b := sessionBody(si)
	return api.AccountSession{
		Id: b.Id, UserId: si.UserID, UserEmail: openapi_types.Email(si.UserEmail),
		DeviceName: b.DeviceName, DeviceId: b.DeviceId,
		IpAddress: b.IpAddress, UserAgent: b.UserAgent,
		LastIpAddress: b.LastIpAddress, LastUserAgent: b.LastUserAgent,
		CreatedAt: b.CreatedAt, LastUsedAt: b.LastUsedAt,
		IdleExpiresAt: b.IdleExpiresAt, AbsoluteExpiresAt: b.AbsoluteExpiresAt,
		IsCurrent: b.IsCurrent,
	}
}

// RevokeAccountSession revokes any session of the account.
func (s *Server) RevokeAccountSession(ctx context.Context, req api.RevokeAccountSessionRequestObject) (api.RevokeAccountSessionResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.svc.RevokeAccountSession(ctx, p, req.SessionId, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return api.RevokeAccountSession204Response{}, nil
}

// UpdateMember changes a member's role, active flag or name.
func (s *Server) UpdateMember(ctx context.Context, req api.UpdateMemberRequestObject) (api.UpdateMemberResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	var patch core.MemberPatch
	if b := req.Body; b != nil {
		if b.Role != nil {
			r := core.Role(*b.Role)
			patch.Role = &r
		}
		patch.Active = b.IsActive
		patch.Name = b.Name
	}
	u, err := s.svc.UpdateMember(ctx, p, req.UserId, patch, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.UpdateMember200JSONResponse(userBody(u)), nil
}

// RemoveMember deletes a member.
func (s *Server) RemoveMember(ctx context.Context, req api.RemoveMemberRequestObject) (api.RemoveMemberResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.svc.RemoveMember(ctx, p, req.UserId, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return api.RemoveMember204Response{}, nil
}

// RevokeMemberSessions ends every live session of one member.
func (s *Server) RevokeMemberSessions(ctx context.Context, req api.RevokeMemberSessionsRequestObject) (api.RevokeMemberSessionsResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.svc.RevokeMemberSessions(ctx, p, req.UserId, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.RevokeMemberSessions200JSONResponse{RevokedCount: int(n)}, nil
}
