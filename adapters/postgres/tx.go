package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// setLocalTenant is the statement that scopes a transaction to one tenant.
// It is always sent inside an explicit transaction block (after BEGIN):
// PostgreSQL warns about a SET LOCAL outside one, and Citus forwards SET
// LOCAL to the workers only inside one (with citus.propagate_set_commands
// = 'local', migrations/citus/distribute.sql), so without BEGIN the
// workers, which hold the rows, would see no tenant
// (docs/security-checklist.md, CIT-02).
//
// SECURITY: SET LOCAL lasts until the end of the transaction, so a pooled
// connection can never carry one tenant's scope into another request. Row-level security policies read the setting as
//
//	NULLIF(current_setting('app.account_id', true), '')::uuid
//
// so once the transaction ended the setting, which then reads as the empty
// string, is "no tenant" (no rows). SET takes no bind parameter, so the
// account id is a literal: it is formatted from a uuid.UUID by the uuid
// package (hex digits and dashes only), never from client text, so it
// cannot inject SQL.
// A separate statement (not set_config in a query) keeps every tenant query
// one plain statement, as Citus wants.
func setLocalTenant(accountID uuid.UUID) string {
	return "SET LOCAL app.account_id = '" + accountID.String() + "'"
}

const beginReadCommitted = "BEGIN ISOLATION LEVEL READ COMMITTED"

// tenantTx implements core.TenantTx on one tenant-scoped transaction. Every
// query also names the account explicitly; row-level security is the
// database's second, independent guarantee. Its methods live in the file of
// their aggregate (accounts.go, users.go, sessions.go, audit.go,
// reset_tokens.go), as the queries do in queries/*.sql.
type tenantTx struct {
	accountID uuid.UUID
	q         *dbsqlc.Queries
	db        *prefixedDB // for statements sent pipelined (execPipelined)
}

var _ core.TenantTx = (*tenantTx)(nil)

// InTenantTx implements core.Store. A transaction aborted by a
// serialization failure or deadlock runs once more (faults.go); database
// faults, from begin and commit too, come back as *core.Fault.
func (s *Store) InTenantTx(ctx context.Context, accountID uuid.UUID, fn func(core.TenantTx) error) error {
	return s.runTenantTx(ctx, accountID, nil, fn)
}

// InSessionTx implements core.Store: the liveness check is the
// transaction's first query, so it travels with BEGIN and the tenant
// setting (one round trip).
func (s *Store) InSessionTx(ctx context.Context, accountID, sessionID uuid.UUID, now time.Time, fn func(core.TenantTx) error) error {
	live := func(q *dbsqlc.Queries) error {
		ok, err := q.SessionIsLive(ctx, dbsqlc.SessionIsLiveParams{AccountID: accountID, SessionID: sessionID, Now: now})
		if err != nil {
			return err
		}
		if !ok {
			return core.ErrSessionNotLive
		}
		return nil
	}
	return s.runTenantTx(ctx, accountID, live, fn)
}

// runTenantTx is InTenantTx and InSessionTx: inTenantTx retried once on a
// serialization failure or deadlock, the revocations it made reported to
// the observer once it committed.
func (s *Store) runTenantTx(ctx context.Context, accountID uuid.UUID, first func(q *dbsqlc.Queries) error, fn func(core.TenantTx) error) error {
	return retryOnce(ctx, func() error {
		var rec revocations
		err := s.inTenantTx(ctx, accountID, first, func(q *dbsqlc.Queries, db *prefixedDB) error {
			return fn(rec.wrap(&tenantTx{accountID: accountID, q: q, db: db}))
		})
		if err == nil {
			rec.report(s.observer)
		}
		return err
	})
}

// oneShot runs fn with queries that each run in their own transaction
// block scoped to accountID, each one round trip: BEGIN, SET LOCAL, the
// query and COMMIT in one pipelined batch (see prefixedDB).
func (s *Store) oneShot(ctx context.Context, accountID uuid.UUID, fn func(q *dbsqlc.Queries) error) error {
	if accountID == uuid.Nil {
		return fmt.Errorf("postgres: tenant statement without a tenant")
	}
	pc, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	// Release destroys a connection left inside a transaction; roll back
	// first (a failed query skips the batch's COMMIT) to keep it.
	defer pc.Release()
	conn := pc.Conn()
	defer rollback(ctx, conn)
	return fn(dbsqlc.New(&prefixedDB{conn: conn, prefix: []string{beginReadCommitted, setLocalTenant(accountID)}, suffix: []string{"COMMIT"}, spans: s.spans}))
}

// inTenantTx runs fn inside one tenant-scoped transaction: commit on nil,
// rollback on error or panic. BEGIN and the tenant setting travel with fn's
// first query (one round trip saved per transaction); when first is given,
// it is that first query (the caller's liveness check) and fn runs only
// when first returns nil.
func (s *Store) inTenantTx(ctx context.Context, accountID uuid.UUID, first func(q *dbsqlc.Queries) error, fn func(q *dbsqlc.Queries, db *prefixedDB) error) (err error) {
	if accountID == uuid.Nil {
		return fmt.Errorf("postgres: tenant transaction without a tenant")
	}
	pc, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	// Release destroys a connection left inside a transaction (TxStatus not
	// idle), the last line of defence against a leaked tenant scope.
	defer pc.Release()
	conn := pc.Conn()
	db := &prefixedDB{conn: conn, prefix: []string{beginReadCommitted, setLocalTenant(accountID)}, once: true, spans: s.spans}
	q := dbsqlc.New(db)
	defer func() {
		if p := recover(); p != nil {
			rollback(ctx, conn)
			panic(p)
		}
	}()
	if first != nil {
		err = first(q)
	}
	if err == nil {
		err = fn(q, db)
	}
	if !db.sent {
		return err // nothing was sent: no transaction was opened
	}
	if err != nil {
		rollback(ctx, conn)
		return err
	}
	tag, err := conn.Exec(ctx, "COMMIT")
	if err != nil {
		rollback(ctx, conn)
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// rollback ends a transaction that failed; a connection that cannot roll
// back is closed (the pool then drops it). It runs even when the request's
// context is done, hence a context of its own, which keeps the request's
// values: its ROLLBACK's span (tracing.go) belongs to the request's trace.
func rollback(ctx context.Context, conn *pgx.Conn) {
	if conn.IsClosed() || conn.PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = conn.Close(ctx)
	}
}
