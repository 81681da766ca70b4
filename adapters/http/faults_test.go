package http_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// privateCluster is a PostgreSQL cluster of the test's own (scripts/pg.sh),
// which it may stop and start under a running server.
type privateCluster struct {
	t    testing.TB
	data string
	port int
	db   *pgtest.DB
}

func (c *privateCluster) pg(args ...string) {
	c.t.Helper()
	cmd := exec.Command("../../scripts/pg.sh", args...)
	cmd.Env = append(os.Environ(), "PG_FAST=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("pg.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (c *privateCluster) stop()  { c.pg("stop", c.data) }
func (c *privateCluster) start() { c.pg("start", c.data, strconv.Itoa(c.port)) }

// startPrivateCluster starts and migrates a cluster on a free port. It
// needs the PostgreSQL binaries that make test uses, so it runs exactly
// where the other database tests run (TEST_DATABASE_URL set).
func startPrivateCluster(t *testing.T) *privateCluster {
	t.Helper()
	pgtest.ServerURL(t) // the server binaries are there
	// A directory the postgres OS user can reach when the tests run as root
	// (t.TempDir is 0700).
	dir, err := os.MkdirTemp("", "sessiond-db01-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	c := &privateCluster{t: t, data: filepath.Join(dir, "data"), port: port}
	t.Cleanup(func() {
		c.pg("destroy", c.data)
		_ = os.RemoveAll(dir)
	})
	c.start()
	c.pg("ensure-db", strconv.Itoa(port), "sessiond")
	base := fmt.Sprintf("postgres://%%s@127.0.0.1:%d/sessiond?sslmode=disable", port)
	c.db = &pgtest.DB{Name: "sessiond", AdminURL: fmt.Sprintf(base, "postgres"), AppURL: fmt.Sprintf(base, "sessiond_app")}
	if err := postgres.Migrate(context.Background(), c.db.AdminURL, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return c
}

func expectUnavailable(t testing.TB, what string, res response) {
	t.Helper()
	if res.Status != http.StatusServiceUnavailable {
		t.Fatalf("%s: %d, want 503; body %s", what, res.Status, res.Body)
	}
	if p := res.Problem(t); p.Code != "service_unavailable" {
		t.Fatalf("%s: code %q, want service_unavailable", what, p.Code)
	}
	retryAfter(t, res)
}

// DB-01: the database stops under a running server. /auth/me, refresh,
// sign-in (and registration, readiness) answer 503 service_unavailable with
// Retry-After, never 500; nothing is written (the refresh token that failed
// to rotate still works); when the database is back the same server
// answers 200 again, without a restart. Today's main answered 500.
func TestFaults_DB01_DatabaseStopped_503WithRetryAfter_RecoversWithoutRestart(t *testing.T) {
	c := startPrivateCluster(t)
	h := newHarnessOn(t, harnessSetup{DB: c.db, Pool: postgres.PoolOptions{MaxConns: 4, AcquireTimeout: 2 * time.Second, StatementTimeout: 5 * time.Second}})
	u := h.register(t, uniqueEmail("db01"))
	tk := h.login(t, u, nil)
	// Several connections in the pool, so that stale ones are met below.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}) })
	}
	wg.Wait()

	c.stop()
	for round := range 3 { // stale pooled connections first, then refused connects
		expectUnavailable(t, fmt.Sprintf("database down, round %d: GET /auth/me", round), h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}))
		expectUnavailable(t, fmt.Sprintf("round %d: POST /auth/refresh", round), h.refresh(t, tk.RefreshToken))
		expectUnavailable(t, fmt.Sprintf("round %d: sign-in", round), h.signIn(t, u.Email, u.Password))
		expectUnavailable(t, fmt.Sprintf("round %d: register", round), h.do(t, req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{
			"email": uniqueEmail("db01-down"), "password": "correct horse battery", "name": "Down", "account_name": "Down Inc"}}))
		expectUnavailable(t, fmt.Sprintf("round %d: GET /readyz", round), h.do(t, req{method: "GET", path: "/readyz"}))
	}

	c.start()
	// A pooled connection broken by the restart may fail one more request
	// (503, which clients retry); never a 500, and then 200.
	eventually200 := func(what string, send func() response) response {
		t.Helper()
		for range 10 {
			res := send()
			if res.Status == http.StatusOK {
				return res
			}
			expectUnavailable(t, what+" after the restart", res)
		}
		t.Fatalf("%s: no 200 after the database came back", what)
		return response{}
	}
	eventually200("GET /auth/me", func() response {
		return h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken})
	})
	// Nothing was written while the database was down: the refresh token
	// that could not rotate is still the current one.
	eventually200("POST /auth/refresh", func() response { return h.refresh(t, tk.RefreshToken) })
	eventually200("sign-in", func() response { return h.signIn(t, u.Email, u.Password) })
}

// A statement that runs past DB_STATEMENT_TIMEOUT (here: waiting on a row
// lock the test holds) is cancelled by the server and answered 503 with
// Retry-After; once the lock is gone the same request succeeds.
func TestFaults_StatementTimeout_503WithRetryAfter(t *testing.T) {
	// One second: long enough for every statement of a sign-in under -race
	// on a loaded two-core machine (300 ms was not: the sign-in got 503),
	// short enough that the held lock below trips it at once.
	h := newHarnessOn(t, harnessSetup{Pool: postgres.PoolOptions{StatementTimeout: time.Second}})
	u := h.register(t, uniqueEmail("stmt-timeout"))
	tk := h.login(t, u, nil)
	lock := h.db.LockUser(t, u.AccountID, u.UserID)
	expectUnavailable(t, "change-password behind a held row lock", h.changePassword(t, tk.AccessToken, u.Password, "a brand new password"))
	lock.Release()
	expectStatus(t, h.changePassword(t, tk.AccessToken, u.Password, "a brand new password"), http.StatusNoContent, "change-password once the lock is gone")
}

// MI-01: two server instances (two handlers, services and pools) on one
// database share one truth: failures spread over both throttle the account
// on both; a session revoked through one is refused by the other at once;
// the purge run on both at once removes every expired row exactly once.
func TestFaults_MI01_TwoInstancesOneDatabase(t *testing.T) {
	db := pgtest.Fresh(t) // its own database, so the purge counts are exact
	a := newHarnessOn(t, harnessSetup{DB: db})
	b := newHarnessOn(t, harnessSetup{DB: db, Key: &a.key})
	ctx := context.Background()

	// One per-account failure budget.
	u := a.register(t, uniqueEmail("mi01"))
	for i := range 10 {
		inst := a
		if i%2 == 1 {
			inst = b
		}
		expectProblem(t, inst.signIn(t, u.Email, "wrong"), http.StatusUnauthorized, "invalid_credentials")
	}
	for _, inst := range []*harness{a, b} {
		res := inst.signIn(t, u.Email, u.Password)
		expectProblem(t, res, http.StatusTooManyRequests, "rate_limited")
		retryAfter(t, res)
	}
	a.clock.Advance(30 * time.Second)
	b.clock.Advance(30 * time.Second)

	// Revocation through one is seen by the other at once.
	tk := a.login(t, u, nil)
	expectStatus(t, b.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusOK, "instance b")
	a.logout(t, tk.AccessToken)
	expectProblem(t, b.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusUnauthorized, "invalid_token")
	expectStatus(t, b.refresh(t, tk.RefreshToken), http.StatusUnauthorized, "refresh on b after logout on a")

	// The purge on both instances at once: no row twice, none left.
	for range 40 {
		b.login(t, u, nil)
	}
	// The purge judges expiry by the database's clock (docs/session-rules.md §5),
	// not the fake one: move these sessions' deadlines into its past.
	db.ExpireSessionsOfUser(t, u.UserID, 3*24*time.Hour, 2*24*time.Hour)
	due := db.SessionsPastAbsoluteBy(t, 24*time.Hour)
	if due < 41 {
		t.Fatalf("%d sessions due, want at least 41", due)
	}
	var (
		counts [2]postgres.PurgeCounts
		errs   [2]error
	)
	instances := []*harness{a, b}
	concurrently(len(instances), func(i int) {
		counts[i], errs[i] = instances[i].store.PurgeExpired(ctx, 0, 3)
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("purge %d: %v", i, err)
		}
	}
	if got := counts[0].Sessions + counts[1].Sessions; got != due {
		t.Fatalf("the two purges removed %d + %d sessions, want %d in all (each once)", counts[0].Sessions, counts[1].Sessions, due)
	}
	if left := db.SessionsPastAbsoluteBy(t, 24*time.Hour); left != 0 {
		t.Fatalf("%d expired sessions left after both purges", left)
	}
}
