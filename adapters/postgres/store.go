// Package postgres is the PostgreSQL adapter: the core.Store port over pgx
// v5 and sqlc-generated queries, with row-level security per tenant.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/adapters/postgres/sqlcgen"
	"github.com/sessiond/sessiond/core"
)

// Store implements core.Store.
type Store struct {
	pool     *pgxpool.Pool
	q        *sqlcgen.Queries
	observer Observer
}

var _ core.Store = (*Store)(nil)

// NewStore returns a Store over pool. Audit events are written by the
// tenant transaction itself (tenantTx.Audit), in the transaction of the
// change they record.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, q: sqlcgen.New(pool)}
}

// Ping checks the database (readiness).
func (s *Store) Ping(ctx context.Context) error { return asFault(s.pool.Ping(ctx)) }

// UserForLogin implements core.Store through the SECURITY DEFINER lookup.
func (s *Store) UserForLogin(ctx context.Context, email string) (core.LoginUser, error) {
	r, err := s.q.AuthUserForLogin(ctx, email)
	if err != nil {
		return core.LoginUser{}, mapErr(err)
	}
	return core.LoginUser{UserID: r.UserID, AccountID: r.AccountID, PasswordHash: r.PasswordHash, Active: r.IsActive, Role: core.Role(r.AccountRole)}, nil
}

// SessionAccount implements core.Store through the SECURITY DEFINER lookup
// (legacy refresh tokens without tid; migrations/00004).
func (s *Store) SessionAccount(ctx context.Context, sessionID uuid.UUID) (uuid.UUID, error) {
	id, err := s.q.AuthSessionAccount(ctx, sessionID)
	if err != nil {
		return uuid.Nil, mapErr(err)
	}
	if id == uuid.Nil {
		return uuid.Nil, core.ErrNotFound
	}
	return id, nil
}

// SessionIsLive implements core.Store through the SECURITY DEFINER check.
func (s *Store) SessionIsLive(ctx context.Context, accountID, sessionID uuid.UUID, now time.Time) (bool, error) {
	live, err := s.q.AuthSessionIsLive(ctx, sqlcgen.AuthSessionIsLiveParams{AccountID: accountID, SessionID: sessionID, Now: now})
	return live, mapErr(err)
}

// PasswordResetAccount implements core.Store through the SECURITY DEFINER lookup.
func (s *Store) PasswordResetAccount(ctx context.Context, tokenHash []byte) (uuid.UUID, error) {
	id, err := s.q.AuthPasswordResetAccount(ctx, tokenHash)
	if err != nil {
		return uuid.Nil, mapErr(err)
	}
	if id == uuid.Nil { // the function answers NULL for an unknown hash
		return uuid.Nil, core.ErrNotFound
	}
	return id, nil
}

// InTenantTx implements core.Store. A transaction aborted by a
// serialization failure or deadlock runs once more (faults.go); database
// faults, from begin and commit too, come back as *core.Fault.
func (s *Store) InTenantTx(ctx context.Context, accountID uuid.UUID, fn func(core.TenantTx) error) error {
	return retryOnce(ctx, func() error {
		var rec revocations
		err := s.inTenantTx(ctx, accountID, nil, func(q *sqlcgen.Queries, db *prefixedDB) error {
			return fn(rec.wrap(&tenantTx{accountID: accountID, q: q, db: db}))
		})
		if err == nil {
			rec.report(s.observer)
		}
		return err
	})
}

// InSessionTx implements core.Store: the liveness check is the
// transaction's first query, so it travels with BEGIN and the tenant
// setting (one round trip).
func (s *Store) InSessionTx(ctx context.Context, accountID, sessionID uuid.UUID, now time.Time, fn func(core.TenantTx) error) error {
	live := func(q *sqlcgen.Queries) error {
		ok, err := q.SessionIsLive(ctx, sqlcgen.SessionIsLiveParams{AccountID: accountID, SessionID: sessionID, Now: now})
		if err != nil {
			return err
		}
		if !ok {
			return core.ErrSessionNotLive
		}
		return nil
	}
	return retryOnce(ctx, func() error {
		var rec revocations
		err := s.inTenantTx(ctx, accountID, live, func(q *sqlcgen.Queries, db *prefixedDB) error {
			return fn(rec.wrap(&tenantTx{accountID: accountID, q: q, db: db}))
		})
		if err == nil {
			rec.report(s.observer)
		}
		return err
	})
}

// UserIfSessionLive implements core.Store: one statement, one round trip.
func (s *Store) UserIfSessionLive(ctx context.Context, accountID, sessionID, userID uuid.UUID, now time.Time) (core.User, error) {
	var u core.User
	err := s.oneShot(ctx, accountID, func(q *sqlcgen.Queries) error {
		r, err := q.UserGetIfSessionLive(ctx, sqlcgen.UserGetIfSessionLiveParams{
			AccountID: accountID, SessionID: sessionID, UserID: userID, Now: now,
		})
		if err != nil {
			return mapErr(err)
		}
		u = core.User{ID: r.ID, AccountID: r.AccountID, Email: r.Email, Name: r.Name, Role: core.Role(r.AccountRole), Active: r.IsActive, CreatedAt: r.CreatedAt}
		return nil
	})
	return u, err
}

// SessionListLive implements core.Store: one statement, one round trip.
func (s *Store) SessionListLive(ctx context.Context, accountID, userID uuid.UUID, now time.Time) ([]core.SessionInfo, error) {
	var out []core.SessionInfo
	err := s.oneShot(ctx, accountID, func(q *sqlcgen.Queries) error {
		var err error
		out, err = sessionListLive(ctx, q, accountID, userID, now)
		return err
	})
	return out, err
}

// RotateIfCurrent implements core.Store: the tenant setting and the
// conditional UPDATE in one round trip, one implicit transaction.
func (s *Store) RotateIfCurrent(ctx context.Context, accountID uuid.UUID, g core.RotationGuard, r core.Rotation) (core.RotatedSession, bool, error) {
	var out core.RotatedSession
	err := s.oneShot(ctx, accountID, func(q *sqlcgen.Queries) error {
		row, err := q.SessionRotateIfCurrent(ctx, sqlcgen.SessionRotateIfCurrentParams{
			AccountID: accountID, SessionID: g.SessionID, UserID: g.UserID, PresentedJtiHash: g.PresentedHash,
			Now: g.Now, AuthTime: g.AuthTime, IdleSeconds: int32(g.Snapshot.IdleSeconds), AbsoluteSeconds: int32(g.Snapshot.AbsoluteSeconds),
			AbsoluteExpiresAt: g.AbsoluteExpiresAt,
			NewJtiHash:        r.NewJTIHash, NewJtiSealed: r.NewJTISealed, IdleExpiresAt: r.IdleExpiresAt,
			LastIp: optAddr(r.Client.IP), LastUserAgent: optString(r.Client.UserAgent),
		})
		if err != nil {
			return err
		}
		out = core.RotatedSession{Role: core.Role(row.AccountRole), Generation: int(row.Generation)}
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

// mapErr turns driver errors into core errors by type and SQLSTATE, never
// by message text.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return core.ErrNotFound
	}
	if retryable(err) {
		return err // InTenantTx retries it once, then classifies it
	}
	if f := asFault(err); f != err {
		return f
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505": // unique_violation
			return core.ErrConflict
		case "23503", "23514": // foreign_key_violation, check_violation
			return fmt.Errorf("%w: %s", core.Errorf(core.CodeConflict, "the change conflicts with existing data"), pg.ConstraintName)
		case "22021": // character_not_in_repertoire: client text PostgreSQL cannot store (NUL)
			return core.Errorf(core.CodeValidation, "a text value contains a character that cannot be stored (NUL)")
		}
	}
	return err
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optAddr(a netip.Addr) *netip.Addr {
	if !a.IsValid() {
		return nil
	}
	return &a
}
