package http

// The gate: the steps every API request passes before a handler runs, one
// middleware each, composed in order in Server.Handler. Each reads and sets
// the request's state (requestState) instead of passing values down by
// type assertions; a refusal is answered there and then (writeError).

import (
	"errors"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/sessiond/sessiond/core"
)

// chain wraps h in middlewares, the first outermost.
func chain(h http.Handler, middlewares ...func(http.Handler) http.Handler) http.Handler {
	for i := len(middlewares) - 1; i >= 0; i-- {
		h = middlewares[i](h)
	}
	return h
}

// cleanClient records who is calling from where.
//
// SECURITY: header text is made valid UTF-8 without NUL and cut by
// characters here, at the edge (core.CleanText explains why).
func (s *Server) cleanClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stateFrom(r.Context()).client = core.Client{
			IP:        clientIP(r, s.cfg.TrustedProxies),
			UserAgent: r.UserAgent(),
			DeviceID:  r.Header.Get("X-Device-Id"),
		}.Clean()
		next.ServeHTTP(w, r)
	})
}

// route finds the contract's operation (404 for no path, 405 for a method
// the path does not have) and records it: the operationId is the metric
// label and the key of every later step.
func (s *Server) route(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, params, err := s.contract.router.FindRoute(r)
		if err != nil {
			if errors.Is(err, routers.ErrMethodNotAllowed) {
				writeError(w, r, s.log, &core.Error{Code: codeMethodNotAllowed, Message: "method not allowed"})
				return
			}
			writeError(w, r, s.log, &core.Error{Code: core.CodeNotFound, Message: "no such resource"})
			return
		}
		st := stateFrom(r.Context())
		st.op, st.route, st.params = route.Operation.OperationID, route, params
		next.ServeHTTP(w, r)
	})
}

// limitPerIP applies the operation's per-IP rule (limitIP).
func (s *Server) limitPerIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateFrom(r.Context())
		if err := s.limitIP(st.op, st.client); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// shedSignIns refuses a sign-in the hasher would shed, before its first
// database read (shedSignIn).
func (s *Server) shedSignIns(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.shedSignIn(r.Context(), stateFrom(r.Context()).op); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkQueryParams refuses query parameters the operation does not
// declare (contract.checkQuery, ADM-01).
func (s *Server) checkQueryParams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			if err := s.contract.checkQuery(stateFrom(r.Context()).op, r.URL.Query()); err != nil {
				writeError(w, r, s.log, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// capBody bounds the body (maxBodyBytes, LGN-04): reading past it fails,
// which validation answers 413.
func capBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// validationOptions are kin-openapi's: authentication is authenticate's.
var validationOptions = &openapi3filter.Options{
	AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	MultiError:         false,
}

// validate checks parameters, body and content type against openapi.yaml;
// each failure names the field and the rule (requestValidationError).
func (s *Server) validate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateFrom(r.Context())
		in := &openapi3filter.RequestValidationInput{Request: r, PathParams: st.params, Route: st.route, Options: validationOptions}
		if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
			writeError(w, r, s.log, requestValidationError(err, st.route))
			return
		}
		next.ServeHTTP(w, r)
	})
}
