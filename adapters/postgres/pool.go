package postgres

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

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
	// deadline only.
	AcquireTimeout time.Duration
	// TracerProvider, when set, makes a span per round trip (tracing.go);
	// nil: no tracing, no cost.
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
	// The one place the pool's tracer is set. pgx takes a single Tracer, so
	// poolTracer composes them (pgx's multitracer), which passes the
	// acquire hooks on too: the acquire deadline (DB_ACQUIRE_TIMEOUT,
	// faults.go) keeps working beside the round-trip spans.
	var tracers []pgx.QueryTracer
	if o.AcquireTimeout > 0 {
		tracers = append(tracers, acquireTimeout{d: o.AcquireTimeout})
	}
	if o.TracerProvider != nil {
		tracers = append(tracers, newRoundTrips(o.TracerProvider))
	}
	if t := poolTracer(tracers...); t != nil {
		cfg.ConnConfig.Tracer = t
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
