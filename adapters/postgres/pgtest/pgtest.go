// Package pgtest gives tests a real, migrated PostgreSQL database and
// connections as the production runtime role. The database cluster comes
// from TEST_DATABASE_URL (a superuser URL), which `make test` sets after
// starting a throwaway cluster; under a plain `go test`, Main (called from
// each database-using package's TestMain) starts one per test binary.
//
// With TEST_CITUS_WORKERS set as well (`make test-citus`: TEST_DATABASE_URL
// is then a Citus coordinator and TEST_CITUS_WORKERS its two workers,
// host:port,host:port), every database is distributed the way production
// is (README "Scaling out on Citus"): created on every node, the citus
// extension on each, the workers added, migrated on the coordinator, then
// migrations/citus/distribute.sql.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	// Citus: the database is distributed on a Citus cluster
	// (distribute.sql ran), not a single PostgreSQL node.
	Citus bool
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

// Citus reports whether the tests run on a Citus cluster (make
// test-citus), where Fresh and Shared databases are distributed.
func Citus() bool { return os.Getenv("TEST_CITUS_WORKERS") != "" }

// LockWaiters counts the backends of conn's database that wait on a lock
// while running a query that contains text ("": any) for a client whose
// application_name is app ("": any). On Citus the rows, and so the row
// locks, live on the workers, where the backends that wait serve the
// coordinator's backend, which waits on the network: the variant reads
// citus_stat_activity, whose global_pid ties each worker backend to the
// coordinator backend (its client, its query).
func LockWaiters(ctx context.Context, conn *pgx.Conn, text, app string) (int, error) {
	q := `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock'
		  AND position($1 in query) > 0 AND ($2 = '' OR application_name = $2)`
	if Citus() {
		q = `SELECT count(DISTINCT w.global_pid) FROM citus_stat_activity w
			JOIN citus_stat_activity c ON c.global_pid = w.global_pid AND NOT c.is_worker_query
			WHERE w.wait_event_type = 'Lock' AND c.datname = current_database()
			  AND position($1 in c.query) > 0 AND ($2 = '' OR c.application_name = $2)`
	}
	var n int
	err := conn.QueryRow(ctx, q, text, app).Scan(&n)
	return n, err
}

// FreshPlain creates and migrates a new database that is not distributed,
// on Citus too (where it is a database of the coordinator without the
// extension): for tests of the schema as the migrations leave it, which
// change it in ways Citus refuses on distributed tables.
func FreshPlain(t testing.TB) *DB {
	t.Helper()
	return fresh(t, false)
}

// Fresh creates and migrates a new database (on Citus: distributed). It is
// left for the cluster's teardown (make test removes the whole cluster).
func Fresh(t testing.TB) *DB {
	t.Helper()
	return fresh(t, Citus())
}

// Empty creates a database (on Citus: on every node, with the extension
// and the workers added) and migrates nothing: for tests of a migration
// path, which bring it to the version they start from themselves.
func Empty(t testing.TB) *DB {
	t.Helper()
	return create(t, Citus())
}

func create(t testing.TB, citus bool) *DB {
	t.Helper()
	base := ServerURL(t)
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	db := &DB{Name: name, AdminURL: withDB(t, base, name, ""), AppURL: withDB(t, base, name, "sessiond_app"), Citus: citus}
	if db.Citus {
		if err := citusDatabase(ctx, base, name); err != nil {
			t.Fatalf("citus database %s: %v", name, err)
		}
	} else if err := createDatabase(ctx, base, name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return db
}

func fresh(t testing.TB, citus bool) *DB {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	db := create(t, citus)
	name := db.Name
	if err := migrate(ctx, db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if db.Citus {
		if err := Distribute(ctx, db.AdminURL); err != nil {
			t.Fatalf("distribute %s: %v", name, err)
		}
		t.Logf("pgtest: distributed database %s ready in %v", name, time.Since(start).Round(time.Millisecond))
	}
	return db
}

// migrate brings db to the latest version. On Citus, a migration that
// creates an object depending on a role makes the coordinator create or
// ALTER that role on every worker (Citus's worker_create_or_alter_role).
// Roles are cluster-wide, so two test databases of one cluster migrating
// at once (test packages run in parallel) can update the same role row on a
// worker together, and PostgreSQL refuses one: "tuple concurrently updated"
// (XX000). A deployment's single database never meets this. The failed
// migration rolled back whole (each runs in its own transaction), so
// migrate runs again, up to three times.
func migrate(ctx context.Context, db *DB) error {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := postgres.Migrate(ctx, db.AdminURL, log)
	for try := 1; try < 3 && db.Citus && roleRowCollision(err); try++ {
		err = postgres.Migrate(ctx, db.AdminURL, log)
	}
	return err
}

func roleRowCollision(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "XX000" && pgErr.Message == "tuple concurrently updated"
}

func createDatabase(ctx context.Context, serverURL, name string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(serverURL), err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}

func execOn(ctx context.Context, dsn string, sqls ...string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(dsn), err)
	}
	defer conn.Close(ctx)
	for _, s := range sqls {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s on %s: %w", s, redact(dsn), err)
		}
	}
	return nil
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(bad URL)"
	}
	return u.Redacted()
}

// Workers returns the Citus workers' addresses (host:port), none when the
// suite runs on plain PostgreSQL.
func Workers() []string {
	v := os.Getenv("TEST_CITUS_WORKERS")
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// WorkerURL is serverURL (a superuser URL) pointed at one worker and
// database.
func WorkerURL(t testing.TB, serverURL, worker, name string) string {
	t.Helper()
	u, err := workerURL(serverURL, worker, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func workerURL(serverURL, worker, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", err
	}
	u.Host = worker
	u.Path = "/" + name
	return u.String(), nil
}

// citusDatabase makes database name on every node and joins the nodes
// (README "Scaling out on Citus", step 1): the database and the citus
// extension on each worker first (citus_add_node expects both there), then
// on the coordinator, which learns its own address and adds the workers.
func citusDatabase(ctx context.Context, coordinatorURL, name string) error {
	workers := Workers()
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			server, err := workerURL(coordinatorURL, w, "postgres")
			if err == nil {
				err = createDatabase(ctx, server, name)
			}
			if err == nil {
				var dbURL string
				if dbURL, err = workerURL(coordinatorURL, w, name); err == nil {
					err = execOn(ctx, dbURL, "CREATE EXTENSION citus")
				}
			}
			errs[i] = err
		})
	}
	if err := createDatabase(ctx, coordinatorURL, name); err != nil {
		return err
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	u, err := url.Parse(coordinatorURL)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return fmt.Errorf("coordinator address %q: %w", u.Host, err)
	}
	dbURL, _ := workerURL(coordinatorURL, u.Host, name)
	if err := execOn(ctx, dbURL, "CREATE EXTENSION citus",
		fmt.Sprintf("SELECT citus_set_coordinator_host(%s, %s)", quote(host), port)); err != nil {
		return err
	}
	for _, w := range workers {
		wh, wp, err := net.SplitHostPort(w)
		if err != nil {
			return fmt.Errorf("TEST_CITUS_WORKERS: %q: %w", w, err)
		}
		// citus_add_node connects to the worker at once; on a loaded
		// two-core machine, with many test databases each keeping its own
		// connections and maintenance daemon, that connection has failed
		// now and then ("failure on connection marked as essential").
		// Adding a node is idempotent, so it is tried again.
		add := fmt.Sprintf("SELECT citus_add_node(%s, %s)", quote(wh), wp)
		for attempt := 1; ; attempt++ {
			err = execOn(ctx, dbURL, add)
			if err == nil || attempt == 5 {
				break
			}
			time.Sleep(time.Duration(attempt) * time.Second)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Distribute runs migrations/citus/distribute.sql on a migrated database
// of the coordinator, with psql, as the README tells an operator to.
func Distribute(ctx context.Context, adminURL string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	return RunSQLFile(ctx, adminURL, filepath.Join(root, "migrations", "citus", "distribute.sql"))
}

// RunSQLFile runs a script with psql (stopping at the first error), as an
// operator runs the scripts of migrations/citus.
func RunSQLFile(ctx context.Context, adminURL, path string) error {
	psql, err := psqlPath()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", adminURL, "-f", path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("psql -f %s: %w\n%s", filepath.Base(path), err, out.String())
	}
	return nil
}

// RepoRoot is the directory of go.mod, above the test's working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// psqlPath finds psql: on PATH, else beside the server binaries (Debian).
func psqlPath() (string, error) {
	if p, err := exec.LookPath("psql"); err == nil {
		return p, nil
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql")
	if len(m) > 0 {
		return m[len(m)-1], nil
	}
	return "", errors.New("psql not found (on PATH or in /usr/lib/postgresql/*/bin)")
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
