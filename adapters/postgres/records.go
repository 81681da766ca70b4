package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// The records of a failed credential check and of a password-reset request
// (core.Store.RecordFailure, RecordResetRequest): each one transaction,
// `BEGIN; [SET LOCAL tenant;] statements…; COMMIT`, sent as one pipelined
// batch (one round trip, one commit), so that a known email — whose failed
// sign-in also writes its audit row — and an unknown one cost the same
// round trips and commits (LGN-10, docs/security-checklist.md). The statements are the
// generated queries of queries/*.sql, each prepared once per connection
// and sent as its own message (never one multi-statement string: Citus,
// see tx.go).

// stmt is one generated query, captured with its arguments (capture).
type stmt struct {
	sql  string
	args []any
	// scan reads the statement's rows; nil for a statement without rows
	// (or whose rows are not wanted).
	scan func(pgx.Rows) error
}

// errCaptured ends a generated query's call once capture has its SQL.
var errCaptured = errors.New("postgres: statement captured")

// capturer is a dbsqlc.DBTX that records the one statement a generated
// query issues, and runs nothing.
type capturer struct{ got []stmt }

func (c *capturer) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c.got = append(c.got, stmt{sql: sql, args: args})
	return pgconn.CommandTag{}, nil
}

func (c *capturer) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.got = append(c.got, stmt{sql: sql, args: args})
	return nil, errCaptured
}

func (c *capturer) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	c.got = append(c.got, stmt{sql: sql, args: args})
	return recordedRowErr{errCaptured}
}

// capture returns the statement fn issues through the generated code.
func capture(fn func(q *dbsqlc.Queries) error) (stmt, error) {
	c := &capturer{}
	if err := fn(dbsqlc.New(c)); err != nil && !errors.Is(err, errCaptured) {
		return stmt{}, err
	}
	if len(c.got) != 1 {
		return stmt{}, fmt.Errorf("postgres: captured %d statements, want 1", len(c.got))
	}
	return c.got[0], nil
}

// throttleStmt is the brute-force function of key: a failure under rule
// (failure) or a read (check); its state lands in *st.
func throttleStmt(key []byte, now time.Time, rule *core.ThrottleRule, st *core.ThrottleState) (stmt, error) {
	var s stmt
	var err error
	if rule == nil {
		s, err = capture(func(q *dbsqlc.Queries) error { _, err := q.LoginThrottleCheck(context.Background(), key); return err })
	} else {
		s, err = capture(func(q *dbsqlc.Queries) error {
			_, err := q.LoginThrottleFailure(context.Background(), dbsqlc.LoginThrottleFailureParams{
				KeyHash: key, Now: now, Threshold: int32(rule.Threshold),
				BaseDelaySeconds: rule.BaseDelay.Seconds(), MaxDelaySeconds: rule.MaxDelay.Seconds(), WindowSeconds: rule.Window.Seconds(),
			})
			return err
		})
	}
	s.scan = func(rows pgx.Rows) error {
		for rows.Next() {
			var failures int32
			var locked time.Time
			if err := rows.Scan(&failures, &locked); err != nil {
				return err
			}
			*st = throttleState(failures, locked)
		}
		return rows.Err()
	}
	return s, err
}

// RecordFailure implements core.Store.
func (s *Store) RecordFailure(ctx context.Context, f core.FailureRecord) ([]core.ThrottleState, error) {
	var tenant uuid.UUID
	var stmts []stmt
	if f.Audit != nil {
		tenant = f.Audit.AccountID
		p, err := auditParams(tenant, *f.Audit)
		if err != nil {
			return nil, err
		}
		a, err := capture(func(q *dbsqlc.Queries) error { return q.AuditEventInsert(ctx, p) })
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, a)
	}
	// Keys in one order, so two transactions counting the same keys never
	// wait on each other crosswise.
	order := make([]int, len(f.Keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(f.Keys[a], f.Keys[b]) })
	states := make([]core.ThrottleState, len(f.Keys))
	for _, i := range order {
		t, err := throttleStmt(f.Keys[i], f.Now, &f.Rule, &states[i])
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, t)
	}
	if err := s.oneTx(ctx, tenant, stmts); err != nil {
		return nil, err
	}
	return states, nil
}

// RecordResetRequest implements core.Store.
func (s *Store) RecordResetRequest(ctx context.Context, r core.ResetRequestRecord) (before, after core.ThrottleState, err error) {
	check, err := throttleStmt(r.Key, r.Now, nil, &before)
	if err != nil {
		return before, after, err
	}
	count, err := throttleStmt(r.Key, r.Now, &r.Rule, &after)
	if err != nil {
		return before, after, err
	}
	return before, after, s.oneTx(ctx, uuid.Nil, []stmt{check, count})
}

// oneTx runs stmts as one transaction in one round trip: BEGIN, the tenant
// setting (when tenant is not Nil), the statements, COMMIT, in one
// pipelined batch. An error rolls the transaction back (the server skips
// to the end of the batch at the first error, so COMMIT never runs after
// one); a serialization failure or deadlock runs it once more.
func (s *Store) oneTx(ctx context.Context, tenant uuid.UUID, stmts []stmt) error {
	return retryOnce(ctx, func() error {
		pc, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		defer pc.Release() // destroys a connection left inside a transaction
		conn := pc.Conn()
		b := &pgconn.Batch{}
		prefix := []string{beginReadCommitted}
		if tenant != uuid.Nil {
			prefix = []string{beginReadCommitted, setLocalTenant(tenant)}
		}
		for _, p := range prefix {
			b.ExecParams(p, nil, nil, nil, nil)
		}
		for _, st := range stmts {
			sd, err := conn.Prepare(ctx, stmtName(st.sql), st.sql) // a map lookup once prepared on this connection
			if err != nil {
				return err
			}
			var eqb pgx.ExtendedQueryBuilder
			if err := eqb.Build(conn.TypeMap(), sd, st.args); err != nil {
				return err
			}
			b.ExecPrepared(sd.Name, eqb.ParamValues, eqb.ParamFormats, eqb.ResultFormats)
		}
		b.ExecParams("COMMIT", nil, nil, nil, nil)
		var first string
		if len(stmts) > 0 {
			first = stmts[0].sql
		}
		span := s.spans.pipelined(ctx, first, len(stmts), len(prefix)+len(stmts)+1)
		err = readBatch(conn, conn.PgConn().ExecBatch(ctx, b), len(prefix), stmts)
		endPipelined(span, err)
		if err != nil {
			rollback(ctx, conn)
		}
		return err
	})
}

// readBatch reads the batch's results: the prefix's, each statement's
// (scanned when it wants its rows), then COMMIT's, which must say COMMIT.
func readBatch(conn *pgx.Conn, mrr *pgconn.MultiResultReader, prefix int, stmts []stmt) error {
	next := func() error {
		if !mrr.NextResult() {
			return closeErr(mrr)
		}
		return nil
	}
	for range prefix {
		if err := next(); err != nil {
			return err
		}
		if _, err := mrr.ResultReader().Close(); err != nil {
			_ = mrr.Close()
			return err
		}
	}
	for _, st := range stmts {
		if err := next(); err != nil {
			return err
		}
		if st.scan == nil {
			if _, err := mrr.ResultReader().Close(); err != nil {
				_ = mrr.Close()
				return err
			}
			continue
		}
		rows := pgx.RowsFromResultReader(conn.TypeMap(), mrr.ResultReader())
		err := st.scan(rows)
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			_ = mrr.Close()
			return err
		}
	}
	if err := next(); err != nil {
		return err
	}
	tag, err := mrr.ResultReader().Close()
	if cerr := mrr.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if tag.String() != "COMMIT" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}
