package postgres_test

import (
	"context"
	"errors"
	"reflect"
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
// fault (503) on every path of the Store that takes a connection (each
// comes through Store.acquire): every exported method is called, by
// reflection so that a new one is covered without being listed, while the
// test holds the pool's only connection. Nothing here depends on how fast
// the machine is: the connection is taken before any bound applies, and a
// path that escaped the bound would wait until its call's context is
// cancelled (a minute), which is not a deadline and so not the bound's 503.
func TestPool_AcquireTimeout_EveryStoreEntryPoint_IsUnavailable(t *testing.T) {
	db := pgtest.Shared(t)
	opts := postgres.PoolOptions{MaxConns: 1, AcquireTimeout: 50 * time.Millisecond}
	pool, closePool, err := postgres.NewPoolWithOptions(context.Background(), db.AppURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closePool)
	store := postgres.NewStoreWithOptions(pool, opts)
	held, err := pool.Acquire(context.Background()) // the pool's only connection, no bound
	if err != nil {
		t.Fatal(err)
	}
	noDatabase := map[string]bool{"SetObserver": true}
	v := reflect.ValueOf(store)
	called := 0
	for i := range v.NumMethod() {
		m := v.Type().Method(i)
		if noDatabase[m.Name] {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		watchdog := time.AfterFunc(time.Minute, cancel)
		out := v.Method(i).Call(storeArgs(ctx, m.Type))
		watchdog.Stop()
		cancel()
		err, _ := out[len(out)-1].Interface().(error)
		if core.ErrorCode(err) != core.CodeUnavailable {
			t.Errorf("%s with the pool exhausted: %v, want service_unavailable", m.Name, err)
		}
		called++
	}
	if called < 30 {
		t.Fatalf("called %d methods of the Store: the reflection lost some", called)
	}
	held.Release()
	// Back to normal once the connection is back; retried, since on a
	// loaded machine the bound may pass before the connection is handed on.
	for try := 1; ; try++ {
		_, err := store.ThrottleCheck(context.Background(), make([]byte, 32), time.Now())
		if err == nil {
			break
		}
		if try == 20 || core.ErrorCode(err) != core.CodeUnavailable {
			t.Fatalf("after the connection came back (try %d): %v", try, err)
		}
	}
}

// storeArgs are arguments for a Store method of type mt (its receiver
// first) that pass its own checks, so that it reaches the database: ctx,
// fresh ids, small positive numbers, callbacks that do nothing, and zero
// values otherwise.
func storeArgs(ctx context.Context, mt reflect.Type) []reflect.Value {
	n := mt.NumIn()
	if mt.IsVariadic() {
		n-- // no options
	}
	args := make([]reflect.Value, 0, n-1)
	for i := 1; i < n; i++ {
		at := mt.In(i)
		var a reflect.Value
		switch {
		case at == reflect.TypeFor[context.Context]():
			a = reflect.ValueOf(ctx)
		case at == reflect.TypeFor[uuid.UUID]():
			a = reflect.ValueOf(uuid.New())
		case at == reflect.TypeFor[time.Time]():
			a = reflect.ValueOf(time.Now())
		case at == reflect.TypeFor[time.Duration]():
			a = reflect.ValueOf(time.Hour)
		case at == reflect.TypeFor[[]byte]():
			a = reflect.ValueOf(make([]byte, 32))
		case at.Kind() == reflect.Int:
			a = reflect.ValueOf(10).Convert(at)
		case at.Kind() == reflect.Func:
			a = reflect.MakeFunc(at, func([]reflect.Value) []reflect.Value {
				res := make([]reflect.Value, at.NumOut())
				for j := range res {
					res[j] = reflect.Zero(at.Out(j))
				}
				return res
			})
		default:
			a = reflect.Zero(at)
		}
		args = append(args, a)
	}
	return args
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
