package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// Verified emails and invitations of a tenant transaction
// (queries/email_verification_tokens.sql, queries/invitations.sql,
// migrations/00014).

func (t *tenantTx) AccountDelete(ctx context.Context) error {
	n, err := t.q.AccountDelete(ctx, t.accountID)
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return core.ErrNotFound
	}
	return nil
}

func (t *tenantTx) UserLockEmailVerified(ctx context.Context, id uuid.UUID) (string, *time.Time, time.Time, error) {
	r, err := t.q.UserLockEmailVerified(ctx, dbsqlc.UserLockEmailVerifiedParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return "", nil, time.Time{}, mapErr(err)
	}
	return r.Email, r.EmailVerifiedAt, r.CreatedAt, nil
}

func (t *tenantTx) UserSetEmailVerified(ctx context.Context, id uuid.UUID, now time.Time) error {
	return mapErr(t.q.UserSetEmailVerified(ctx, dbsqlc.UserSetEmailVerifiedParams{AccountID: t.accountID, ID: id, Now: now}))
}

func (t *tenantTx) EmailVerificationTokenCreate(ctx context.Context, p core.PasswordResetToken) error {
	return mapErr(t.q.EmailVerificationTokenCreate(ctx, dbsqlc.EmailVerificationTokenCreateParams{
		AccountID: t.accountID, TokenHash: p.Hash, UserID: p.UserID, ExpiresAt: p.ExpiresAt, CreatedAt: p.CreatedAt,
	}))
}

func (t *tenantTx) EmailVerificationTokenLock(ctx context.Context, tokenHash []byte) (core.PasswordResetToken, error) {
	r, err := t.q.EmailVerificationTokenLock(ctx, dbsqlc.EmailVerificationTokenLockParams{AccountID: t.accountID, TokenHash: tokenHash})
	if err != nil {
		return core.PasswordResetToken{}, mapErr(err)
	}
	return core.PasswordResetToken{Hash: tokenHash, UserID: r.UserID, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, UsedAt: r.UsedAt}, nil
}

func (t *tenantTx) EmailVerificationTokensConsume(ctx context.Context, userID uuid.UUID, now time.Time) error {
	_, err := t.q.EmailVerificationTokensConsume(ctx, dbsqlc.EmailVerificationTokensConsumeParams{AccountID: t.accountID, UserID: userID, Now: now})
	return mapErr(err)
}

func (t *tenantTx) InvitationCreate(ctx context.Context, inv core.Invitation, tokenHash []byte) error {
	return mapErr(t.q.InvitationCreate(ctx, dbsqlc.InvitationCreateParams{
		AccountID: t.accountID, ID: inv.ID, Email: inv.Email, AccountRole: string(inv.Role), TokenHash: tokenHash,
		InvitedBy: inv.InvitedBy, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt,
	}))
}

func (t *tenantTx) InvitationLockByToken(ctx context.Context, tokenHash []byte) (core.Invitation, error) {
	r, err := t.q.InvitationLockByToken(ctx, dbsqlc.InvitationLockByTokenParams{AccountID: t.accountID, TokenHash: tokenHash})
	if err != nil {
		return core.Invitation{}, mapErr(err)
	}
	return t.invitation(dbsqlc.InvitationLockRow(r)), nil
}

func (t *tenantTx) InvitationLock(ctx context.Context, id uuid.UUID) (core.Invitation, error) {
	r, err := t.q.InvitationLock(ctx, dbsqlc.InvitationLockParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return core.Invitation{}, mapErr(err)
	}
	return t.invitation(r), nil
}

func (t *tenantTx) InvitationAccept(ctx context.Context, id, userID uuid.UUID, now time.Time) error {
	return mapErr(t.q.InvitationAccept(ctx, dbsqlc.InvitationAcceptParams{AccountID: t.accountID, ID: id, UserID: userID, Now: now}))
}

func (t *tenantTx) InvitationRevoke(ctx context.Context, id uuid.UUID, now time.Time) error {
	return mapErr(t.q.InvitationRevoke(ctx, dbsqlc.InvitationRevokeParams{AccountID: t.accountID, ID: id, Now: now}))
}

func (t *tenantTx) InvitationResend(ctx context.Context, id uuid.UUID, tokenHash []byte, expiresAt, now time.Time) error {
	return mapErr(t.q.InvitationResend(ctx, dbsqlc.InvitationResendParams{
		AccountID: t.accountID, ID: id, TokenHash: tokenHash, ExpiresAt: expiresAt, Now: now,
	}))
}

func (t *tenantTx) InvitationListPending(ctx context.Context, after *core.InvitationPosition, limit int) ([]core.Invitation, error) {
	p := dbsqlc.InvitationListPendingParams{AccountID: t.accountID, MaxRows: int32(limit)}
	if after != nil {
		p.AfterCreatedAt, p.AfterID = &after.CreatedAt, &after.ID
	}
	rows, err := t.q.InvitationListPending(ctx, p)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]core.Invitation, len(rows))
	for i, r := range rows {
		out[i] = t.invitation(dbsqlc.InvitationLockRow(r))
	}
	return out, nil
}

func (t *tenantTx) invitation(r dbsqlc.InvitationLockRow) core.Invitation {
	return core.Invitation{
		ID: r.ID, AccountID: t.accountID, Email: r.Email, Role: core.Role(r.AccountRole), InvitedBy: r.InvitedBy,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, LastSentAt: r.LastSentAt, SendCount: int(r.SendCount),
		AcceptedAt: r.AcceptedAt, AcceptedUserID: r.AcceptedUserID, RevokedAt: r.RevokedAt,
	}
}
