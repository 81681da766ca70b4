package http

import (
	"context"
	"time"

	"github.com/oapi-codegen/runtime/types"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// Verified emails and invitations (core/verification.go,
// core/invitations.go; docs/session-rules.md).

// registrationPendingMessage is the one answer to a registration while
// verification is required, whatever the email.
const registrationPendingMessage = "If this email can be registered, a verification link has been sent to it."

// verificationResentMessage is the one answer to a resend request.
const verificationResentMessage = "If the address has a registration waiting for verification, a new link has been sent to it."

// VerifyEmail uses an email-verification token with the registration's
// password (VER-08); it does not sign in.
func (s *Server) VerifyEmail(ctx context.Context, req api.VerifyEmailRequestObject) (api.VerifyEmailResponseObject, error) {
	if err := s.svc.VerifyEmail(ctx, req.Body.Token, req.Body.Password, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return noStore204{}, nil
}

// ResendVerification always answers the same 202 (no enumeration).
func (s *Server) ResendVerification(ctx context.Context, req api.ResendVerificationRequestObject) (api.ResendVerificationResponseObject, error) {
	if err := s.svc.ResendVerification(ctx, req.Body.Email, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return api.ResendVerification202JSONResponse{Message: verificationResentMessage}, nil
}

// AcceptInvitation creates the invitee and signs them in: the answer,
// transports and cookies of a sign-in (device.go).
func (s *Server) AcceptInvitation(ctx context.Context, req api.AcceptInvitationRequestObject) (api.AcceptInvitationResponseObject, error) {
	b := req.Body
	p, err := s.svc.AcceptInvitation(ctx, core.AcceptInvitationInput{Token: b.Token, Name: b.Name, Password: b.Password}, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return s.signedIn(p, req.Params.XSessionTransport), nil
}

// ListInvitations returns one page of pending invitations.
func (s *Server) ListInvitations(ctx context.Context, req api.ListInvitationsRequestObject) (api.ListInvitationsResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, cursor := pageParams(req.Params.Limit, req.Params.Cursor)
	page, err := s.svc.ListInvitations(ctx, p, limit, cursor)
	if err != nil {
		return nil, err
	}
	now := s.svc.Now()
	items := make([]api.Invitation, len(page.Invitations))
	for i, inv := range page.Invitations {
		items[i] = invitationBody(inv, now)
	}
	return api.ListInvitations200JSONResponse{Items: items, NextCursor: nullableString(page.NextCursor)}, nil
}

// CreateInvitation invites an email into the caller's account.
func (s *Server) CreateInvitation(ctx context.Context, req api.CreateInvitationRequestObject) (api.CreateInvitationResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	inv, err := s.svc.CreateInvitation(ctx, p, core.InviteInput{Email: req.Body.Email, Role: core.Role(req.Body.Role)}, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.CreateInvitation201JSONResponse(invitationBody(inv, inv.CreatedAt)), nil
}

// ResendInvitation mails an invitation again with a new token.
func (s *Server) ResendInvitation(ctx context.Context, req api.ResendInvitationRequestObject) (api.ResendInvitationResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	inv, err := s.svc.ResendInvitation(ctx, p, req.InvitationId, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.ResendInvitation200JSONResponse(invitationBody(inv, inv.LastSentAt)), nil
}

// RevokeInvitation revokes a pending invitation.
func (s *Server) RevokeInvitation(ctx context.Context, req api.RevokeInvitationRequestObject) (api.RevokeInvitationResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.svc.RevokeInvitation(ctx, p, req.InvitationId, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return api.RevokeInvitation204Response{}, nil
}

func invitationBody(inv core.Invitation, now time.Time) api.Invitation {
	b := api.Invitation{
		Id: inv.ID, Email: types.Email(inv.Email), Role: api.AccountRole(inv.Role), Status: api.InvitationStatus(inv.State(now)),
		CreatedAt: inv.CreatedAt.UTC(), ExpiresAt: inv.ExpiresAt.UTC(), LastSentAt: inv.LastSentAt.UTC(), SendCount: inv.SendCount,
	}
	if inv.InvitedBy != nil {
		b.InvitedBy.Set(*inv.InvitedBy)
	} else {
		b.InvitedBy.SetNull()
	}
	return b
}
