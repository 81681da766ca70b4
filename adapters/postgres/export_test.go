package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/migrations"
)

// SetLocalTenant exposes the tenant statement to the external tests.
var SetLocalTenant = setLocalTenant

// RecordQueries runs fn against a recorder and returns, per generated call,
// the SQL and the arguments it would have sent (nothing runs).
func RecordQueries(fn func(q *dbsqlc.Queries)) (sql []string, args [][]any) {
	rec := &recorder{}
	fn(dbsqlc.New(rec))
	return rec.sql, rec.args
}

// MigrateUpTo applies the migrations up to and including version (a test
// of one migration's data step starts from the schema before it).
func MigrateUpTo(ctx context.Context, databaseURL string, version int64) error {
	return withMigrations(databaseURL, func(p *goose.Provider) error {
		_, err := p.UpTo(ctx, version)
		return err
	})
}

// MigrateDownTo rolls the migrations back to version (the down steps).
func MigrateDownTo(ctx context.Context, databaseURL string, version int64) error {
	return withMigrations(databaseURL, func(p *goose.Provider) error {
		_, err := p.DownTo(ctx, version)
		return err
	})
}

// withMigrations runs fn with a goose provider of the migrations over a
// connection to databaseURL.
func withMigrations(databaseURL string, fn func(p *goose.Provider) error) error {
	cfg, err := pgxConfig(databaseURL)
	if err != nil {
		return err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		return err
	}
	return fn(p)
}

// OperationOf exposes the span's operation name of a statement (tracing.go).
var OperationOf = operationOf
