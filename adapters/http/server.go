// Package http is the HTTP adapter: the oapi-codegen strict server over
// std net/http, request validation against openapi.yaml (kin-openapi),
// authentication, problem+json errors, cookies, metrics.
package http

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/adapters/http/docs"
	"github.com/sessiond/sessiond/core"
)

// Config is the HTTP layer's configuration.
type Config struct {
	// CookieSecure marks cookies Secure and uses the __Secure- name prefix.
	// Off only for local plain-HTTP development.
	CookieSecure bool
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// AllowedOrigins are extra origins (scheme://host[:port], http or https)
	// allowed to make cookie-borne requests besides the server's own host,
	// and the only ones that get CORS answers. NewServer parses them once
	// (ParseOrigins) and refuses wildcards, null, paths and trailing slashes.
	AllowedOrigins []string
	// Limits are the rate limits; the zero value disables them.
	Limits RateLimits
	// DocsEnabled serves the interactive API documentation at /docs.
	DocsEnabled bool
	// MetricsOnAPI serves /metrics on the API handler too. Off by default
	// (the zero value): metrics are operator data — pool acquires and
	// sign-in outcomes per request were an account oracle when public — and
	// adapters/telemetry serves them on their own listener (METRICS_ADDR,
	// loopback by default; MET-01, docs/security-checklist.md).
	MetricsOnAPI bool
}

// JWKSource returns the public key set to publish.
type JWKSource func() any

// Readiness reports whether the service can serve (the database answers).
type Readiness func(ctx context.Context) error

// Server implements api.StrictServerInterface.
type Server struct {
	svc      *core.Service
	jwks     JWKSource
	ready    Readiness
	cfg      Config
	log      *slog.Logger
	contract *contract
	// obs receives every answered request (SetObserver; nothing by default).
	obs Observer
	// metricsHandler serves /metrics on the API listener when
	// Config.MetricsOnAPI (SetMetricsHandler).
	metricsHandler http.Handler
	// tracer makes the request spans (SetTracerProvider); nil: no tracing.
	tracer trace.Tracer
	// origins is Config.AllowedOrigins parsed once: CORS and the CSRF
	// origin check both read it.
	origins  Origins
	webhooks *core.WebhookService
	// hashes is the password hasher's admission control, when set
	// (SetHashAdmission): a sign-in it would shed is refused before its
	// first database read.
	hashes HashAdmission
}

// HashAdmission is the password hasher's admission control as the HTTP
// layer sees it (adapters/argon2.Limiter).
type HashAdmission interface {
	// Saturated reports whether a hash asked for now would be shed.
	Saturated() bool
	// Shed holds one shed request (argon2.Limits.ShedHold, a tarpit; less
	// when ctx ends), counts it and returns the error to answer with (a
	// *core.Fault of kind core.FaultHashOverloaded).
	Shed(ctx context.Context) error
}

// SetHashAdmission lets sign-ins be shed before any database work when the
// hasher is saturated (shedSignIn). Call it before serving.
func (s *Server) SetHashAdmission(a HashAdmission) { s.hashes = a }

// hashedBeforeRead are the operations whose first costly step is a password
// hash preceded by reads (the throttle row, the user's hash): when the
// hasher is saturated they are shed before those reads, alike for every
// email (no oracle: the decision does not depend on the request). The
// email verification checks the registration's password (VER-08) the same
// way. Other operations that hash are shed by the hasher itself, before
// they write.
var hashedBeforeRead = map[string]bool{"loginJson": true, "loginForm": true, "verifyEmail": true}

// shedSignIn is the early refusal of a sign-in the hasher would shed.
func (s *Server) shedSignIn(ctx context.Context, opID string) error {
	if s.hashes == nil || !hashedBeforeRead[opID] || !s.hashes.Saturated() {
		return nil
	}
	return s.hashes.Shed(ctx)
}

var _ api.StrictServerInterface = (*Server)(nil)

// NewServer builds the HTTP server over the core service.
func NewServer(svc *core.Service, jwks JWKSource, ready Readiness, cfg Config, log *slog.Logger) (*Server, error) {
	doc, err := LoadSpec()
	if err != nil {
		return nil, err
	}
	c, err := newContract(doc)
	if err != nil {
		return nil, err
	}
	if err := cfg.Limits.check(c); err != nil {
		return nil, err
	}
	origins, err := ParseOrigins(cfg.AllowedOrigins)
	if err != nil {
		return nil, fmt.Errorf("allowed origins: %w", err)
	}
	return &Server{svc: svc, jwks: jwks, ready: ready, cfg: cfg, log: log, contract: c, obs: nopObserver{}, origins: origins}, nil
}

// Handler returns the complete HTTP handler.
func (s *Server) Handler() http.Handler {
	strict := api.NewStrictHandlerWithOptions(s, nil, api.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			// The contract was already validated (validate); what reaches here is
			// a body that validates but does not decode into the Go types.
			writeError(w, r, s.log, core.Errorf(codeBadRequest, "the request body could not be decoded"))
		},
		ResponseErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, r, s.log, err)
		},
	})
	inner := http.NewServeMux()
	api.HandlerWithOptions(strict, api.StdHTTPServerOptions{
		BaseRouter: inner,
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, r, s.log, &core.Error{Code: core.CodeValidation, Message: err.Error()})
		},
	})
	// openapi.yaml writes every path out in full under one server ("/"), so
	// the generated router serves them as they are: the REST API under
	// /api/v1, the platform paths at the root (docs/architecture.md).
	root := http.NewServeMux()
	root.Handle("/", inner)
	if s.cfg.MetricsOnAPI && s.metricsHandler != nil {
		root.Handle("/metrics", s.metricsHandler)
	} else {
		root.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, r, s.log, &core.Error{Code: core.CodeNotFound, Message: "no such resource"})
		})
	}
	return chain(root,
		s.accessLog,        // request id, the request's state, the access log line and the metrics
		s.traceRequests,    // a span per request, W3C traceparent in and out (off by default)
		s.recoverer,        // a panic answers 500
		s.cors,             // CORS answers (cors.go)
		s.withDocs,         // /docs, outside the contract
		s.cleanClient,      // the gate (gate.go): who calls from where
		s.route,            // the contract's operation; 404, 405
		s.limitPerIP,       // 429 by per-IP rule
		s.shedSignIns,      // 503 for a sign-in the hasher would shed
		s.authenticate,     // the access token (contract.go)
		s.checkQueryParams, // undeclared query parameters
		capBody,            // 413 past maxBodyBytes
		s.validate,         // openapi.yaml
	)
}

// withDocs serves /docs and the files under /docs/ (see package docs) and
// hands every other request to api. The documentation is not part of the
// contract, so it bypasses the gate rather than widening it: the gate still routes,
// authenticates and validates every other path exactly as before (and so
// still answers 404 for /docs when the documentation is off).
func (s *Server) withDocs(api http.Handler) http.Handler {
	if !s.cfg.DocsEnabled {
		return api
	}
	ui := docs.Handler(func(w http.ResponseWriter, r *http.Request, status int) {
		if status == http.StatusMethodNotAllowed {
			writeError(w, r, s.log, &core.Error{Code: codeMethodNotAllowed, Message: "method not allowed"})
			return
		}
		writeError(w, r, s.log, &core.Error{Code: core.CodeNotFound, Message: "no such resource"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p != docs.Prefix && !strings.HasPrefix(p, docs.Prefix+"/") {
			api.ServeHTTP(w, r)
			return
		}
		if st := stateFrom(r.Context()); st != nil {
			st.op = "docs"
		}
		ui.ServeHTTP(w, r)
	})
}

// writeJSON writes a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
