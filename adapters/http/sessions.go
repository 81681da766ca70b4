package http

import (
	"context"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// ListSessions returns the caller's live sessions (REV-02: only the
// caller's, and no token material).
func (s *Server) ListSessions(ctx context.Context, _ api.ListSessionsRequestObject) (api.ListSessionsResponseObject, error) {
	b, _ := bearerFrom(ctx)
	list, err := s.svc.ListSessions(ctx, b)
	if err != nil {
		return nil, err
	}
	items := make([]api.Session, 0, len(list))
	for _, si := range list {
		items = append(items, sessionBody(si))
	}
	return api.ListSessions200JSONResponse{Items: items}, nil
}

// sessionBody maps a session to its wire form. Every nullable field is set
// explicitly: a zero nullable.Nullable would be omitted from the JSON, but
// the contract requires the key, with null when unknown.
func sessionBody(si core.SessionInfo) api.Session {
	return api.Session{
		Id:                si.ID,
		DeviceName:        nullableString(si.DeviceName),
		DeviceId:          nullableString(si.DeviceID),
		IpAddress:         nullableAddr(si.IP),
		UserAgent:         nullableString(si.UserAgent),
		LastIpAddress:     nullableAddr(si.LastIP),
		LastUserAgent:     nullableString(si.LastUserAgent),
		CreatedAt:         si.CreatedAt.UTC(),
		LastUsedAt:        si.LastUsedAt.UTC(),
		IdleExpiresAt:     core.IdleDeadline(si.IdleExpiresAt, si.AbsoluteExpiresAt).UTC(), // rows written before TMO-04 may say later
		AbsoluteExpiresAt: si.AbsoluteExpiresAt.UTC(),
		IsCurrent:         si.Current,
	}
}

// RevokeSession ends one of the caller's sessions. A session the caller may
// not revoke — unknown, another user's or tenant's, already ended — is the
// same 404 (REV-03). The current session may be revoked this way: it is a
// logout (the refresh cookie, path-scoped to /api/v1/auth, is not sent
// here and so is not cleared; it is dead server-side all the same).
func (s *Server) RevokeSession(ctx context.Context, req api.RevokeSessionRequestObject) (api.RevokeSessionResponseObject, error) {
	b, _ := bearerFrom(ctx)
	if err := s.svc.RevokeSession(ctx, b, req.SessionId, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return api.RevokeSession204Response{}, nil
}
