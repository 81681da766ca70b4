package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// roundTrips makes one client span per database round trip: a statement
// (pgx.QueryTracer), a batch sent as one pipeline (pgx.BatchTracer), or a
// pgconn batch that pgxwire.go sends itself (pipelined), as a child of the
// request's span. Attributes: the system, the operation
// (the first word of the SQL) and, for a batch, its size. Never the
// arguments (tokens' hashes, emails) and never the SQL's text beyond its
// first word, so that nothing a caller sent reaches a span.
type roundTrips struct{ tracer trace.Tracer }

func newRoundTrips(tp trace.TracerProvider) roundTrips {
	return roundTrips{tracer: tp.Tracer("github.com/sessiond/sessiond/adapters/postgres")}
}

var dbSystem = attribute.String("db.system.name", "postgresql")

func (t roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	op := operationOf(d.SQL)
	ctx, _ = t.tracer.Start(ctx, "db "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(dbSystem, attribute.String("db.operation.name", op)))
	return ctx
}

func (t roundTrips) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	end(trace.SpanFromContext(ctx), d.Err)
}

func (t roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	n := 0
	if d.Batch != nil {
		n = d.Batch.Len()
	}
	ctx, _ = t.startBatch(ctx, "batch", n)
	return ctx
}

func (t roundTrips) startBatch(ctx context.Context, op string, n int) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, "db "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(dbSystem, attribute.String("db.operation.name", op), attribute.Int("db.operation.batch.size", n)))
}

// pipelined starts the span of a round trip pgxwire.go (or oneTx) sends
// itself as a pgconn batch, which pgx's tracer never sees: named after the
// caller's statement ("db SELECT", "db UPDATE") when the batch carries one
// (BEGIN, SET LOCAL and COMMIT around it are the transaction's framing,
// counted in the batch size), "db batch" when it carries several. A nil
// t is tracing off: no span, nothing built, so the hot paths pay nothing
// (allocs_test.go); end it with endPipelined.
func (t *roundTrips) pipelined(ctx context.Context, sql string, statements, messages int) trace.Span {
	if t == nil {
		return nil
	}
	op := "batch"
	if statements == 1 {
		op = operationOf(sql)
	}
	_, span := t.startBatch(ctx, op, messages)
	return span
}

// endPipelined ends a span of pipelined (nil: tracing off).
func endPipelined(span trace.Span, err error) {
	if span != nil {
		end(span, err)
	}
}

func (roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t roundTrips) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	end(trace.SpanFromContext(ctx), d.Err)
}

func end(span trace.Span, err error) {
	if err != nil {
		// The fault kind, not the error's text (which may quote a value).
		kind := classifyFault(err)
		if kind == "" {
			kind = "error"
		}
		span.SetStatus(codes.Error, kind)
	}
	span.End()
}

// operationOf is the SQL's first word, upper-cased ASCII: SELECT, UPDATE,
// WITH, BEGIN …; sqlc's leading "-- name: …" comment is skipped.
func operationOf(sql string) string {
	for {
		i := 0
		for i < len(sql) && (sql[i] == ' ' || sql[i] == '\n' || sql[i] == '\t' || sql[i] == '\r') {
			i++
		}
		sql = sql[i:]
		if len(sql) >= 2 && sql[:2] == "--" {
			nl := 0
			for nl < len(sql) && sql[nl] != '\n' {
				nl++
			}
			sql = sql[nl:]
			continue
		}
		break
	}
	j := 0
	for j < len(sql) && j < 16 && (sql[j] >= 'a' && sql[j] <= 'z' || sql[j] >= 'A' && sql[j] <= 'Z') {
		j++
	}
	if j == 0 {
		return "query"
	}
	b := []byte(sql[:j])
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
