package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// Second factor of a tenant transaction (queries/mfa.sql, migrations/00015).

func factorFromRow(r dbsqlc.FactorGetByUserRow) core.Factor {
	return core.Factor{ID: r.ID, UserID: r.UserID, SecretSealed: r.SecretSealed, ConfirmedAt: r.ConfirmedAt,
		LastUsedStep: r.LastUsedStep, CreatedAt: r.CreatedAt}
}

func (t *tenantTx) FactorGet(ctx context.Context, userID uuid.UUID) (core.Factor, error) {
	r, err := t.q.FactorGetByUser(ctx, dbsqlc.FactorGetByUserParams{AccountID: t.accountID, UserID: userID})
	if err != nil {
		return core.Factor{}, mapErr(err)
	}
	return factorFromRow(r), nil
}

func (t *tenantTx) FactorLock(ctx context.Context, userID uuid.UUID) (core.Factor, error) {
	r, err := t.q.FactorLockByUser(ctx, dbsqlc.FactorLockByUserParams{AccountID: t.accountID, UserID: userID})
	if err != nil {
		return core.Factor{}, mapErr(err)
	}
	return factorFromRow(dbsqlc.FactorGetByUserRow(r)), nil
}

func (t *tenantTx) FactorCreate(ctx context.Context, f core.Factor) error {
	return mapErr(t.q.FactorCreate(ctx, dbsqlc.FactorCreateParams{
		AccountID: t.accountID, ID: f.ID, UserID: f.UserID, SecretSealed: f.SecretSealed, CreatedAt: f.CreatedAt,
	}))
}

func (t *tenantTx) FactorsDelete(ctx context.Context, userID uuid.UUID) (int64, error) {
	n, err := t.q.FactorDeleteByUser(ctx, dbsqlc.FactorDeleteByUserParams{AccountID: t.accountID, UserID: userID})
	return n, mapErr(err)
}

func (t *tenantTx) FactorMarkUsed(ctx context.Context, id uuid.UUID, step int64, now time.Time) error {
	n, err := t.q.FactorMarkUsed(ctx, dbsqlc.FactorMarkUsedParams{AccountID: t.accountID, ID: id, Step: step, Now: now})
	if err != nil {
		return mapErr(err)
	}
	if n != 1 {
		return core.ErrNotFound
	}
	return nil
}

func (t *tenantTx) RecoveryCodesReplace(ctx context.Context, userID uuid.UUID, hashes [][]byte, now time.Time) error {
	if _, err := t.q.RecoveryCodesDeleteByUser(ctx, dbsqlc.RecoveryCodesDeleteByUserParams{AccountID: t.accountID, UserID: userID}); err != nil {
		return mapErr(err)
	}
	for _, h := range hashes {
		if err := t.q.RecoveryCodeCreate(ctx, dbsqlc.RecoveryCodeCreateParams{
			AccountID: t.accountID, UserID: userID, CodeHash: h, CreatedAt: now,
		}); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

func (t *tenantTx) RecoveryCodeUse(ctx context.Context, userID uuid.UUID, hash []byte, now time.Time) (bool, error) {
	n, err := t.q.RecoveryCodeUse(ctx, dbsqlc.RecoveryCodeUseParams{AccountID: t.accountID, UserID: userID, CodeHash: hash, Now: now})
	return n == 1, mapErr(err)
}

func (t *tenantTx) RecoveryCodesRemaining(ctx context.Context, userID uuid.UUID) (int, error) {
	n, err := t.q.RecoveryCodesRemaining(ctx, dbsqlc.RecoveryCodesRemainingParams{AccountID: t.accountID, UserID: userID})
	return int(n), mapErr(err)
}

func (t *tenantTx) MFAChallengeCreate(ctx context.Context, c core.MFAChallenge) error {
	return mapErr(t.q.MFAChallengeCreate(ctx, dbsqlc.MFAChallengeCreateParams{
		AccountID: t.accountID, ID: c.ID, UserID: c.UserID, TokenHash: c.TokenHash, ExpiresAt: c.ExpiresAt,
		IpAddress: optAddr(c.Client.IP), UserAgent: optString(c.Client.UserAgent), CreatedAt: c.CreatedAt,
	}))
}

func (t *tenantTx) MFAChallengeLock(ctx context.Context, tokenHash []byte) (core.MFAChallenge, error) {
	r, err := t.q.MFAChallengeLock(ctx, dbsqlc.MFAChallengeLockParams{AccountID: t.accountID, TokenHash: tokenHash})
	if err != nil {
		return core.MFAChallenge{}, mapErr(err)
	}
	return core.MFAChallenge{ID: r.ID, UserID: r.UserID, TokenHash: tokenHash, ExpiresAt: r.ExpiresAt, UsedAt: r.UsedAt,
		Attempts: int(r.Attempts)}, nil
}

func (t *tenantTx) MFAChallengeLockForAnswer(ctx context.Context, tokenHash []byte) (core.MFAAnswerState, error) {
	r, err := t.q.MFAChallengeLockForAnswer(ctx, dbsqlc.MFAChallengeLockForAnswerParams{AccountID: t.accountID, TokenHash: tokenHash})
	if err != nil {
		return core.MFAAnswerState{}, mapErr(err)
	}
	c := core.MFAChallenge{ID: r.ID, UserID: r.UserID, TokenHash: tokenHash, ExpiresAt: r.ExpiresAt, UsedAt: r.UsedAt,
		Attempts: int(r.Attempts)}
	u := core.User{ID: r.UserID, AccountID: t.accountID, Email: r.Email, Name: r.Name, Role: core.Role(r.AccountRole),
		Active: r.IsActive, CreatedAt: r.UserCreatedAt}
	f := core.Factor{ID: r.FactorID, UserID: r.UserID, SecretSealed: r.SecretSealed, ConfirmedAt: r.ConfirmedAt,
		LastUsedStep: r.LastUsedStep, CreatedAt: r.FactorCreatedAt}
	p := policyFromRow(dbsqlc.AccountGetPolicyForUpdateRow{SessionIdleMinutes: r.SessionIdleMinutes,
		SessionAbsoluteMinutes: r.SessionAbsoluteMinutes, MaxSessionsPerUser: r.MaxSessionsPerUser,
		SessionLimitAction: r.SessionLimitAction, MfaRequired: r.MfaRequired, ReauthMaxAgeMinutes: r.ReauthMaxAgeMinutes})
	return core.MFAAnswerState{Challenge: c, User: u, Factor: f, Policy: p}, nil
}

func (t *tenantTx) MFAChallengeSpend(ctx context.Context, id, factorID uuid.UUID, step *int64, now time.Time) error {
	var (
		n   int64
		err error
	)
	if step == nil {
		n, err = t.q.MFAChallengeMarkUsed(ctx, dbsqlc.MFAChallengeMarkUsedParams{AccountID: t.accountID, ID: id, Now: now})
	} else {
		n, err = t.q.MFAChallengeSpend(ctx, dbsqlc.MFAChallengeSpendParams{AccountID: t.accountID, ID: id, FactorID: factorID, Step: step, Now: now})
	}
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return core.ErrNotFound
	}
	return nil
}

func (t *tenantTx) MFAChallengeUpdate(ctx context.Context, id uuid.UUID, attempts int, usedAt *time.Time) error {
	n, err := t.q.MFAChallengeUpdate(ctx, dbsqlc.MFAChallengeUpdateParams{AccountID: t.accountID, ID: id,
		Attempts: int32(min(attempts, 1<<30)), UsedAt: usedAt})
	if err != nil {
		return mapErr(err)
	}
	if n != 1 {
		return fmt.Errorf("postgres: challenge %s matched %d rows", id, n)
	}
	return nil
}

func (t *tenantTx) SessionAuthState(ctx context.Context, sessionID uuid.UUID, now time.Time) (core.SessionAuth, error) {
	r, err := t.q.SessionAuthState(ctx, dbsqlc.SessionAuthStateParams{AccountID: t.accountID, SessionID: sessionID, Now: now})
	if err != nil {
		return core.SessionAuth{}, mapErr(err)
	}
	return core.SessionAuth{
		AuthLevel:           core.AuthLevel{AAL: int(r.Aal), AMR: r.Amr, LastAuthAt: r.LastAuthAt, EnrolOnly: r.MfaEnrolOnly},
		ReauthMaxAgeMinutes: intPtr(r.ReauthMaxAgeMinutes),
	}, nil
}

func (t *tenantTx) AccountPolicyForSignIn(ctx context.Context, userID uuid.UUID) (core.PolicyOverride, bool, error) {
	r, err := t.q.AccountPolicyForSignIn(ctx, dbsqlc.AccountPolicyForSignInParams{AccountID: t.accountID, UserID: userID})
	if err != nil {
		return core.PolicyOverride{}, false, mapErr(err)
	}
	return policyFromRow(dbsqlc.AccountGetPolicyForUpdateRow{
		SessionIdleMinutes: r.SessionIdleMinutes, SessionAbsoluteMinutes: r.SessionAbsoluteMinutes,
		MaxSessionsPerUser: r.MaxSessionsPerUser, SessionLimitAction: r.SessionLimitAction,
		MfaRequired: r.MfaRequired, ReauthMaxAgeMinutes: r.ReauthMaxAgeMinutes,
	}), r.HasFactor, nil
}

func (t *tenantTx) SessionSetAuth(ctx context.Context, sessionID uuid.UUID, a core.AuthLevel) error {
	n, err := t.q.SessionSetAuth(ctx, dbsqlc.SessionSetAuthParams{AccountID: t.accountID, SessionID: sessionID,
		Aal: int16(max(a.AAL, 1)), Amr: a.Methods(), LastAuthAt: a.LastAuthAt, MfaEnrolOnly: a.EnrolOnly})
	if err != nil {
		return mapErr(err)
	}
	if n != 1 {
		return core.ErrNotFound
	}
	return nil
}

func (t *tenantTx) UsersWithMFA(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	out := make(map[uuid.UUID]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := t.q.UsersWithConfirmedFactor(ctx, dbsqlc.UsersWithConfirmedFactorParams{AccountID: t.accountID, UserIds: ids})
	if err != nil {
		return nil, mapErr(err)
	}
	for _, id := range rows {
		out[id] = true
	}
	return out, nil
}
