// Package pgtest gives tests a real, migrated PostgreSQL database and
// connections as the production runtime role. The database cluster comes
// from TEST_DATABASE_URL (a superuser URL), which `make test` sets after
// starting a throwaway cluster.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/adapters/postgres"
)

// DB is one migrated database.
type DB struct {
	Name string
	// AdminURL connects as the superuser (for fixtures and catalog checks).
	AdminURL string
	// AppURL connects as sessiond_app, the runtime role.
	AppURL string
}

var (
	mu     sync.Mutex
	shared *DB
)

// Shared returns a database migrated once per test binary (package). Tests
// isolate themselves by creating their own tenants and users.
func Shared(t testing.TB) *DB {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if shared == nil {
		shared = Fresh(t)
	}
	return shared
}

// Fresh creates and migrates a new database. It is left for the cluster's
// teardown (make test removes the whole cluster).
func Fresh(t testing.TB) *DB {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Fatal("TEST_DATABASE_URL is not set: run the tests with `make test`, which starts a throwaway PostgreSQL cluster")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test cluster: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database: %v", err)
	}
	db := &DB{Name: name, AdminURL: withDB(t, base, name, ""), AppURL: withDB(t, base, name, "sessiond_app")}
	if err := postgres.Migrate(ctx, db.AdminURL, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

func withDB(t testing.TB, base, name, user string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	if user != "" {
		u.User = url.User(user)
	}
	return u.String()
}

// AppPool opens a pool as the runtime role, closed at the end of the test.
func (d *DB) AppPool(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	pool, cleanup, err := postgres.NewPool(context.Background(), d.AppURL, maxConns)
	if err != nil {
		t.Fatalf("app pool: %v", err)
	}
	t.Cleanup(cleanup)
	return pool
}

// Admin opens a superuser connection, closed at the end of the test.
func (d *DB) Admin(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), d.AdminURL)
	if err != nil {
		t.Fatalf("admin connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// String helps failure messages.
func (d *DB) String() string { return fmt.Sprintf("pgtest.DB(%s)", d.Name) }
