package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func pgxConfig(databaseURL string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	return cfg, nil
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
}

// NewPool connects to databaseURL (the runtime role) and checks the
// connection. The returned cleanup closes the pool.
func NewPool(ctx context.Context, databaseURL string, maxConns int32) (*pgxpool.Pool, func(), error) {
	return NewPoolWithOptions(ctx, databaseURL, PoolOptions{MaxConns: maxConns})
}

// NewPoolWithOptions is NewPool with timeouts.
func NewPoolWithOptions(ctx context.Context, databaseURL string, o PoolOptions) (*pgxpool.Pool, func(), error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("parse database url: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "sessiond"
	if o.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	}
	if o.AcquireTimeout > 0 {
		cfg.ConnConfig.Tracer = acquireTimeout{d: o.AcquireTimeout}
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
