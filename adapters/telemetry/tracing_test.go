package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Tracing is off by default: no tracer provider, so no adapter makes a
// span.
func TestTracing_OffByDefault_NoProvider(t *testing.T) {
	tel := New()
	stop, err := tel.StartTracing(TracingConfig{Exporter: "none"})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if tel.TracerProvider() != nil {
		t.Fatal("a tracer provider with OTEL_TRACES_EXPORTER=none")
	}
	if _, err := tel.StartTracing(TracingConfig{Exporter: "jaeger"}); err == nil {
		t.Fatal("an unknown exporter was accepted")
	}
	if _, err := tel.StartTracing(TracingConfig{Exporter: "otlp"}); err == nil {
		t.Fatal("otlp without an endpoint was accepted")
	}
}

// OTEL_TRACES_EXPORTER=otlp sends spans over OTLP/HTTP to the endpoint's
// /v1/traces (a local test collector).
func TestTracing_OTLP_SendsSpansToTheEndpoint(t *testing.T) {
	var got atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			got.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(collector.Close)
	tel := New()
	stop, err := tel.StartTracing(TracingConfig{Exporter: "otlp", Endpoint: collector.URL, ServiceName: "sessiond-test"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider().Tracer("test").Start(context.Background(), "GET /healthz")
	span.End()
	stop() // flushes
	if got.Load() == 0 {
		t.Fatal("no export reached the collector's /v1/traces")
	}
}
