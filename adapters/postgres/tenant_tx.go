package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres/sqlcgen"
	"github.com/sessiond/sessiond/core"
)

// tenantTx implements core.TenantTx on one tenant-scoped transaction. Every
// query also names the account explicitly; row-level security is the
// database's second, independent guarantee.
type tenantTx struct {
	accountID uuid.UUID
	q         *sqlcgen.Queries
	db        *prefixedDB // for statements sent pipelined (execPipelined)
}

var _ core.TenantTx = (*tenantTx)(nil)

func (t *tenantTx) AccountCreate(ctx context.Context, a core.Account) error {
	return mapErr(t.q.AccountCreate(ctx, sqlcgen.AccountCreateParams{ID: a.ID, Name: a.Name, Now: a.CreatedAt}))
}

func (t *tenantTx) AccountPolicy(ctx context.Context) (core.PolicyOverride, error) {
	r, err := t.q.AccountGetPolicy(ctx, t.accountID)
	if err != nil {
		return core.PolicyOverride{}, mapErr(err)
	}
	return policyFromRow(sqlcgen.AccountGetPolicyForUpdateRow(r)), nil
}

func (t *tenantTx) AccountPolicyForUpdate(ctx context.Context) (core.PolicyOverride, error) {
	r, err := t.q.AccountGetPolicyForUpdate(ctx, t.accountID)
	if err != nil {
		return core.PolicyOverride{}, mapErr(err)
	}
	return policyFromRow(r), nil
}

func (t *tenantTx) AccountSetPolicy(ctx context.Context, o core.PolicyOverride, now time.Time) error {
	idle, err := int32Ptr("idle_minutes", o.IdleMinutes)
	if err != nil {
		return err
	}
	abs, err := int32Ptr("absolute_minutes", o.AbsoluteMinutes)
	if err != nil {
		return err
	}
	maxSessions, err := int32Ptr("max_sessions_per_user", o.MaxSessionsPerUser)
	if err != nil {
		return err
	}
	n, err := t.q.AccountUpdatePolicy(ctx, sqlcgen.AccountUpdatePolicyParams{
		ID: t.accountID, IdleMinutes: idle, AbsoluteMinutes: abs,
		MaxSessionsPerUser: maxSessions, SessionLimitAction: string(o.EffectiveSessionLimitAction()), Now: now,
	})
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return core.ErrNotFound
	}
	return nil
}

// UserCreate writes the user row and its global email key (user_emails,
// migrations/00007) in one round trip, two statements of this transaction.
// A duplicate email, of this tenant or another, fails on user_emails_pkey
// (23505 → core.ErrConflict).
func (t *tenantTx) UserCreate(ctx context.Context, u core.User, passwordHash string) error {
	return mapErr(t.db.execPipelined(ctx, func(q *sqlcgen.Queries) error {
		if err := q.UserCreate(ctx, sqlcgen.UserCreateParams{
			AccountID: t.accountID, ID: u.ID, Email: u.Email, Name: u.Name,
			PasswordHash: passwordHash, AccountRole: string(u.Role), Now: u.CreatedAt,
		}); err != nil {
			return err
		}
		return q.UserEmailCreate(ctx, sqlcgen.UserEmailCreateParams{Email: u.Email, AccountID: t.accountID, UserID: u.ID})
	}))
}

func (t *tenantTx) UserGet(ctx context.Context, id uuid.UUID) (core.User, error) {
	r, err := t.q.UserGetByID(ctx, sqlcgen.UserGetByIDParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return core.User{}, mapErr(err)
	}
	return core.User{ID: r.ID, AccountID: r.AccountID, Email: r.Email, Name: r.Name, Role: core.Role(r.AccountRole), Active: r.IsActive, CreatedAt: r.CreatedAt}, nil
}

func (t *tenantTx) UserAccess(ctx context.Context, id uuid.UUID) (core.Role, bool, error) {
	r, err := t.q.UserGetAccess(ctx, sqlcgen.UserGetAccessParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return "", false, mapErr(err)
	}
	return core.Role(r.AccountRole), r.IsActive, nil
}

func (t *tenantTx) UserList(ctx context.Context) ([]core.User, error) {
	rows, err := t.q.UserListByAccount(ctx, t.accountID)
	if err != nil {
		return nil, mapErr(err)
	}
	users := make([]core.User, len(rows))
	for i, r := range rows {
		users[i] = core.User{ID: r.ID, AccountID: r.AccountID, Email: r.Email, Name: r.Name, Role: core.Role(r.AccountRole), Active: r.IsActive, CreatedAt: r.CreatedAt}
	}
	return users, nil
}

func (t *tenantTx) UserSetPasswordHash(ctx context.Context, id uuid.UUID, hash string, now time.Time) error {
	return mapErr(t.q.UserUpdatePasswordHash(ctx, sqlcgen.UserUpdatePasswordHashParams{AccountID: t.accountID, ID: id, PasswordHash: hash, Now: now}))
}

func (t *tenantTx) SessionCreate(ctx context.Context, s core.NewSession) error {
	return mapErr(t.q.SessionCreate(ctx, sqlcgen.SessionCreateParams{
		AccountID: t.accountID, ID: s.ID, UserID: s.UserID,
		DeviceName: optString(s.DeviceName), DeviceID: optString(s.Client.DeviceID),
		IpAddress: optAddr(s.Client.IP), UserAgent: optString(s.Client.UserAgent),
		AuthTime: s.AuthTime, IdleSeconds: int32(s.Snapshot.IdleSeconds), AbsoluteSeconds: int32(s.Snapshot.AbsoluteSeconds),
		Now: s.Now, IdleExpiresAt: s.IdleExpiresAt, AbsoluteExpiresAt: s.AbsoluteExpiresAt,
		JtiHash: s.JTIHash,
	}))
}

func (t *tenantTx) SessionLockForRefresh(ctx context.Context, sessionID uuid.UUID) (core.FamilyState, error) {
	r, err := t.q.SessionLockForRefresh(ctx, sqlcgen.SessionLockForRefreshParams{AccountID: t.accountID, SessionID: sessionID})
	if err != nil {
		return core.FamilyState{}, mapErr(err)
	}
	return core.FamilyState{
		SessionID: r.ID, UserID: r.UserID, UserActive: r.UserIsActive, Role: core.Role(r.AccountRole),
		AuthTime: r.AuthTime, Snapshot: core.Snapshot{IdleSeconds: int64(r.IdleSeconds), AbsoluteSeconds: int64(r.AbsoluteSeconds)},
		IdleExpiresAt: r.IdleExpiresAt, AbsoluteExpiresAt: r.AbsoluteExpiresAt,
		CurrentJTIHash: r.CurrentJtiHash, PreviousJTIHash: r.PreviousJtiHash, CurrentJTISealed: r.CurrentJtiSealed,
		RotatedAt: r.RotatedAt, Generation: int(r.Generation), RevokedAt: r.RevokedAt,
	}, nil
}

func (t *tenantTx) SessionRotate(ctx context.Context, r core.Rotation) error {
	n, err := t.q.SessionRotate(ctx, sqlcgen.SessionRotateParams{
		AccountID: t.accountID, SessionID: r.SessionID, OldJtiHash: r.OldJTIHash,
		NewJtiHash: r.NewJTIHash, NewJtiSealed: r.NewJTISealed, Now: r.Now,
		AuthTime: r.AuthTime, IdleSeconds: int32(r.Snapshot.IdleSeconds), AbsoluteSeconds: int32(r.Snapshot.AbsoluteSeconds),
		IdleExpiresAt: r.IdleExpiresAt, AbsoluteExpiresAt: r.AbsoluteExpiresAt,
		LastIp: optAddr(r.Client.IP), LastUserAgent: optString(r.Client.UserAgent),
	})
	if err != nil {
		return mapErr(err)
	}
	if n != 1 {
		return fmt.Errorf("postgres: rotation of session %s matched %d rows", r.SessionID, n)
	}
	return nil
}

func (t *tenantTx) SessionRevoke(ctx context.Context, sessionID uuid.UUID, now time.Time, reason string) (bool, error) {
	n, err := t.q.SessionRevoke(ctx, sqlcgen.SessionRevokeParams{AccountID: t.accountID, SessionID: sessionID, Now: now, Reason: reason})
	return n > 0, mapErr(err)
}

func (t *tenantTx) SessionRevokeAllForUser(ctx context.Context, userID uuid.UUID, except *uuid.UUID, now time.Time, reason string) (int64, error) {
	n, err := t.q.SessionRevokeAllForUser(ctx, sqlcgen.SessionRevokeAllForUserParams{
		AccountID: t.accountID, UserID: userID, ExceptSessionID: except, Now: now, Reason: reason,
	})
	return n, mapErr(err)
}

func (t *tenantTx) SessionRevokeAllForAccount(ctx context.Context, exceptUser *uuid.UUID, now time.Time, reason string) (int64, error) {
	n, err := t.q.SessionRevokeAllForAccount(ctx, sqlcgen.SessionRevokeAllForAccountParams{
		AccountID: t.accountID, ExceptUserID: exceptUser, Now: now, Reason: reason,
	})
	return n, mapErr(err)
}

func (t *tenantTx) SessionOwner(ctx context.Context, sessionID uuid.UUID) (uuid.UUID, error) {
	id, err := t.q.SessionGetOwner(ctx, sqlcgen.SessionGetOwnerParams{AccountID: t.accountID, ID: sessionID})
	return id, mapErr(err)
}

func (t *tenantTx) UserLockCredentials(ctx context.Context, id uuid.UUID) (string, bool, error) {
	r, err := t.q.UserLockCredentials(ctx, sqlcgen.UserLockCredentialsParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return "", false, mapErr(err)
	}
	return r.PasswordHash, r.IsActive, nil
}

func (t *tenantTx) SessionListLive(ctx context.Context, userID uuid.UUID, now time.Time) ([]core.SessionInfo, error) {
	return sessionListLive(ctx, t.q, t.accountID, userID, now)
}

func sessionListLive(ctx context.Context, q *sqlcgen.Queries, accountID, userID uuid.UUID, now time.Time) ([]core.SessionInfo, error) {
	rows, err := q.SessionListLiveByUser(ctx, sqlcgen.SessionListLiveByUserParams{AccountID: accountID, UserID: userID, Now: now})
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]core.SessionInfo, 0, len(rows))
	for _, r := range rows {
		si := core.SessionInfo{
			ID: r.ID, DeviceName: deref(r.DeviceName), DeviceID: deref(r.DeviceID), UserAgent: deref(r.UserAgent),
			CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, IdleExpiresAt: r.IdleExpiresAt, AbsoluteExpiresAt: r.AbsoluteExpiresAt,
		}
		if r.IpAddress != nil {
			si.IP = *r.IpAddress
		}
		if r.LastIp != nil {
			si.LastIP = *r.LastIp
		}
		si.LastUserAgent = deref(r.LastUserAgent)
		out = append(out, si)
	}
	return out, nil
}

func (t *tenantTx) PasswordResetTokenCreate(ctx context.Context, p core.PasswordResetToken) error {
	return mapErr(t.q.PasswordResetTokenCreate(ctx, sqlcgen.PasswordResetTokenCreateParams{
		AccountID: t.accountID, TokenHash: p.Hash, UserID: p.UserID, ExpiresAt: p.ExpiresAt, CreatedAt: p.CreatedAt,
	}))
}

func (t *tenantTx) PasswordResetTokenLock(ctx context.Context, tokenHash []byte) (core.PasswordResetToken, error) {
	r, err := t.q.PasswordResetTokenLock(ctx, sqlcgen.PasswordResetTokenLockParams{AccountID: t.accountID, TokenHash: tokenHash})
	if err != nil {
		return core.PasswordResetToken{}, mapErr(err)
	}
	return core.PasswordResetToken{Hash: tokenHash, UserID: r.UserID, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, UsedAt: r.UsedAt}, nil
}

func (t *tenantTx) PasswordResetTokensConsume(ctx context.Context, userID uuid.UUID, now time.Time) (int64, error) {
	n, err := t.q.PasswordResetTokenConsumeAllForUser(ctx, sqlcgen.PasswordResetTokenConsumeAllForUserParams{AccountID: t.accountID, UserID: userID, Now: now})
	return n, mapErr(err)
}

// Audit writes the event in this transaction. An event without an action
// or resource type, or for another tenant, is refused; the event is
// normalized again (core.AuditEvent.Normalized) because a row PostgreSQL
// refuses would roll back the change it records.
func (t *tenantTx) Audit(ctx context.Context, e core.AuditEvent) error {
	if e.Action == "" || e.ResourceType == "" {
		return errors.New("postgres: audit event needs an action and a resource type")
	}
	if e.AccountID != uuid.Nil && e.AccountID != t.accountID {
		return errors.New("postgres: audit event for another tenant")
	}
	e = e.Normalized()
	details, err := json.Marshal(e.Details)
	if err != nil {
		return fmt.Errorf("postgres: audit details: %w", err)
	}
	return mapErr(t.q.AuditEventInsert(ctx, sqlcgen.AuditEventInsertParams{
		AccountID: t.accountID, ID: e.ID, ActorUserID: e.ActorUserID, Action: e.Action,
		ResourceType: e.ResourceType, ResourceID: optString(e.ResourceID), Details: details,
		IpAddress: optAddr(e.IP), UserAgent: optString(e.UserAgent), CreatedAt: e.At.UTC(),
	}))
}

func (t *tenantTx) AuditList(ctx context.Context, q core.AuditQuery) ([]core.AuditEvent, error) {
	if q.Limit < 0 || q.Limit > math.MaxInt32 {
		return nil, fmt.Errorf("postgres: audit list limit %d out of range", q.Limit)
	}
	p := sqlcgen.AuditEventListParams{AccountID: t.accountID, Action: optString(q.Action), MaxRows: int32(q.Limit)}
	if q.After != nil {
		at, id := q.After.CreatedAt, q.After.ID
		p.BeforeCreatedAt, p.BeforeID = &at, &id
	}
	rows, err := t.q.AuditEventList(ctx, p)
	if err != nil {
		return nil, mapErr(err)
	}
	events := make([]core.AuditEvent, len(rows))
	for i, r := range rows {
		details := map[string]any{}
		if err := json.Unmarshal(r.Details, &details); err != nil {
			return nil, fmt.Errorf("postgres: audit event %s details: %w", r.ID, err)
		}
		e := core.AuditEvent{
			ID: r.ID, AccountID: t.accountID, ActorUserID: r.ActorUserID, Action: r.Action,
			ResourceType: r.ResourceType, Details: details, At: r.CreatedAt,
		}
		if r.ResourceID != nil {
			e.ResourceID = *r.ResourceID
		}
		if r.IpAddress != nil {
			e.IP = *r.IpAddress
		}
		if r.UserAgent != nil {
			e.UserAgent = *r.UserAgent
		}
		events[i] = e
	}
	return events, nil
}

// int32Ptr converts an override value for its integer column; a value the
// column cannot hold is refused rather than wrapped.
func int32Ptr(field string, v *int) (*int32, error) {
	if v == nil {
		return nil, nil
	}
	if *v < math.MinInt32 || *v > math.MaxInt32 {
		return nil, core.FieldError(core.CodePolicyOutOfBounds, field, "%s is out of range", field)
	}
	n := int32(*v)
	return &n, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func intPtr(v *int32) *int {
	if v == nil {
		return nil
	}
	n := int(*v)
	return &n
}
