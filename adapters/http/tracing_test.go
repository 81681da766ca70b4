package http_test

import (
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// A request carrying a W3C traceparent is traced under the caller's trace:
// one server span named by the route, a child span per database round
// trip, and the answer carries a traceparent of the same trace. No span
// attribute carries the token or the email.
func TestTrace_TraceparentInAndOut_ServerSpanWithDatabaseChildren(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	h := newHarnessOn(t, harnessSetup{Tracer: tp})
	u := h.register(t, uniqueEmail("trace"))
	exp.Reset()

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: map[string]string{"traceparent": parent},
		body: map[string]string{"email": u.Email, "password": u.Password}}, http.StatusOK)
	var tk tokens
	res.JSON(t, &tk)

	wantTrace := "4bf92f3577b34da6a3ce929d0e0e4736"
	got := res.Header.Get("traceparent")
	if !strings.HasPrefix(got, "00-"+wantTrace+"-") || strings.Contains(got, "00f067aa0ba902b7") {
		t.Fatalf("response traceparent %q: want the caller's trace, this server's span", got)
	}
	spans := exp.GetSpans()
	var server *tracetest.SpanStub
	for i := range spans {
		if spans[i].SpanKind == trace.SpanKindServer {
			server = &spans[i]
		}
	}
	if server == nil {
		t.Fatalf("no server span among %d spans", len(spans))
	}
	if server.Name != "POST /api/v1/auth/login/json" {
		t.Errorf("server span named %q, want the route", server.Name)
	}
	if server.SpanContext.TraceID().String() != wantTrace || server.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("server span in trace %s under %s: want the caller's", server.SpanContext.TraceID(), server.Parent.SpanID())
	}
	if !strings.Contains(got, server.SpanContext.SpanID().String()) {
		t.Errorf("response traceparent %q does not name the server span %s", got, server.SpanContext.SpanID())
	}
	children := 0
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindClient && s.Parent.SpanID() == server.SpanContext.SpanID() {
			children++
		}
		for _, a := range s.Attributes {
			if v := a.Value.Emit(); strings.Contains(v, tk.AccessToken) || strings.Contains(v, tk.RefreshToken) || strings.Contains(v, u.Email) || strings.Contains(v, u.Password) {
				t.Errorf("span %s attribute %s carries a secret", s.Name, a.Key)
			}
		}
	}
	if children == 0 {
		t.Errorf("no database span under the server span (spans: %d)", len(spans))
	}
}

// Without a tracer provider (the default) no traceparent is answered.
func TestTrace_OffByDefault_NoTraceparent(t *testing.T) {
	h := newHarness(t)
	res := h.mustDo(t, req{method: "GET", path: "/healthz", headers: map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}, http.StatusOK)
	if v := res.Header.Get("traceparent"); v != "" {
		t.Fatalf("traceparent %q answered with tracing off", v)
	}
}

// The one-round-trip paths (refresh, /auth/me) send their transaction as
// one pgconn batch that pgx's tracer never sees; each is spanned all the
// same (adapters/postgres/pgxwire.go): a database client span under the
// server span, carrying the whole batch (BEGIN, SET LOCAL, the statement,
// COMMIT).
func TestTrace_RefreshAndMe_DatabaseSpanUnderServerSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	h := newHarnessOn(t, harnessSetup{Tracer: tp})
	tk := h.login(t, h.register(t, uniqueEmail("trace-hot")), nil)
	for _, c := range []struct {
		route string
		call  func()
	}{
		{"POST /api/v1/auth/refresh", func() { tk = h.mustRefresh(t, tk.RefreshToken) }},
		{"GET /api/v1/auth/me", func() {
			h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}, http.StatusOK)
		}},
	} {
		exp.Reset()
		c.call()
		spans := exp.GetSpans()
		var server *tracetest.SpanStub
		for i := range spans {
			if spans[i].SpanKind == trace.SpanKindServer && spans[i].Name == c.route {
				server = &spans[i]
			}
		}
		if server == nil {
			t.Fatalf("%s: no server span among %d spans", c.route, len(spans))
		}
		var names []string
		pipelined := 0
		for _, s := range spans {
			if s.SpanKind != trace.SpanKindClient || s.Parent.SpanID() != server.SpanContext.SpanID() {
				continue
			}
			names = append(names, s.Name)
			for _, a := range s.Attributes {
				if a.Key == "db.operation.batch.size" && a.Value.AsInt64() == 4 {
					pipelined++
				}
			}
		}
		t.Logf("%s: database spans %v", c.route, names)
		if pipelined != 1 {
			t.Errorf("%s: database spans %v under the server span, want one for the one-round-trip batch", c.route, names)
		}
	}
}
