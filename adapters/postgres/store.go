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

	"github.com/sessiond/sessiond/adapters/audit"
	"github.com/sessiond/sessiond/adapters/postgres/sqlcgen"
	"github.com/sessiond/sessiond/core"
)

// Store implements core.Store.
type Store struct {
	pool     *pgxpool.Pool
	q        *sqlcgen.Queries
	audit    *audit.Writer
	observer Observer
}

var _ core.Store = (*Store)(nil)

// NewStore returns a Store over pool. Audit events are written through w.
func NewStore(pool *pgxpool.Pool, w *audit.Writer) *Store {
	return &Store{pool: pool, q: sqlcgen.New(pool), audit: w}
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

// RefreshTokenAccount implements core.Store through the SECURITY DEFINER lookup.
func (s *Store) RefreshTokenAccount(ctx context.Context, jtiHash []byte) (uuid.UUID, error) {
	id, err := s.q.AuthRefreshTokenAccount(ctx, jtiHash)
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
		err := s.inTenantTx(ctx, accountID, func(tx pgx.Tx) error {
			return fn(rec.wrap(&tenantTx{accountID: accountID, q: s.q.WithTx(tx), audit: s.audit}))
		})
		if err == nil {
			rec.report(s.observer)
		}
		return err
	})
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
