package http

import (
	"context"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// UpdateMe changes the caller's own profile (their display name).
func (s *Server) UpdateMe(ctx context.Context, req api.UpdateMeRequestObject) (api.UpdateMeResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	var patch core.ProfilePatch
	if req.Body != nil {
		patch.Name = req.Body.Name
	}
	u, err := s.svc.UpdateProfile(ctx, p, patch, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.UpdateMe200JSONResponse(userBody(u)), nil
}
