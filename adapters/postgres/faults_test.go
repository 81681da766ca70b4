package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// A transaction aborted by a serialization failure or a deadlock runs once
// more; one that keeps failing is a fault (503), not an internal error.
func TestInTenantTx_SerializationFailure_RetriedOnceThenUnavailable(t *testing.T) {
	db := pgtest.Shared(t)
	store := postgres.NewStore(db.AppPool(t, 2))
	ctx := context.Background()
	for _, code := range []string{"40001", "40P01"} {
		calls := 0
		err := store.InTenantTx(ctx, uuid.New(), func(core.TenantTx) error {
			calls++
			if calls == 1 {
				return &pgconn.PgError{Code: code}
			}
			return nil
		})
		if err != nil || calls != 2 {
			t.Fatalf("%s once: err=%v after %d runs, want success on the second run", code, err, calls)
		}
		calls = 0
		err = store.InTenantTx(ctx, uuid.New(), func(core.TenantTx) error {
			calls++
			return &pgconn.PgError{Code: code}
		})
		var f *core.Fault
		if calls != 2 || core.ErrorCode(err) != core.CodeUnavailable || !errors.As(err, &f) {
			t.Fatalf("%s twice: err=%v (code %s) after %d runs, want service_unavailable after 2", code, err, core.ErrorCode(err), calls)
		}
	}
}

// Waiting longer than DB_ACQUIRE_TIMEOUT for a pooled connection is a
// fault (503), on the pre-tenant path and in tenant transactions alike.
func TestPool_AcquireTimeout_IsUnavailable(t *testing.T) {
	db := pgtest.Shared(t)
	pool, closePool, err := postgres.NewPoolWithOptions(context.Background(), db.AppURL,
		// Long enough for the pool's first connection (connect, prepare the
		// hot statements) on a loaded two-core machine, where 500 ms was seen
		// to fail; on Citus a new backend also loads the cluster's metadata.
		// The two refused acquisitions below each wait this long.
		postgres.PoolOptions{MaxConns: 1, AcquireTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closePool)
	store := postgres.NewStore(pool)
	ctx := context.Background()
	held, err := pool.Acquire(ctx) // the pool's only connection
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.ThrottleCheck(ctx, make([]byte, 32), time.Now())
	if core.ErrorCode(err) != core.CodeUnavailable {
		t.Fatalf("pre-tenant lookup with the pool exhausted: %v, want service_unavailable", err)
	}
	err = store.InTenantTx(ctx, uuid.New(), func(core.TenantTx) error { return nil })
	if core.ErrorCode(err) != core.CodeUnavailable {
		t.Fatalf("tenant transaction with the pool exhausted: %v, want service_unavailable", err)
	}
	held.Release()
	if _, err := store.ThrottleCheck(ctx, make([]byte, 32), time.Now()); err != nil {
		t.Fatalf("after the connection came back: %v", err)
	}
}

// The brute-force counter in SQL: failures count up to the threshold, lock
// with a doubling delay capped at the maximum, are not counted while
// locked, are forgotten after a window without failures, and reset on
// success.
func TestLoginThrottle_CountsLocksDoublesAndResets(t *testing.T) {
	db := pgtest.Shared(t)
	store := postgres.NewStore(db.AppPool(t, 2))
	ctx := context.Background()
	rule := core.ThrottleRule{Threshold: 3, BaseDelay: 30 * time.Second, MaxDelay: 100 * time.Second, Window: time.Hour}
	key := core.ThrottleKey("Throttle-" + uuid.NewString() + "@example.com")
	at := time.Date(2031, 5, 1, 12, 0, 0, 0, time.UTC)
	fail := func() core.ThrottleState {
		t.Helper()
		st, err := store.ThrottleFailure(ctx, key, at, rule)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for i := 1; i <= 2; i++ {
		if st := fail(); st.Failures != i || st.Locked(at) {
			t.Fatalf("failure %d: %+v", i, st)
		}
	}
	for _, want := range []time.Duration{30 * time.Second, 60 * time.Second, 100 * time.Second, 100 * time.Second} {
		st := fail()
		if got := st.LockedUntil.Sub(at); got != want {
			t.Fatalf("locked for %s, want %s (%+v)", got, want, st)
		}
		// While locked: not counted, not extended.
		at = at.Add(want - time.Second)
		if again := fail(); again != st {
			t.Fatalf("a failure while locked changed the state: %+v → %+v", st, again)
		}
		at = at.Add(time.Second)
	}
	if st, err := store.ThrottleCheck(ctx, key, at); err != nil || st.Failures != 6 {
		t.Fatalf("check: %+v %v", st, err)
	}
	// A whole window without failures: the streak starts again.
	at = at.Add(time.Hour)
	if st := fail(); st.Failures != 1 || st.Locked(at) {
		t.Fatalf("after the window: %+v", st)
	}
	if err := store.ThrottleReset(ctx, key); err != nil {
		t.Fatal(err)
	}
	if st, err := store.ThrottleCheck(ctx, key, at); err != nil || st != (core.ThrottleState{}) {
		t.Fatalf("after reset: %+v %v", st, err)
	}
}

// SECURITY: the runtime role reaches the counters only through the
// functions; the table itself is closed to it.
func TestLoginThrottle_TableClosedToRuntimeRole(t *testing.T) {
	db := pgtest.Shared(t)
	pool := db.AppPool(t, 1)
	_, err := pool.Exec(context.Background(), "SELECT count(*) FROM login_throttle")
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != "42501" {
		t.Fatalf("runtime role reading login_throttle: %v, want insufficient_privilege", err)
	}
}
