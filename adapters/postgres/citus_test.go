package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// What a distributed deployment needs of the store (docs/security-checklist.md,
// CIT-02 … CIT-04). Each test runs on plain PostgreSQL (make test) and on a
// coordinator with two workers where the database is distributed by
// migrations/citus/distribute.sql (make test-citus); on Citus the tenant's
// rows live on a worker, so a query only sees them when the tenant setting
// and the definer role's connection reach that worker.

// noticePool is a pool of the runtime role that records the server's
// notices (warnings included).
func noticePool(t *testing.T, db *pgtest.DB) (*pgxpool.Pool, func() []*pgconn.Notice) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var notices []*pgconn.Notice
	cfg.MaxConns = 1
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, n)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, func() []*pgconn.Notice {
		mu.Lock()
		defer mu.Unlock()
		return append([]*pgconn.Notice(nil), notices...)
	}
}

// CIT-02: the one-statement tenant paths (/auth/me's read, GET /sessions,
// the refresh fast path's conditional rotation) see the tenant's rows,
// which on Citus live on a worker: SET LOCAL reaches the worker only
// inside a transaction block, so the statement travels as BEGIN, SET
// LOCAL, the query, COMMIT, still one round trip (the HTTP package counts
// them: TestRoundTrips_PerRequest). PostgreSQL itself warns about a SET
// LOCAL outside a transaction block (25P01), so no such warning may come.
func TestCIT02_OneShotStatements_SeeTheTenantsRows_InATransactionBlock(t *testing.T) {
	db := pgtest.Shared(t)
	seedStore := postgres.NewStore(db.AppPool(t, 2))
	a := seedTenant(t, seedStore)
	pool, notices := noticePool(t, db)
	store := postgres.NewStore(pool)
	ctx := context.Background()

	u, err := store.UserIfSessionLive(ctx, a.account, a.session, a.user, now)
	if err != nil || u.ID != a.user || u.AccountID != a.account {
		t.Fatalf("/auth/me's read of a live session: %+v, %v", u, err)
	}
	list, err := store.SessionListLive(ctx, a.account, a.user, now)
	if err != nil || len(list) != 1 || list[0].ID != a.session {
		t.Fatalf("GET /sessions' read: %+v, %v", list, err)
	}
	// A rotation guard that matches nothing: the statement ran scoped and
	// found no row (not an error, not a row of another tenant).
	g := core.RotationGuard{SessionID: a.session, UserID: a.user, PresentedHash: []byte("not current"), Now: now}
	if _, ok, err := store.RotateIfCurrent(ctx, a.account, g, core.Rotation{Now: now, IdleExpiresAt: now.Add(time.Hour)}); err != nil || ok {
		t.Fatalf("rotation against a wrong hash: ok=%v err=%v", ok, err)
	}
	// Another tenant's scope still sees nothing of a's.
	if _, err := store.UserIfSessionLive(ctx, uuid.New(), a.session, a.user, now); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("read under another tenant: %v", err)
	}
	for _, n := range notices() {
		t.Errorf("server notice on a one-shot statement: %s %s: %s", n.Severity, n.Code, n.Message)
	}
	if st := pool.Stat(); st.TotalConns() != 1 {
		t.Errorf("%d connections: a one-shot statement left its connection unusable", st.TotalConns())
	}
}

// CIT-02: a one-shot statement that fails (here: cancelled by the
// statement timeout while a lock holds it) skips its COMMIT; the
// transaction block it opened is rolled back, the connection stays in the
// pool, and the next one-shot statement on it runs normally.
func TestCIT02_OneShotStatement_Failure_RollsBack_ConnectionReused(t *testing.T) {
	db := pgtest.Shared(t)
	ctx := context.Background()
	// One second, not less: on Citus the cancelled statement also cancels its
	// shard queries, and the next statement may first reconnect to a worker,
	// which on a loaded two-core machine took more than 200 ms.
	pool, closePool, err := postgres.NewPoolWithOptions(ctx, db.AppURL, postgres.PoolOptions{MaxConns: 1, StatementTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closePool)
	store := postgres.NewStore(pool)
	a := seedTenant(t, store)
	var pid int
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}

	admin := db.Admin(t)
	lock, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `LOCK TABLE users IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	_, err = store.UserIfSessionLive(ctx, a.account, a.session, a.user, now)
	var fault *core.Fault
	if !errors.As(err, &fault) {
		t.Fatalf("a one-shot read held by a lock past the statement timeout: %v, want a fault", err)
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	if u, err := store.UserIfSessionLive(ctx, a.account, a.session, a.user, now); err != nil || u.ID != a.user {
		t.Fatalf("the next one-shot read: %+v, %v", u, err)
	}
	var again int
	var setting string
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid(), coalesce(current_setting('app.account_id', true), '')`).Scan(&again, &setting); err != nil {
		t.Fatal(err)
	}
	if again != pid || setting != "" {
		t.Fatalf("after the failed statement: backend %d (was %d), setting %q", again, pid, setting)
	}
}

// CIT-03: concurrent failed sign-ins for one email all count, on a
// distributed counter table too (Citus refuses an INSERT … ON CONFLICT DO
// UPDATE whose SET computes with a non-immutable function, such as
// timestamptz + interval; every wrong password then answered 500).
func TestCIT03_LoginThrottle_ConcurrentFailuresAllCount(t *testing.T) {
	db := pgtest.Shared(t)
	store := postgres.NewStore(db.AppPool(t, 8))
	ctx := context.Background()
	rule := core.ThrottleRule{Threshold: 1000, BaseDelay: 30 * time.Second, MaxDelay: time.Minute, Window: time.Hour}
	key := core.ThrottleKey("concurrent-" + uuid.NewString() + "@example.com")
	at := time.Date(2031, 5, 1, 12, 0, 0, 0, time.UTC)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = store.ThrottleFailure(ctx, key, at, rule) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent failures: %v", err)
	}
	st, err := store.ThrottleCheck(ctx, key, at)
	if err != nil || st.Failures != n || st.Locked(at) {
		t.Fatalf("after %d concurrent failures: %+v, %v", n, st, err)
	}
	// One more crosses a threshold of n+1: locked for the base delay.
	rule.Threshold = n + 1
	st, err = store.ThrottleFailure(ctx, key, at, rule)
	if err != nil || st.Failures != n+1 || st.LockedUntil.Sub(at) != rule.BaseDelay {
		t.Fatalf("the failure at the threshold: %+v, %v", st, err)
	}
}

// CIT-04: every SECURITY DEFINER function, called through the store as the
// server calls it. On Citus each one's owner opens the connections to the
// workers, so each owner must be able to log in there (sessiond_throttler
// could not: every sign-in answered 503 and the purge failed).
func TestCIT04_EveryDefinerFunction_RunsThroughTheStore(t *testing.T) {
	db := pgtest.Shared(t)
	store := postgres.NewStore(db.AppPool(t, 2))
	a := seedTenant(t, store)
	ctx := context.Background()
	key := core.ThrottleKey("definer-" + uuid.NewString() + "@example.com")
	rule := core.ThrottleRule{Threshold: 10, BaseDelay: time.Second, MaxDelay: time.Minute, Window: time.Hour}
	for name, call := range map[string]func() error{
		"auth_user_for_login (sessiond_definer)": func() error {
			_, err := store.UserForLogin(ctx, "u-"+a.user.String()+"@example.com")
			return err
		},
		"auth_session_account (sessiond_definer)": func() error {
			_, err := store.SessionAccount(ctx, a.session)
			return err
		},
		"auth_session_is_live (sessiond_definer)": func() error {
			_, err := store.SessionIsLive(ctx, a.account, a.session, now)
			return err
		},
		"auth_password_reset_account (sessiond_definer)": func() error {
			_, err := store.PasswordResetAccount(ctx, make([]byte, 32))
			if errors.Is(err, core.ErrNotFound) {
				return nil
			}
			return err
		},
		"auth_login_throttle_check (sessiond_throttler)": func() error {
			_, err := store.ThrottleCheck(ctx, key, now)
			return err
		},
		"auth_login_throttle_failure (sessiond_throttler)": func() error {
			_, err := store.ThrottleFailure(ctx, key, now, rule)
			return err
		},
		"auth_login_throttle_reset (sessiond_throttler)": func() error { return store.ThrottleReset(ctx, key) },
		"maintenance_purge_expired, maintenance_purge_login_throttle (sessiond_janitor, sessiond_throttler)": func() error {
			_, err := store.PurgeExpired(ctx, retention, 100)
			return err
		},
	} {
		if err := call(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Migration 00009 rolls back to the brute-force counter of migrations/00005
// and applies again, on a distributed database too (where its repair step,
// sessiond_throttler's LOGIN, finds the counter table distributed); the
// counter works afterwards.
func TestMigration00009_DownAndUpAgain(t *testing.T) {
	db := pgtest.Fresh(t) // its own: later migrations are rolled back too
	ctx := context.Background()
	admin := db.Admin(t)
	body := func() string {
		t.Helper()
		var src string
		if err := admin.QueryRow(ctx, `SELECT prosrc FROM pg_proc WHERE proname = 'auth_login_throttle_failure'`).Scan(&src); err != nil {
			t.Fatal(err)
		}
		return src
	}
	if err := postgres.MigrateDownTo(ctx, db.AdminURL, 8); err != nil {
		t.Fatalf("down: %v", err)
	}
	if src := body(); !strings.Contains(src, "ON CONFLICT (key_hash) DO UPDATE") {
		t.Fatalf("after down, the counter is not 00005's:\n%s", src)
	}
	// Up to 00009 only: this is 00009's repair of a database distributed
	// by the old script. The later migrations (00013's partitioned audit
	// table, 00014's and 00015's tables) need the table-moving upgrade
	// path (undistribute.sql first: TestCitusUpgrade_…).
	if err := postgres.MigrateUpTo(ctx, db.AdminURL, 9); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if src := body(); strings.Contains(src, "DO UPDATE") || !strings.Contains(src, "FOR UPDATE") {
		t.Fatalf("after up, the counter is not 00009's:\n%s", src)
	}
	var login bool
	if err := admin.QueryRow(ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = 'sessiond_throttler'`).Scan(&login); err != nil || login != db.Citus {
		t.Fatalf("sessiond_throttler login=%v (%v), want %v", login, err, db.Citus)
	}
	// The runtime role calls the repaired counter directly: the store's
	// pool prepares today's statements, which need the later migrations.
	conn := db.Admin(t)
	if _, err := conn.Exec(ctx, `SET ROLE sessiond_app`); err != nil {
		t.Fatal(err)
	}
	key := core.ThrottleKey("m9-" + uuid.NewString() + "@example.com")
	for want := 1; want <= 2; want++ {
		var failures int
		var locked bool
		err := conn.QueryRow(ctx, `SELECT f.failures::integer, coalesce(f.locked_until > $2, false)
			FROM auth_login_throttle_failure($1::bytea, $2::timestamptz, 2, interval '1 minute', interval '1 hour', interval '1 hour')
			AS f(failures, locked_until)`, key, now).Scan(&failures, &locked)
		if err != nil || failures != want || locked != (want == 2) {
			t.Fatalf("failure %d after the migration: failures=%d locked=%v, %v", want, failures, locked, err)
		}
	}
}
