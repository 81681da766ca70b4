package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/sessiond/sessiond/core"
)

// Database faults (docs/session-rules.md §8): the database unreachable, restarting, out of
// connections or too slow. They are not the request's fault and not a bug,
// so they become *core.Fault (503 service_unavailable with Retry-After),
// never a 500. A tenant transaction that fails this way rolled back, so
// nothing was written partially; the pool reconnects by itself once the
// database is back, so the service recovers without a restart.

// Fault kinds: the label of the database-error metric.
const (
	FaultConnect          = "connect"    // cannot connect (refused, unreachable, authentication during a restart)
	FaultConnection       = "connection" // the connection broke mid-request
	FaultShutdown         = "shutdown"   // 57P01/57P02/57P03: the server is stopping or starting
	FaultTooManyConns     = "too_many_connections"
	FaultStatementTimeout = "statement_timeout" // 57014: statement_timeout (DB_STATEMENT_TIMEOUT)
	FaultTimeout          = "timeout"           // a deadline: pool acquire (DB_ACQUIRE_TIMEOUT) or network
	FaultSerialization    = "serialization"     // 40001 after its retry
	FaultDeadlock         = "deadlock"          // 40P01 after its retry
	FaultReadOnly         = "read_only"         // 25006: a standby answered (failover in progress)
	FaultPoolClosed       = "pool_closed"       // shutting down
)

// FaultKinds lists every kind (metrics pre-declare them).
var FaultKinds = []string{FaultConnect, FaultConnection, FaultShutdown, FaultTooManyConns, FaultStatementTimeout,
	FaultTimeout, FaultSerialization, FaultDeadlock, FaultReadOnly, FaultPoolClosed}

// classifyFault returns the fault kind of a driver error, or "" when err is
// not a database fault (a constraint violation, no rows, a cancelled
// request, a bug). By type and SQLSTATE, never by message text.
func classifyFault(err error) string {
	if err == nil {
		return ""
	}
	var f *core.Fault
	if errors.As(err, &f) {
		return f.Kind
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "57014": // query_canceled: statement_timeout (we never cancel otherwise)
			return FaultStatementTimeout
		case pg.Code == "57P01", pg.Code == "57P02", pg.Code == "57P03": // admin/crash shutdown, cannot connect now
			return FaultShutdown
		case pg.Code == "53300": // too_many_connections
			return FaultTooManyConns
		case pg.Code == "40001":
			return FaultSerialization
		case pg.Code == "40P01":
			return FaultDeadlock
		case pg.Code == "25006": // read_only_sql_transaction
			return FaultReadOnly
		case len(pg.Code) == 5 && pg.Code[:2] == "08": // connection exception class
			return FaultConnection
		}
		return ""
	}
	if errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		// The caller went away (client disconnect, shutdown): not a fault
		// of the database, and nobody reads the answer.
		var ce *pgconn.ConnectError
		if !errors.As(err, &ce) {
			return ""
		}
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return FaultConnect
	}
	if errors.Is(err, puddle.ErrClosedPool) {
		return FaultPoolClosed
	}
	if pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) {
		return FaultTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return FaultConnection
	}
	if pgconn.SafeToRetry(err) {
		// pgx knows nothing was sent: a connection that could not be used.
		return FaultConnection
	}
	return ""
}

// asFault wraps err as a *core.Fault when it is a database fault, and
// returns it unchanged otherwise.
func asFault(err error) error {
	kind := classifyFault(err)
	if kind == "" {
		return err
	}
	var f *core.Fault
	if errors.As(err, &f) {
		return err
	}
	return &core.Fault{Kind: kind, Err: err}
}

// retryable reports a transaction the database aborted only because of
// a concurrent one, which is safe to run again from the start: nothing it
// did was committed, and tenant transactions keep their side effects inside
// the database (closures only assign results).
func retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40001" || pg.Code == "40P01")
}

// retryOnce runs run, and once more when the first run failed with a
// serialization failure or a deadlock. Whatever fails is classified.
func retryOnce(ctx context.Context, run func() error) error {
	err := run()
	if retryable(err) && ctx.Err() == nil {
		err = run()
	}
	return asFault(err)
}
