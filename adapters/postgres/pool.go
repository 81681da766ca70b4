package postgres

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
)

func pgxConfig(databaseURL string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	return cfg, nil
}

// DefaultMaxConns sizes the pool for the machine: 4 connections per CPU
// the Go runtime uses, at least 4. A request holds a connection for one
// round trip (refresh, /auth/me) or a short transaction, and PostgreSQL on
// the same few cores gains nothing from more concurrently active backends.
func DefaultMaxConns() int32 {
	return int32(max(4, 4*runtime.GOMAXPROCS(0)))
}

// PoolOptions tune the runtime pool. Zero values keep the defaults.
type PoolOptions struct {
	MaxConns int32
	// StatementTimeout is the server-side statement_timeout of every
	// connection (a startup parameter, so it costs no round trip); a
	// statement that runs longer fails with 57014 → 503. 0: the server's.
	StatementTimeout time.Duration
	// AcquireTimeout bounds the wait for a pooled connection, connecting
	// included; past it the request fails → 503. 0: the request's own
	// deadline only. The Store applies it (Store.acquire), on every path
	// that takes a connection.
	AcquireTimeout time.Duration
	// TracerProvider, when set, makes a span per round trip (tracing.go,
	// pgxwire.go); nil or a no-op provider: no tracing, no cost.
	TracerProvider trace.TracerProvider
}

// NewPool connects to databaseURL (the runtime role) and checks the
// connection. maxConns 0 means DefaultMaxConns. pgx's default query mode
// caches prepared statements per connection; the hot statements (refresh,
// liveness, /auth/me) are prepared when a connection opens, so no request
// pays for it. The returned cleanup closes the pool.
func NewPool(ctx context.Context, databaseURL string, maxConns int32) (*pgxpool.Pool, func(), error) {
	return NewPoolWithOptions(ctx, databaseURL, PoolOptions{MaxConns: maxConns})
}

// NewPoolWithOptions is NewPool with timeouts.
func NewPoolWithOptions(ctx context.Context, databaseURL string, o PoolOptions) (*pgxpool.Pool, func(), error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("parse database url: %w", err)
	}
	maxConns := o.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns()
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["application_name"] = "sessiond"
	cfg.AfterConnect = prepareHotStatements
	if o.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	}
	// The one place the pool's tracer is set: pgx's tracer spans the
	// statements that go through pgx.Conn; pgxwire.go spans the batches the
	// Store sends itself (NewStoreWithOptions, the same provider).
	if spans := newSpans(o.TracerProvider); spans != nil {
		cfg.ConnConfig.Tracer = *spans
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("ping database: %w", err)
	}
	return pool, pool.Close, nil
}

// newSpans is the round-trip spans of tp, or nil when tracing is off: no
// provider, or a no-op one (nothing would be recorded, so nothing is
// built and the hot path pays one nil check).
func newSpans(tp trace.TracerProvider) *roundTrips {
	if tp == nil {
		return nil
	}
	if _, isNoop := tp.(noop.TracerProvider); isNoop {
		return nil
	}
	rt := newRoundTrips(tp)
	return &rt
}

// storeSettings are the options the Store applies itself
// (NewStoreWithOptions): the acquire bound (Store.acquire) and the spans
// of the batches pgxwire.go sends (pgx's tracer never sees them).
type storeSettings struct {
	acquireWait time.Duration // 0: the request's deadline only
	spans       *roundTrips   // nil: tracing off, nothing is built
}

// prepareHotStatements prepares, on a new connection, the statements the
// one-round-trip paths send as prepared statements (prefixedDB): a few
// round trips once per connection instead of one per statement on its
// first request. It first teaches the connection's type map to encode
// google/uuid values directly (registerUUIDEncoding).
func prepareHotStatements(ctx context.Context, conn *pgx.Conn) error {
	registerUUIDEncoding(conn.TypeMap())
	for _, sql := range hotStatements() {
		if _, err := conn.Prepare(ctx, stmtName(sql), sql); err != nil {
			return fmt.Errorf("prepare hot statement: %w", err)
		}
	}
	return nil
}

// hotStatements are the SQL texts of the queries on the hot paths, taken
// from the generated code (never copied by hand) by running the generated
// methods against a recorder.
var hotStatements = sync.OnceValue(func() []string {
	rec := &recorder{}
	q := dbsqlc.New(rec)
	ctx := context.Background()
	_, _ = q.SessionRotateIfCurrent(ctx, dbsqlc.SessionRotateIfCurrentParams{})
	_, _ = q.UserGetIfSessionLive(ctx, dbsqlc.UserGetIfSessionLiveParams{})
	_, _ = q.SessionIsLive(ctx, dbsqlc.SessionIsLiveParams{})
	_, _ = q.SessionLockForRefresh(ctx, dbsqlc.SessionLockForRefreshParams{})
	_, _ = q.SessionListLiveByUser(ctx, dbsqlc.SessionListLiveByUserParams{})
	return rec.sql
})

// acquire takes a connection from the pool for one store call: every path
// of the Store that needs a connection comes through here (the one-round-
// trip paths and tenant transactions in tx.go, oneTx, the pre-tenant
// queries through pooledDB, Ping), so none escapes the bound. The wait,
// connecting included, is bounded by DB_ACQUIRE_TIMEOUT (acquireWait);
// past it the call fails with a FaultTimeout (503, faults.go).
// The bound is the acquire's only: the statements that follow run under
// the request's context and the server's statement_timeout.
//
// The deadline is a context.WithTimeout (a timer, five allocations, about
// a microsecond) unless the request's own deadline comes first. A fast
// path that skips it when the pool looks idle (pgxpool's Stat) was not
// taken: Stat allocates and walks the pool under its lock too, and a
// connection seen idle may be handed to a waiter an instant later, which
// would leave this call waiting without the bound exactly when the pool
// is saturated.
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	actx := ctx
	if s.acquireWait > 0 {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > s.acquireWait {
			var cancel context.CancelFunc
			actx, cancel = context.WithTimeout(ctx, s.acquireWait)
			defer cancel()
		}
	}
	c, err := s.pool.Acquire(actx)
	if err != nil {
		// Classified here, so that no caller can hand a bare deadline on
		// as an internal error.
		return nil, asFault(err)
	}
	return c, nil
}

// pooledDB is the dbsqlc.DBTX of the pre-tenant queries (Store.q): each
// statement takes a connection through Store.acquire, as pgxpool.Pool's
// own Exec/Query/QueryRow would without the bound, and gives it back when
// its result is read (Exec) or its rows are closed (Query, QueryRow).
type pooledDB struct{ s *Store }

var _ dbsqlc.DBTX = pooledDB{}

func (p pooledDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, err := p.s.acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer c.Release()
	return c.Exec(ctx, sql, args...)
}

func (p pooledDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c, err := p.s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		c.Release()
		return nil, err
	}
	return &releasingRows{Rows: rows, conn: c}, nil
}

func (p pooledDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := p.Query(ctx, sql, args...)
	return batchRow{rows: rows, err: err}
}

// releasingRows give their connection back to the pool once closed, as
// pgxpool's own rows do; reading them to the end closes them.
type releasingRows struct {
	pgx.Rows
	conn *pgxpool.Conn
}

func (r *releasingRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *releasingRows) Close() {
	r.Rows.Close()
	if r.conn != nil {
		r.conn.Release()
		r.conn = nil
	}
}
