package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// Sessions (queries/sessions.sql): the refresh-token family's row, in a
// tenant transaction, and the one-statement fast paths of the Store
// (refresh, /auth/me, the device list), each one round trip (oneShot).

func (t *tenantTx) SessionCreate(ctx context.Context, s core.NewSession) error {
	return mapErr(t.q.SessionCreate(ctx, dbsqlc.SessionCreateParams{
		AccountID: t.accountID, ID: s.ID, UserID: s.UserID,
		DeviceName: optString(s.DeviceName), DeviceID: optString(s.Client.DeviceID),
		IpAddress: optAddr(s.Client.IP), UserAgent: optString(s.Client.UserAgent),
		AuthTime: s.AuthTime, IdleSeconds: int32(s.Snapshot.IdleSeconds), AbsoluteSeconds: int32(s.Snapshot.AbsoluteSeconds),
		Now: s.Now, IdleExpiresAt: s.IdleExpiresAt, AbsoluteExpiresAt: s.AbsoluteExpiresAt,
		JtiHash: s.JTIHash,
		Aal:     int16(max(s.Auth.AAL, 1)), Amr: s.Auth.Methods(), MfaEnrolOnly: s.Auth.EnrolOnly,
	}))
}

func (t *tenantTx) SessionLockForRefresh(ctx context.Context, sessionID uuid.UUID) (core.FamilyState, error) {
	r, err := t.q.SessionLockForRefresh(ctx, dbsqlc.SessionLockForRefreshParams{AccountID: t.accountID, SessionID: sessionID})
	if err != nil {
		return core.FamilyState{}, mapErr(err)
	}
	return core.FamilyState{
		SessionID: r.ID, UserID: r.UserID, UserActive: r.UserIsActive, Role: core.Role(r.AccountRole),
		AuthTime: r.AuthTime, Snapshot: core.Snapshot{IdleSeconds: int64(r.IdleSeconds), AbsoluteSeconds: int64(r.AbsoluteSeconds)},
		IdleExpiresAt: r.IdleExpiresAt, AbsoluteExpiresAt: r.AbsoluteExpiresAt,
		CurrentJTIHash: r.CurrentJtiHash, PreviousJTIHash: r.PreviousJtiHash, CurrentJTISealed: r.CurrentJtiSealed,
		RotatedAt: r.RotatedAt, Generation: int(r.Generation), RevokedAt: r.RevokedAt,
		Auth: core.AuthLevel{AAL: int(r.Aal), AMR: r.Amr, LastAuthAt: r.LastAuthAt, EnrolOnly: r.MfaEnrolOnly},
	}, nil
}

func (t *tenantTx) SessionRotate(ctx context.Context, r core.Rotation) error {
	n, err := t.q.SessionRotate(ctx, dbsqlc.SessionRotateParams{
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
	n, err := t.q.SessionRevoke(ctx, dbsqlc.SessionRevokeParams{AccountID: t.accountID, SessionID: sessionID, Now: now, Reason: reason})
	return n > 0, mapErr(err)
}

// SessionRevokeAllForUser and SessionRevokeAllForAccount are one query,
// SessionRevokeLive, scoped by its nullable parameters.
func (t *tenantTx) SessionRevokeAllForUser(ctx context.Context, userID uuid.UUID, except *uuid.UUID, now time.Time, reason string) (int64, error) {
	return t.revokeLive(ctx, dbsqlc.SessionRevokeLiveParams{UserID: &userID, ExceptSessionID: except, Now: now, Reason: reason})
}

func (t *tenantTx) SessionRevokeAllForAccount(ctx context.Context, exceptUser *uuid.UUID, now time.Time, reason string) (int64, error) {
	return t.revokeLive(ctx, dbsqlc.SessionRevokeLiveParams{ExceptUserID: exceptUser, Now: now, Reason: reason})
}

func (t *tenantTx) revokeLive(ctx context.Context, p dbsqlc.SessionRevokeLiveParams) (int64, error) {
	p.AccountID = t.accountID
	n, err := t.q.SessionRevokeLive(ctx, p)
	return n, mapErr(err)
}

func (t *tenantTx) SessionOwner(ctx context.Context, sessionID uuid.UUID) (uuid.UUID, error) {
	id, err := t.q.SessionGetOwner(ctx, dbsqlc.SessionGetOwnerParams{AccountID: t.accountID, ID: sessionID})
	return id, mapErr(err)
}

func (t *tenantTx) SessionListLive(ctx context.Context, userID uuid.UUID, now time.Time) ([]core.SessionInfo, error) {
	return sessionListLive(ctx, t.q, t.accountID, userID, now)
}

// SessionListLive implements core.Store: one statement, one round trip.
func (s *Store) SessionListLive(ctx context.Context, accountID, userID uuid.UUID, now time.Time) ([]core.SessionInfo, error) {
	var out []core.SessionInfo
	err := s.oneShot(ctx, accountID, func(q *dbsqlc.Queries) error {
		var err error
		out, err = sessionListLive(ctx, q, accountID, userID, now)
		return err
	})
	return out, err
}

func sessionListLive(ctx context.Context, q *dbsqlc.Queries, accountID, userID uuid.UUID, now time.Time) ([]core.SessionInfo, error) {
	rows, err := q.SessionListLiveByUser(ctx, dbsqlc.SessionListLiveByUserParams{AccountID: accountID, UserID: userID, Now: now})
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]core.SessionInfo, len(rows))
	for i, r := range rows {
		out[i] = sessionInfoFromUserRow(r)
	}
	return out, nil
}

func (t *tenantTx) SessionListAccount(ctx context.Context, q core.AccountSessionQuery) ([]core.SessionInfo, error) {
	if q.Limit < 0 || q.Limit > math.MaxInt32 {
		return nil, fmt.Errorf("postgres: session list limit %d out of range", q.Limit)
	}
	p := dbsqlc.SessionListLiveByAccountParams{AccountID: t.accountID, Now: q.Now, UserID: q.UserID, MaxRows: int32(q.Limit)}
	if q.After != nil {
		at, id := q.After.LastUsedAt, q.After.ID
		p.BeforeLastUsedAt, p.BeforeID = &at, &id
	}
	rows, err := t.q.SessionListLiveByAccount(ctx, p)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]core.SessionInfo, len(rows))
	for i, r := range rows {
		out[i] = sessionInfoFromAccountRow(r)
	}
	return out, nil
}

func (t *tenantTx) SessionCountLive(ctx context.Context, userID uuid.UUID, now time.Time) (int, error) {
	n, err := t.q.SessionCountLiveByUser(ctx, dbsqlc.SessionCountLiveByUserParams{AccountID: t.accountID, UserID: userID, Now: now})
	return int(n), mapErr(err)
}

func (t *tenantTx) SessionEvictBeyond(ctx context.Context, userID uuid.UUID, keep int, now time.Time, reason string) ([]uuid.UUID, error) {
	if keep < 0 || keep > math.MaxInt32 {
		return nil, fmt.Errorf("postgres: keep %d out of range", keep)
	}
	ids, err := t.q.SessionEvictLeastRecentlyUsed(ctx, dbsqlc.SessionEvictLeastRecentlyUsedParams{
		AccountID: t.accountID, UserID: userID, Keep: int32(keep), Now: now, Reason: reason,
	})
	return ids, mapErr(err)
}

// UserIfSessionLive implements core.Store: one statement, one round trip.
func (s *Store) UserIfSessionLive(ctx context.Context, accountID, sessionID, userID uuid.UUID, now time.Time) (core.User, error) {
	var u core.User
	err := s.oneShot(ctx, accountID, func(q *dbsqlc.Queries) error {
		r, err := q.UserGetIfSessionLive(ctx, dbsqlc.UserGetIfSessionLiveParams{
			AccountID: accountID, SessionID: sessionID, UserID: userID, Now: now,
		})
		if err != nil {
			return mapErr(err)
		}
		u = userFromRow(dbsqlc.UserGetByIDRow(r))
		return nil
	})
	return u, err
}

// RotateIfCurrent implements core.Store: the tenant setting and the
// conditional UPDATE in one round trip, one implicit transaction.
func (s *Store) RotateIfCurrent(ctx context.Context, accountID uuid.UUID, g core.RotationGuard, r core.Rotation) (core.RotatedSession, bool, error) {
	var out core.RotatedSession
	err := s.oneShot(ctx, accountID, func(q *dbsqlc.Queries) error {
		row, err := q.SessionRotateIfCurrent(ctx, rotateIfCurrentParams(accountID, g, r))
		if err != nil {
			return err
		}
		out = core.RotatedSession{Role: core.Role(row.AccountRole), Generation: int(row.Generation),
			Auth: core.AuthLevel{AAL: int(row.Aal), AMR: row.Amr, LastAuthAt: row.LastAuthAt, EnrolOnly: row.MfaEnrolOnly}}
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return core.RotatedSession{}, false, nil
	}
	if err != nil {
		return core.RotatedSession{}, false, mapErr(err)
	}
	return out, true, nil
}

// rotateIfCurrentParams fills the fast path's statement: every parameter
// of its WHERE (queries/sessions.sql, SessionRotateIfCurrent) comes from
// the guard core planned, and nothing else, so the statement applies
// exactly core's rule (core.PlanFastRotation). The write takes only the
// new token, its seal, the idle deadline and the client from r: the
// session, the presented token and the time (the statement's one @now,
// also rotated_at and last_used_at) are the guard's.
func rotateIfCurrentParams(accountID uuid.UUID, g core.RotationGuard, r core.Rotation) dbsqlc.SessionRotateIfCurrentParams {
	return dbsqlc.SessionRotateIfCurrentParams{
		// The guard (WHERE).
		AccountID: accountID, SessionID: g.SessionID, UserID: g.UserID, PresentedJtiHash: g.PresentedHash,
		Now: g.Now, AuthTime: g.AuthTime, AbsoluteExpiresAt: g.AbsoluteExpiresAt,
		IdleSeconds: int32(g.Snapshot.IdleSeconds), AbsoluteSeconds: int32(g.Snapshot.AbsoluteSeconds),
		// The write (SET).
		NewJtiHash: r.NewJTIHash, NewJtiSealed: r.NewJTISealed, IdleExpiresAt: r.IdleExpiresAt,
		LastIp: optAddr(r.Client.IP), LastUserAgent: optString(r.Client.UserAgent),
	}
}

// sessionInfoFromUserRow converts a row of the user's own device list
// (SessionListLiveByUser).
func sessionInfoFromUserRow(r dbsqlc.SessionListLiveByUserRow) core.SessionInfo {
	return core.SessionInfo{
		ID: r.ID, DeviceName: deref(r.DeviceName), DeviceID: deref(r.DeviceID),
		IP: derefAddr(r.IpAddress), UserAgent: deref(r.UserAgent),
		LastIP: derefAddr(r.LastIp), LastUserAgent: deref(r.LastUserAgent),
		CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, IdleExpiresAt: r.IdleExpiresAt, AbsoluteExpiresAt: r.AbsoluteExpiresAt,
	}
}

// sessionInfoFromAccountRow converts a row of the account-wide list
// (SessionListLiveByAccount): the same columns with the owner's id and
// email.
func sessionInfoFromAccountRow(r dbsqlc.SessionListLiveByAccountRow) core.SessionInfo {
	return core.SessionInfo{
		ID: r.ID, UserID: r.UserID, UserEmail: r.UserEmail,
		DeviceName: deref(r.DeviceName), DeviceID: deref(r.DeviceID),
		IP: derefAddr(r.IpAddress), UserAgent: deref(r.UserAgent),
		LastIP: derefAddr(r.LastIp), LastUserAgent: deref(r.LastUserAgent),
		CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, IdleExpiresAt: r.IdleExpiresAt, AbsoluteExpiresAt: r.AbsoluteExpiresAt,
	}
}
