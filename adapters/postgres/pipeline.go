package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
)

// execPipelined runs the statements fn issues through the generated code
// (Exec-only queries: :exec or :execrows) in one round trip: one pgconn
// batch, each statement prepared and sent as its own message (extended
// protocol), after the pending prefix if any. Separate statements, never
// one multi-statement string: Citus replays a whole query string on each
// worker (README "Scaling out on Citus", rule (1)). Inside a tenant transaction the statements run in
// order and the first error aborts the transaction (the caller rolls back).
func (d *prefixedDB) execPipelined(ctx context.Context, fn func(q *dbsqlc.Queries) error) error {
	rec := &execRecorder{}
	if err := fn(dbsqlc.New(rec)); err != nil {
		return err
	}
	type prepared struct {
		name                    string
		values                  [][]byte
		paramFormats, rsFormats []int16
	}
	stmts := make([]prepared, 0, len(rec.stmts))
	for _, st := range rec.stmts {
		sd, err := d.conn.Prepare(ctx, stmtName(st.sql), st.sql) // a map lookup once prepared on this connection
		if err != nil {
			return err
		}
		var eqb pgx.ExtendedQueryBuilder // one per statement: Build reuses its buffers
		if err := eqb.Build(d.conn.TypeMap(), sd, st.args); err != nil {
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
	results, err := d.conn.PgConn().ExecBatch(ctx, b).ReadAll()
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

// execRecorder is a dbsqlc.DBTX that records the Exec calls of generated
// code (SQL and arguments) and runs nothing; a query that returns rows
// cannot be pipelined this way.
type execRecorder struct {
	stmts []struct {
		sql  string
		args []any
	}
}

var errNotPipelinable = errors.New("postgres: only Exec statements can be pipelined")

func (r *execRecorder) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.stmts = append(r.stmts, struct {
		sql  string
		args []any
	}{sql, args})
	return pgconn.CommandTag{}, nil
}

func (r *execRecorder) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errNotPipelinable
}

func (r *execRecorder) QueryRow(context.Context, string, ...any) pgx.Row {
	return recordedRowErr{errNotPipelinable}
}

type recordedRowErr struct{ err error }

func (r recordedRowErr) Scan(...any) error { return r.err }
