package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// TracingConfig selects the trace exporter, with OpenTelemetry's standard
// environment names (read by cmd/sessiond's configuration).
type TracingConfig struct {
	// Exporter is OTEL_TRACES_EXPORTER: "none" (the default: no tracer
	// provider at all, so no span is made and the request path pays
	// nothing) or "otlp" (OTLP over HTTP).
	Exporter string
	// Endpoint is OTEL_EXPORTER_OTLP_ENDPOINT, the collector's base URL
	// (http://host:4318); spans go to its /v1/traces.
	Endpoint string
	// ServiceName is OTEL_SERVICE_NAME (default sessiond).
	ServiceName string
}

// tracing is the tracer provider, when tracing is on.
type tracing struct {
	provider trace.TracerProvider
}

func noTracing() tracing { return tracing{} }

// TracerProvider is the provider the adapters make spans with; nil when
// tracing is off (the adapters then make none).
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.provider }

// SetTracerProvider installs tp (tests: an in-memory exporter's).
func (t *Telemetry) SetTracerProvider(tp trace.TracerProvider) { t.provider = tp }

// StartTracing configures the exporter c selects. The cleanup flushes the
// spans still buffered (bounded by a few seconds) and stops the exporter.
func (t *Telemetry) StartTracing(c TracingConfig) (func(), error) {
	switch strings.ToLower(strings.TrimSpace(c.Exporter)) {
	case "", "none":
		return func() {}, nil
	case "otlp":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want none or otlp", c.Exporter)
	}
	if c.Endpoint == "" {
		return nil, errors.New("OTEL_TRACES_EXPORTER=otlp needs OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318)")
	}
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(strings.TrimRight(c.Endpoint, "/")+"/v1/traces"))
	if err != nil {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	name := c.ServiceName
	if name == "" {
		name = "sessiond"
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(name))),
	)
	t.provider = tp
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx)
	}, nil
}
