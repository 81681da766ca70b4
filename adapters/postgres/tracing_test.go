package postgres_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// dbSpan is what a test expects of a database span: its name, its batch
// size (0: a statement pgx traced, no batch) and whether it failed.
type dbSpan struct {
	name   string
	batch  int64
	failed bool
}

// The round trips pgxwire.go sends itself (the one-round-trip paths, the
// first statement of a tenant transaction with BEGIN and the tenant, Exec
// statements pipelined, oneTx) are spanned like those pgx traces: a client
// span per round trip, named after the caller's statement (or "db batch"
// for several), a child of the request's span, failed when the batch
// failed. Never the SQL's text or the arguments.
func TestPipelined_Spans_ChildrenOfTheRequestSpan(t *testing.T) {
	store, rec, tp := tracedStore(t)
	account, session, user := uuid.New(), uuid.New(), uuid.New()
	now := time.Now()
	op := func(fn func(q *dbsqlc.Queries)) string {
		sql, _ := postgres.RecordQueries(fn)
		return "db " + postgres.OperationOf(sql[0])
	}
	me := op(func(q *dbsqlc.Queries) {
		_, _ = q.UserGetIfSessionLive(context.Background(), dbsqlc.UserGetIfSessionLiveParams{})
	})
	rotate := op(func(q *dbsqlc.Queries) {
		_, _ = q.SessionRotateIfCurrent(context.Background(), dbsqlc.SessionRotateIfCurrentParams{})
	})
	count := op(func(q *dbsqlc.Queries) {
		_, _ = q.SessionCountLiveByUser(context.Background(), dbsqlc.SessionCountLiveByUserParams{})
	})
	throttle := op(func(q *dbsqlc.Queries) {
		_, _ = q.LoginThrottleFailure(context.Background(), dbsqlc.LoginThrottleFailureParams{})
	})
	key := func() []byte { k := make([]byte, 32); _, _ = rand.Read(k); return k }
	rule := core.ThrottleRule{Threshold: 5, BaseDelay: time.Second, MaxDelay: time.Minute, Window: time.Hour}

	for _, c := range []struct {
		name string
		call func(ctx context.Context) error
		want []dbSpan
	}{
		{"UserIfSessionLive (/auth/me)", func(ctx context.Context) error {
			_, err := store.UserIfSessionLive(ctx, account, session, user, now)
			if core.ErrorCode(err) == core.CodeNotFound {
				err = nil
			}
			return err
		}, []dbSpan{{name: me, batch: 4}}}, // BEGIN, SET LOCAL, the query, COMMIT
		{"RotateIfCurrent (refresh)", func(ctx context.Context) error {
			_, _, err := store.RotateIfCurrent(ctx, account, core.RotationGuard{SessionID: session}, core.Rotation{})
			return err
		}, []dbSpan{{name: rotate, batch: 4}}},
		{"tenant transaction", func(ctx context.Context) error {
			return store.InTenantTx(ctx, account, func(tx core.TenantTx) error {
				_, err := tx.SessionCountLive(ctx, user, now)
				return err
			})
		}, []dbSpan{{name: count, batch: 3}, {name: "db COMMIT"}}}, // the first query with BEGIN and SET LOCAL; COMMIT through pgx
		{"Exec statements pipelined, failing", func(ctx context.Context) error {
			err := store.InTenantTx(ctx, account, func(tx core.TenantTx) error {
				return tx.UserCreate(ctx, core.User{ID: user, Email: uuid.NewString() + "@example.com", Role: core.RoleMember, CreatedAt: now}, "x")
			})
			if err == nil {
				t.Errorf("a user of no account was created")
			}
			return nil
		}, []dbSpan{{name: "db batch", batch: 4, failed: true}, {name: "db ROLLBACK"}}}, // no account: a foreign key fails
		{"oneTx (failed sign-in)", func(ctx context.Context) error {
			_, err := store.RecordFailure(ctx, core.FailureRecord{Keys: [][]byte{key(), key()}, Now: now, Rule: rule})
			return err
		}, []dbSpan{{name: "db batch", batch: 4}}},
		{"oneTx, one statement", func(ctx context.Context) error {
			_, err := store.RecordFailure(ctx, core.FailureRecord{Keys: [][]byte{key()}, Now: now, Rule: rule})
			return err
		}, []dbSpan{{name: throttle, batch: 3}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := dbSpansUnder(t, rec, tp, c.call)
			if len(got) != len(c.want) {
				t.Fatalf("database spans under the request: %+v, want %+v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("database span %d: %+v, want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

// tracedStore is a Store over a pool traced into the returned recorder.
func tracedStore(t *testing.T) (*postgres.Store, *tracetest.SpanRecorder, trace.TracerProvider) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	opts := postgres.PoolOptions{MaxConns: 2, AcquireTimeout: 5 * time.Second, TracerProvider: tp}
	pool, closePool, err := postgres.NewPoolWithOptions(context.Background(), pgtest.Shared(t).AppURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closePool)
	return postgres.NewStoreWithOptions(pool, opts), rec, tp
}

// dbSpansUnder runs call under a request's span and returns the database
// spans made as its children, in the order they ended.
func dbSpansUnder(t *testing.T, rec *tracetest.SpanRecorder, tp trace.TracerProvider, call func(context.Context) error) []dbSpan {
	t.Helper()
	rec.Reset()
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	if err := call(ctx); err != nil {
		t.Fatal(err)
	}
	parent.End()
	var got []dbSpan
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			continue
		}
		if s.SpanKind() != trace.SpanKindClient || !hasAttr(s.Attributes(), attribute.String("db.system.name", "postgresql")) {
			t.Errorf("span %q: kind %v, attributes %v", s.Name(), s.SpanKind(), s.Attributes())
		}
		d := dbSpan{name: s.Name(), failed: s.Status().Code == codes.Error}
		for _, a := range s.Attributes() {
			if a.Key == "db.operation.batch.size" {
				d.batch = a.Value.AsInt64()
			}
		}
		got = append(got, d)
	}
	return got
}

func hasAttr(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, a := range attrs {
		if a == want {
			return true
		}
	}
	return false
}
