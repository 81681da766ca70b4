package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres/sqlcgen"
	"github.com/sessiond/sessiond/core"
)

// The TenantTx methods of account administration (SPEC §4): members,
// account-wide sessions, the per-user session limit.

func policyFromRow(r sqlcgen.AccountGetPolicyForUpdateRow) core.PolicyOverride {
	return core.PolicyOverride{
		IdleMinutes: intPtr(r.SessionIdleMinutes), AbsoluteMinutes: intPtr(r.SessionAbsoluteMinutes),
		MaxSessionsPerUser: intPtr(r.MaxSessionsPerUser), SessionLimitAction: core.SessionLimitAction(r.SessionLimitAction),
	}
}

func (t *tenantTx) UserLockActiveOwners(ctx context.Context) ([]uuid.UUID, error) {
	ids, err := t.q.UserLockActiveOwners(ctx, t.accountID)
	return ids, mapErr(err)
}

func (t *tenantTx) UserLockForUpdate(ctx context.Context, id uuid.UUID) (core.User, error) {
	r, err := t.q.UserLockForUpdate(ctx, sqlcgen.UserLockForUpdateParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return core.User{}, mapErr(err)
	}
	return core.User{ID: r.ID, AccountID: r.AccountID, Email: r.Email, Name: r.Name, Role: core.Role(r.AccountRole), Active: r.IsActive, CreatedAt: r.CreatedAt}, nil
}

func (t *tenantTx) UserUpdateMembership(ctx context.Context, id uuid.UUID, role core.Role, active bool, now time.Time) error {
	return mapErr(t.q.UserUpdateMembership(ctx, sqlcgen.UserUpdateMembershipParams{
		AccountID: t.accountID, ID: id, AccountRole: string(role), IsActive: active, Now: now,
	}))
}

// UserDelete removes the user and, in the same transaction, their global
// email key (user_emails has no foreign key to users: on Citus the two are
// distributed by different columns), so the email can be registered again.
func (t *tenantTx) UserDelete(ctx context.Context, id uuid.UUID) error {
	email, err := t.q.UserDelete(ctx, sqlcgen.UserDeleteParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return mapErr(err) // no row: core.ErrNotFound
	}
	_, err = t.q.UserEmailDelete(ctx, sqlcgen.UserEmailDeleteParams{Email: email, AccountID: t.accountID, UserID: id})
	return mapErr(err)
}

func (t *tenantTx) UserLockForSignIn(ctx context.Context, id uuid.UUID) (bool, error) {
	active, err := t.q.UserLockForSignIn(ctx, sqlcgen.UserLockForSignInParams{AccountID: t.accountID, ID: id})
	return active, mapErr(err)
}

func (t *tenantTx) SessionListAccount(ctx context.Context, q core.AccountSessionQuery) ([]core.SessionInfo, error) {
	if q.Limit < 0 || q.Limit > math.MaxInt32 {
		return nil, fmt.Errorf("postgres: session list limit %d out of range", q.Limit)
	}
	p := sqlcgen.SessionListLiveByAccountParams{AccountID: t.accountID, Now: q.Now, UserID: q.UserID, MaxRows: int32(q.Limit)}
	if q.After != nil {
		at, id := q.After.LastUsedAt, q.After.ID
		p.BeforeLastUsedAt, p.BeforeID = &at, &id
	}
	rows, err := t.q.SessionListLiveByAccount(ctx, p)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]core.SessionInfo, 0, len(rows))
	for _, r := range rows {
		si := core.SessionInfo{
			ID: r.ID, UserID: r.UserID, UserEmail: r.UserEmail,
			DeviceName: deref(r.DeviceName), DeviceID: deref(r.DeviceID),
			UserAgent: deref(r.UserAgent), LastUserAgent: deref(r.LastUserAgent),
			CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, IdleExpiresAt: r.IdleExpiresAt, AbsoluteExpiresAt: r.AbsoluteExpiresAt,
		}
		if r.IpAddress != nil {
			si.IP = *r.IpAddress
		}
		if r.LastIp != nil {
			si.LastIP = *r.LastIp
		}
		out = append(out, si)
	}
	return out, nil
}

func (t *tenantTx) SessionCountLive(ctx context.Context, userID uuid.UUID, now time.Time) (int, error) {
	n, err := t.q.SessionCountLiveByUser(ctx, sqlcgen.SessionCountLiveByUserParams{AccountID: t.accountID, UserID: userID, Now: now})
	return int(n), mapErr(err)
}

func (t *tenantTx) SessionEvictBeyond(ctx context.Context, userID uuid.UUID, keep int, now time.Time, reason string) ([]uuid.UUID, error) {
	if keep < 0 || keep > math.MaxInt32 {
		return nil, fmt.Errorf("postgres: keep %d out of range", keep)
	}
	ids, err := t.q.SessionEvictLeastRecentlyUsed(ctx, sqlcgen.SessionEvictLeastRecentlyUsedParams{
		AccountID: t.accountID, UserID: userID, Keep: int32(keep), Now: now, Reason: reason,
	})
	return ids, mapErr(err)
}
