package http

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// SetTracerProvider turns request tracing on (nil: off, and the traceRequests
// step is not in the chain at all). Call before Handler.
func (s *Server) SetTracerProvider(tp trace.TracerProvider) {
	if tp == nil {
		s.tracer = nil
		return
	}
	s.tracer = tp.Tracer("github.com/sessiond/sessiond/adapters/http")
}

// w3c is the W3C Trace Context propagator (traceparent, tracestate).
var w3c = propagation.TraceContext{}

// traceRequests makes one server span per request, a child of the
// caller's W3C traceparent when it sent one, and answers with the
// traceparent of that span, so a caller can find its request. The span is
// named by the route (the path template, never the path: ids stay out)
// once routed. Attributes: method, route, status. Never a header value, a
// token, an email or a body.
func (s *Server) traceRequests(next http.Handler) http.Handler {
	if s.tracer == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := w3c.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method)))
		defer span.End()
		w3c.Inject(ctx, propagation.HeaderCarrier(w.Header()))
		next.ServeHTTP(w, r.WithContext(ctx))
		st := stateFrom(ctx)
		if st == nil {
			return
		}
		if st.route != nil {
			span.SetName(r.Method + " " + st.route.Path)
			span.SetAttributes(attribute.String("http.route", st.route.Path))
		} else if st.op != "" {
			span.SetName(r.Method + " " + st.op)
		}
		if st.rec != nil {
			span.SetAttributes(attribute.Int("http.response.status_code", st.rec.status))
			if st.rec.status >= 500 {
				span.SetStatus(codes.Error, st.code)
			}
		}
	})
}
