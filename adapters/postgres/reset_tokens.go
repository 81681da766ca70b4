package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// Password-reset tokens of a tenant transaction
// (queries/password_reset_tokens.sql).

func (t *tenantTx) PasswordResetTokenCreate(ctx context.Context, p core.PasswordResetToken) error {
	return mapErr(t.q.PasswordResetTokenCreate(ctx, dbsqlc.PasswordResetTokenCreateParams{
		AccountID: t.accountID, TokenHash: p.Hash, UserID: p.UserID, ExpiresAt: p.ExpiresAt, CreatedAt: p.CreatedAt,
	}))
}

func (t *tenantTx) PasswordResetTokenLock(ctx context.Context, tokenHash []byte) (core.PasswordResetToken, error) {
	r, err := t.q.PasswordResetTokenLock(ctx, dbsqlc.PasswordResetTokenLockParams{AccountID: t.accountID, TokenHash: tokenHash})
	if err != nil {
		return core.PasswordResetToken{}, mapErr(err)
	}
	return core.PasswordResetToken{Hash: tokenHash, UserID: r.UserID, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, UsedAt: r.UsedAt}, nil
}

func (t *tenantTx) PasswordResetTokensConsume(ctx context.Context, userID uuid.UUID, now time.Time) (int64, error) {
	n, err := t.q.PasswordResetTokenConsumeAllForUser(ctx, dbsqlc.PasswordResetTokenConsumeAllForUserParams{AccountID: t.accountID, UserID: userID, Now: now})
	return n, mapErr(err)
}
