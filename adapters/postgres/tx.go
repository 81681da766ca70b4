package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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

// prefixedDB is a dbsqlc.DBTX over one connection that sends some
// statements ahead of a query (and, for oneShot, after it) in the same
// round trip: a pgconn batch (extended protocol, one Sync) of the prefix,
// the query and the suffix, the query as a prepared statement. Prepared
// statements are named after their SQL and prepared once per connection
// (pgx keeps them), so after warm-up every call is exactly one round trip.
//
// Two uses:
//   - oneShot: prefix = [BEGIN, SET LOCAL tenant], suffix = [COMMIT] around
//     every query; each query is then its own transaction block, scoped to
//     the tenant (the refresh fast path, /auth/me, the device list);
//   - tenant transactions: prefix = [BEGIN, SET LOCAL tenant (, the
//     caller's liveness check)] before the first query only; later queries
//     run plainly inside the open transaction, and the caller commits.
type prefixedDB struct {
	conn   *pgx.Conn
	prefix []string
	suffix []string // sent after the query whenever the prefix is
	once   bool     // send the prefix with the first query only
	sent   bool
}

var _ dbsqlc.DBTX = (*prefixedDB)(nil)

// stmtNames caches the prepared-statement name of each query text.
var stmtNames sync.Map // string -> string

func stmtName(sql string) string {
	if n, ok := stmtNames.Load(sql); ok {
		return n.(string)
	}
	h := sha256.Sum256([]byte(sql))
	n := "sessiond_" + hex.EncodeToString(h[:12])
	stmtNames.Store(sql, n)
	return n
}

// pending reports whether the next query carries the prefix.
func (d *prefixedDB) pending() bool { return len(d.prefix) > 0 && !(d.once && d.sent) }

// send runs the prefix (when pending) and the query in one round trip and
// returns the reader positioned on the query's result.
func (d *prefixedDB) send(ctx context.Context, sql string, args []any) (*pgconn.MultiResultReader, error) {
	sd, err := d.conn.Prepare(ctx, stmtName(sql), sql) // a map lookup once prepared on this connection
	if err != nil {
		return nil, err
	}
	var eqb pgx.ExtendedQueryBuilder
	if err := eqb.Build(d.conn.TypeMap(), sd, args); err != nil {
		return nil, err
	}
	b := &pgconn.Batch{}
	n := 0
	withSuffix := false
	if d.pending() {
		for _, p := range d.prefix {
			b.ExecParams(p, nil, nil, nil, nil)
		}
		n = len(d.prefix)
		d.sent = true
		withSuffix = true
	}
	b.ExecPrepared(sd.Name, eqb.ParamValues, eqb.ParamFormats, eqb.ResultFormats)
	if withSuffix {
		// Read by the caller's Close of the query's result (the batch's
		// MultiResultReader reads to the end and reports a failed COMMIT).
		for _, s := range d.suffix {
			b.ExecParams(s, nil, nil, nil, nil)
		}
	}
	mrr := d.conn.PgConn().ExecBatch(ctx, b)
	for range n {
		if !mrr.NextResult() {
			return nil, closeErr(mrr)
		}
		if _, err := mrr.ResultReader().Close(); err != nil {
			_ = mrr.Close()
			return nil, err
		}
	}
	if !mrr.NextResult() {
		return nil, closeErr(mrr)
	}
	return mrr, nil
}

func closeErr(mrr *pgconn.MultiResultReader) error {
	if err := mrr.Close(); err != nil {
		return err
	}
	return errors.New("postgres: batch returned fewer results than statements")
}

func (d *prefixedDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if !d.pending() {
		return d.conn.Exec(ctx, sql, args...)
	}
	mrr, err := d.send(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := mrr.ResultReader().Close()
	if cerr := mrr.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (d *prefixedDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if !d.pending() {
		return d.conn.Query(ctx, sql, args...)
	}
	mrr, err := d.send(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	return &batchRows{Rows: pgx.RowsFromResultReader(d.conn.TypeMap(), mrr.ResultReader()), mrr: mrr}, nil
}

func (d *prefixedDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if !d.pending() {
		return d.conn.QueryRow(ctx, sql, args...)
	}
	rows, err := d.Query(ctx, sql, args...)
	return batchRow{rows: rows, err: err}
}

// batchRows are the rows of the batch's last statement; closing them reads
// the batch to its end.
type batchRows struct {
	pgx.Rows
	mrr    *pgconn.MultiResultReader
	closed bool
	err    error
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.Rows.Err()
	if err := r.mrr.Close(); r.err == nil {
		r.err = err
	}
}

func (r *batchRows) Next() bool {
	if r.closed {
		return false
	}
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Err() error {
	if r.closed {
		return r.err
	}
	return r.Rows.Err()
}

type batchRow struct {
	rows pgx.Rows
	err  error
}

func (r batchRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

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
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Release destroys a connection left inside a transaction; roll back
	// first (a failed query skips the batch's COMMIT) to keep it.
	defer pc.Release()
	conn := pc.Conn()
	defer rollback(conn)
	return fn(dbsqlc.New(&prefixedDB{conn: conn, prefix: []string{beginReadCommitted, setLocalTenant(accountID)}, suffix: []string{"COMMIT"}}))
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
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Release destroys a connection left inside a transaction (TxStatus not
	// idle), the last line of defence against a leaked tenant scope.
	defer pc.Release()
	conn := pc.Conn()
	db := &prefixedDB{conn: conn, prefix: []string{beginReadCommitted, setLocalTenant(accountID)}, once: true}
	q := dbsqlc.New(db)
	defer func() {
		if p := recover(); p != nil {
			rollback(conn)
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
		rollback(conn)
		return err
	}
	tag, err := conn.Exec(ctx, "COMMIT")
	if err != nil {
		rollback(conn)
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// rollback ends a transaction that failed; a connection that cannot roll
// back is closed (the pool then drops it).
func rollback(conn *pgx.Conn) {
	if conn.IsClosed() || conn.PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = conn.Close(ctx)
	}
}
