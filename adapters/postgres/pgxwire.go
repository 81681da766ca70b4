// pgx wire plumbing for the transaction runner (tx.go). It exists for one
// property: a tenant transaction costs one round trip on the hot paths.
// BEGIN, the SET LOCAL of the tenant (tx.go, setLocalTenant), the
// statements and, for a one-shot query, COMMIT go to the server as one
// pgconn batch (extended protocol, one Sync), each statement a prepared
// statement of its own. sqlc's generated code talks to a dbsqlc.DBTX;
// prefixedDB is that DBTX, so the generated queries stay unchanged while
// the prefix rides along with the first of them. pgx.Tx cannot do this
// (its Begin is a round trip of its own), and sqlc's :batch annotations
// (pgx.Batch) cannot put BEGIN/SET LOCAL ahead of a :one query nor leave
// the transaction open for the caller's next decision, which is why the
// batch is built here at the pgconn level (docs/architecture.md).
//
// Spans. pgx's tracer (tracing.go, roundTrips) sees only what goes through
// pgx.Conn; a pgconn batch bypasses it, so every batch sent here (send,
// execPipelined, and oneTx in records.go) makes its own client span, with
// the tracer's attributes and naming: "db " plus the caller's statement's
// first word ("db UPDATE" for a refresh, "db SELECT" for /auth/me), or
// "db batch" when it carries several statements, db.operation.batch.size
// counting BEGIN, SET LOCAL and COMMIT too, an error status (the fault's
// kind, never its text) when the batch failed. It is a child of the span in
// the request's context and ends once the batch is read to its end
// (batchRows.Close for a query's rows). Statements sent plainly inside an
// open transaction, COMMIT and ROLLBACK go through pgx.Conn and are traced
// by pgx. Tracing off (no provider, or a no-op one) leaves prefixedDB.spans
// nil, and nothing is built: the hot paths pay a nil check
// (TestPipelined_TracingOff_AddsNoAllocations).

package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/trace"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
)

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
	spans  *roundTrips // the span of each batch sent here; nil: tracing off
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
// returns the reader positioned on the query's result, and the round
// trip's span, which the caller ends once it read the batch to its end
// (endPipelined; nil when tracing is off).
func (d *prefixedDB) send(ctx context.Context, sql string, args []any) (*pgconn.MultiResultReader, trace.Span, error) {
	sd, err := d.conn.Prepare(ctx, stmtName(sql), sql) // a map lookup once prepared on this connection
	if err != nil {
		return nil, nil, err
	}
	var eqb pgx.ExtendedQueryBuilder
	if err := eqb.Build(d.conn.TypeMap(), sd, args); err != nil {
		return nil, nil, err
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
	span := d.spans.pipelined(ctx, sql, 1, batchLen(1, withSuffix, d))
	mrr := d.conn.PgConn().ExecBatch(ctx, b)
	for range n {
		if !mrr.NextResult() {
			err := closeErr(mrr)
			endPipelined(span, err)
			return nil, nil, err
		}
		if _, err := mrr.ResultReader().Close(); err != nil {
			_ = mrr.Close()
			endPipelined(span, err)
			return nil, nil, err
		}
	}
	if !mrr.NextResult() {
		err := closeErr(mrr)
		endPipelined(span, err)
		return nil, nil, err
	}
	return mrr, span, nil
}

// batchLen is the number of statements in a batch of n queries, framed by
// the prefix and suffix when they were sent (the span's batch size).
func batchLen(n int, framed bool, d *prefixedDB) int {
	if framed {
		n += len(d.prefix) + len(d.suffix)
	}
	return n
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
	mrr, span, err := d.send(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := mrr.ResultReader().Close()
	if cerr := mrr.Close(); err == nil {
		err = cerr
	}
	endPipelined(span, err)
	return tag, err
}

func (d *prefixedDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if !d.pending() {
		return d.conn.Query(ctx, sql, args...)
	}
	mrr, span, err := d.send(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	return &batchRows{Rows: pgx.RowsFromResultReader(d.conn.TypeMap(), mrr.ResultReader()), mrr: mrr, span: span}, nil
}

func (d *prefixedDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if !d.pending() {
		return d.conn.QueryRow(ctx, sql, args...)
	}
	rows, err := d.Query(ctx, sql, args...)
	return batchRow{rows: rows, err: err}
}

// batchRows are the rows of the batch's last statement; closing them reads
// the batch to its end, which ends the round trip's span.
type batchRows struct {
	pgx.Rows
	mrr    *pgconn.MultiResultReader
	span   trace.Span // nil: tracing off
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
	endPipelined(r.span, r.err)
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

// execPipelined runs the statements fn issues through the generated code
// (Exec-only queries: :exec or :execrows) in one round trip: one pgconn
// batch, each statement prepared and sent as its own message (extended
// protocol), after the pending prefix if any. Separate statements, never
// one multi-statement string: Citus replays a whole query string on each
// worker (README "Scaling out on Citus", rule (1)). Inside a tenant transaction the statements run in
// order and the first error aborts the transaction (the caller rolls back).
func (d *prefixedDB) execPipelined(ctx context.Context, fn func(q *dbsqlc.Queries) error) error {
	rec := &recorder{queryErr: errNotPipelinable}
	if err := fn(dbsqlc.New(rec)); err != nil {
		return err
	}
	type prepared struct {
		name                    string
		values                  [][]byte
		paramFormats, rsFormats []int16
	}
	stmts := make([]prepared, 0, len(rec.sql))
	for i, sql := range rec.sql {
		sd, err := d.conn.Prepare(ctx, stmtName(sql), sql) // a map lookup once prepared on this connection
		if err != nil {
			return err
		}
		var eqb pgx.ExtendedQueryBuilder // one per statement: Build reuses its buffers
		if err := eqb.Build(d.conn.TypeMap(), sd, rec.args[i]); err != nil {
			return err
		}
		stmts = append(stmts, prepared{sd.Name, eqb.ParamValues, eqb.ParamFormats, eqb.ResultFormats})
	}
	b := &pgconn.Batch{}
	withSuffix := false
	if d.pending() {
		for _, p := range d.prefix {
			b.ExecParams(p, nil, nil, nil, nil)
		}
		d.sent = true
		withSuffix = true
	}
	for _, st := range stmts {
		b.ExecPrepared(st.name, st.values, st.paramFormats, st.rsFormats)
	}
	if withSuffix {
		for _, s := range d.suffix {
			b.ExecParams(s, nil, nil, nil, nil)
		}
	}
	var first string
	if len(rec.sql) > 0 {
		first = rec.sql[0]
	}
	span := d.spans.pipelined(ctx, first, len(rec.sql), batchLen(len(rec.sql), withSuffix, d))
	err := readAll(d.conn.PgConn().ExecBatch(ctx, b))
	endPipelined(span, err)
	return err
}

// readAll reads a batch of Exec statements to its end: the first error.
func readAll(mrr *pgconn.MultiResultReader) error {
	results, err := mrr.ReadAll()
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// recorder is a dbsqlc.DBTX that records the SQL and the arguments the
// generated code sends and runs nothing: the one fake of sqlc's DBTX, used
// to pipeline Exec statements (execPipelined), to take the hot statements'
// SQL from the generated code (pool.go) and by the tests (RecordQueries).
// Exec succeeds; Query and QueryRow fail with queryErr (errRecorded when
// nil), so a query that returns rows is never taken for run.
type recorder struct {
	sql      []string
	args     [][]any
	queryErr error
}

var (
	errRecorded       = errors.New("recorded, not run")
	errNotPipelinable = errors.New("postgres: only Exec statements can be pipelined")
)

func (r *recorder) record(sql string, args []any) error {
	r.sql = append(r.sql, sql)
	r.args = append(r.args, args)
	if r.queryErr != nil {
		return r.queryErr
	}
	return errRecorded
}

func (r *recorder) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	_ = r.record(sql, args)
	return pgconn.CommandTag{}, nil
}

func (r *recorder) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	return nil, r.record(sql, args)
}

func (r *recorder) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	return recordedRowErr{r.record(sql, args)}
}

type recordedRowErr struct{ err error }

func (r recordedRowErr) Scan(...any) error { return r.err }
