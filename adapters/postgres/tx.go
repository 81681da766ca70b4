package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// beginTenantQuery opens a transaction and scopes it to one tenant in a
// single round trip (simple protocol, two statements).
//
// SECURITY: the tenant setting is transaction-local (set_config's third
// argument is true), so it ends with the transaction: a pooled connection
// can never carry one tenant's scope into another request. Row-level
// security policies read it with NULLIF(current_setting(...), ”), which
// sees "no tenant" (no rows) on a connection whose earlier local setting
// committed. The account id is a uuid.UUID formatted by the uuid package
// (hex and dashes only), so embedding it as a literal cannot inject SQL.
func beginTenantQuery(accountID uuid.UUID) string {
	return fmt.Sprintf("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT set_config('app.account_id', '%s', true)", accountID.String())
}

// inTenantTx runs fn inside one tenant-scoped transaction: commit on nil,
// rollback on error or panic (pgx.BeginTxFunc).
func (s *Store) inTenantTx(ctx context.Context, accountID uuid.UUID, fn func(pgx.Tx) error) error {
	if accountID == uuid.Nil {
		return fmt.Errorf("postgres: tenant transaction without a tenant")
	}
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{BeginQuery: beginTenantQuery(accountID)}, fn)
}
