package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// pipelinedAllocs is the allocations of one call of each one-round-trip
// path (pgxwire.go) on a warm pool made with tp (nil: tracing off) and the
// production acquire bound.
func pipelinedAllocs(t *testing.T, tp trace.TracerProvider) (me, rotate, sessionTx float64) {
	t.Helper()
	db := pgtest.Shared(t)
	opts := postgres.PoolOptions{MaxConns: 2, AcquireTimeout: 5 * time.Second, TracerProvider: tp}
	pool, closePool, err := postgres.NewPoolWithOptions(context.Background(), db.AppURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closePool)
	store := postgres.NewStoreWithOptions(pool, opts)
	ctx := context.Background()
	account, session, user := uuid.New(), uuid.New(), uuid.New()
	now := time.Now()
	me = testing.AllocsPerRun(50, func() {
		if _, err := store.UserIfSessionLive(ctx, account, session, user, now); core.ErrorCode(err) != core.CodeNotFound {
			t.Fatalf("UserIfSessionLive of no session: %v", err)
		}
	})
	rotate = testing.AllocsPerRun(50, func() {
		if _, ok, err := store.RotateIfCurrent(ctx, account, core.RotationGuard{SessionID: session}, core.Rotation{}); ok || err != nil {
			t.Fatalf("RotateIfCurrent of no session: %v %v", ok, err)
		}
	})
	sessionTx = testing.AllocsPerRun(50, func() {
		if err := store.InSessionTx(ctx, account, session, now, func(core.TenantTx) error { return nil }); err != core.ErrSessionNotLive {
			t.Fatalf("InSessionTx of no session: %v", err)
		}
	})
	return me, rotate, sessionTx
}

// The one-round-trip paths cost the same with tracing off (no provider,
// the default) and with a no-op provider: a span is made only for a
// provider that records.
func TestPipelined_TracingOff_AddsNoAllocations(t *testing.T) {
	offMe, offRotate, offTx := pipelinedAllocs(t, nil)
	noopMe, noopRotate, noopTx := pipelinedAllocs(t, noop.NewTracerProvider())
	t.Logf("allocs per call, tracing off / no-op provider: UserIfSessionLive %v/%v, RotateIfCurrent %v/%v, InSessionTx %v/%v",
		offMe, noopMe, offRotate, noopRotate, offTx, noopTx)
	if noopMe > offMe || noopRotate > offRotate || noopTx > offTx {
		t.Errorf("a no-op tracer provider adds allocations to the one-round-trip paths")
	}
}
