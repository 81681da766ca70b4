// Package postgres is the PostgreSQL adapter: the core.Store port over pgx
// v5 and sqlc-generated queries, with row-level security per tenant.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// Store implements core.Store.
type Store struct {
	pool     *pgxpool.Pool
	q        *dbsqlc.Queries // the pre-tenant queries, each on a connection of its own (pooledDB)
	observer Observer
	storeSettings
}

var _ core.Store = (*Store)(nil)

// NewStore returns a Store over pool with no acquire bound but the
// request's and no spans (tools and tests); the server uses
// NewStoreWithOptions. Audit events are written by the tenant transaction
// itself (tenantTx.Audit), in the transaction of the change they record.
func NewStore(pool *pgxpool.Pool) *Store {
	return NewStoreWithOptions(pool, PoolOptions{})
}

// NewStoreWithOptions returns a Store over pool that applies o's
// AcquireTimeout on every path that takes a connection (Store.acquire)
// and spans, with o's TracerProvider, the batches it sends itself
// (pgxwire.go). Pass the options pool was made with (NewPoolWithOptions),
// so the two kinds of span come from one provider.
func NewStoreWithOptions(pool *pgxpool.Pool, o PoolOptions) *Store {
	s := &Store{pool: pool, storeSettings: storeSettings{acquireWait: o.AcquireTimeout, spans: newSpans(o.TracerProvider)}}
	s.q = dbsqlc.New(pooledDB{s})
	return s
}

// Ping checks the database (readiness).
func (s *Store) Ping(ctx context.Context) error {
	c, err := s.acquire(ctx)
	if err != nil {
		return asFault(err)
	}
	defer c.Release()
	return asFault(c.Ping(ctx))
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

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefAddr(a *netip.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	return *a
}
