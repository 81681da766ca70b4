package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

type ctxKey int

const (
	principalKey ctxKey = iota
	requestKey
)

// withPrincipal puts the verified caller into the request context.
//
// SECURITY: this is the only way a principal (and so a tenant) enters a
// context, and it is called only by the authentication middleware after
// the access token's signature, type, issuer, audience, expiry and session
// liveness were checked. The tenant is never taken from anything else the
// client sends (headers, paths, bodies).
func withPrincipal(ctx context.Context, p core.Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// principalFrom returns the authenticated caller; ok is false on public
// operations.
func principalFrom(ctx context.Context) (core.Principal, bool) {
	p, ok := ctx.Value(principalKey).(core.Principal)
	return p, ok
}

// requestInfo carries what handlers need from the raw request.
type requestInfo struct {
	r      *http.Request
	client core.Client
}

func requestFrom(ctx context.Context) requestInfo {
	ri, _ := ctx.Value(requestKey).(requestInfo)
	return ri
}

// clientIP returns the caller's address: the peer address, unless the peer
// is a trusted proxy, in which case the right-most X-Forwarded-For entry
// that is not itself a trusted proxy. A forged X-Forwarded-For from an
// untrusted peer is ignored (LGN-07).
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !inPrefixes(peer, trusted) {
		return peer
	}
	parts := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !inPrefixes(a, trusted) {
			return a
		}
	}
	return peer
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}

// contract is the OpenAPI document prepared for request validation.
type contract struct {
	router routers.Router
	// operations are the contract's operationIds.
	operations map[string]bool
	// bearerOps are the operations whose security requires an access token.
	bearerOps map[string]bool
	// liveOptional are bearer operations that accept an access token whose
	// session has already ended (logout is idempotent).
	liveOptional map[string]bool
}

// accessTokenSchemes are the security schemes satisfied by an access token
// in the Authorization header: bearerAuth, and oauth2Password, the same
// token obtained through the OAuth2 password form (for Swagger UI at /docs).
var accessTokenSchemes = map[string]bool{"bearerAuth": true, "oauth2Password": true}

// liveInHandler are the bearer operations whose service call checks the
// session's liveness in its own first round trip (core.Service.
// AuthenticateDeferred), so the request costs one round trip less. Every
// other bearer operation has it checked here, before the handler: an
// operation added later is safe by default (revocation bites at once,
// JWT-09; TestJWT09_EveryBearerOperation_RefusesRevokedSession).
var liveInHandler = map[string]bool{
	"getMe": true, "listSessions": true, "revokeSession": true, "logoutAll": true,
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func newContract(doc *openapi3.T) (*contract, error) {
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(uuidPattern.String()))
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	c := &contract{router: router, operations: map[string]bool{}, bearerOps: map[string]bool{}, liveOptional: map[string]bool{"logout": true}}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			c.operations[op.OperationID] = true
			sec := doc.Security
			if op.Security != nil {
				sec = *op.Security
			}
			for _, req := range sec {
				for name := range req {
					if accessTokenSchemes[name] {
						c.bearerOps[op.OperationID] = true
					}
				}
			}
		}
	}
	return c, nil
}

// maxBodyBytes bounds every request body; larger bodies get 413 before any
// parsing or password hashing (LGN-04).
const maxBodyBytes = 64 << 10

// gate routes the request against the contract, authenticates it when the
// operation requires an access token, and validates it (parameters, body,
// content type) before any handler runs. Authentication comes first: an
// anonymous caller learns nothing about what a valid body would be.
func (s *Server) gate(next http.Handler) http.Handler {
	opts := &openapi3filter.Options{
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		MultiError:         false,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		// SECURITY: header text is made valid UTF-8 without NUL and cut by
		// characters here, at the edge (core.CleanText explains why).
		ri := requestInfo{r: r, client: core.Client{
			IP:        clientIP(r, s.cfg.TrustedProxies),
			UserAgent: r.UserAgent(),
			DeviceID:  r.Header.Get("X-Device-Id"),
		}.Clean()}
		ctx = context.WithValue(ctx, requestKey, ri)

		route, params, err := s.contract.router.FindRoute(r)
		if err != nil {
			if errors.Is(err, routers.ErrMethodNotAllowed) {
				writeError(w, r, s.log, &core.Error{Code: codeMethodNotAllowed, Message: "method not allowed"})
				return
			}
			writeError(w, r, s.log, &core.Error{Code: core.CodeNotFound, Message: "no such resource"})
			return
		}
		opID := route.Operation.OperationID
		if rec, ok := w.(*statusRecorder); ok {
			rec.op = opID
		}
		if err := s.limitIP(opID, ri.client); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if s.contract.bearerOps[opID] {
			// Only the Authorization header is read: a token in the query
			// string (CK-03) is never accepted, so it authenticates nothing.
			raw, ok := bearerToken(r)
			if !ok {
				writeError(w, r, s.log, core.Errorf(core.CodeInvalidToken, "an access token is required"))
				return
			}
			var p core.Principal
			var err error
			if liveInHandler[opID] {
				p, err = s.svc.AuthenticateDeferred(ctx, raw)
			} else {
				p, err = s.svc.Authenticate(ctx, raw, !s.contract.liveOptional[opID])
			}
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			ctx = withPrincipal(ctx, p)
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		r = r.WithContext(ctx)
		in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			writeError(w, r, s.log, requestValidationError(err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requestValidationError turns a kin-openapi validation failure into a
// domain error with a stable code and, where there is one, the field.
func requestValidationError(err error) *core.Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &core.Error{Code: codePayloadTooLarge, Message: fmt.Sprintf("request body exceeds %d bytes", maxBodyBytes)}
	}
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return &core.Error{Code: codeBadRequest, Message: "the request is not valid"}
	}
	if re.Parameter != nil {
		msg := fmt.Sprintf("parameter %q (%s) is not valid", re.Parameter.Name, re.Parameter.In)
		if re.Reason != "" {
			msg = fmt.Sprintf("parameter %q (%s): %s", re.Parameter.Name, re.Parameter.In, re.Reason)
		}
		return &core.Error{Code: core.CodeValidation, Field: re.Parameter.Name, Message: msg}
	}
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		field := strings.Join(se.JSONPointer(), ".")
		msg := se.Reason
		if field != "" {
			msg = field + ": " + se.Reason
		}
		return &core.Error{Code: core.CodeValidation, Field: field, Message: msg}
	}
	var ue *openapi3filter.ParseError
	if errors.As(re.Err, &ue) {
		return &core.Error{Code: codeBadRequest, Message: "the request body is not well-formed"}
	}
	if errors.Is(re.Err, openapi3filter.ErrInvalidRequired) || strings.Contains(re.Reason, "required") {
		return &core.Error{Code: core.CodeValidation, Message: "a request body is required"}
	}
	if strings.Contains(re.Reason, "Content-Type") || strings.Contains(re.Error(), "unsupported content type") {
		return &core.Error{Code: codeUnsupportedMediaType, Message: "unsupported content type"}
	}
	return &core.Error{Code: codeBadRequest, Message: "the request is not valid"}
}

// recoverer answers a panic with a 500 problem instead of a dropped
// connection, and logs it.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(w, r, s.log, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status    int
	op        string // operationId, set by gate once routed
	code      string // the problem code of an error answer
	limitRule string // the rate-limit rule that refused, if any
	faultKind string // the dependency fault behind a 503, if any
	outcome   string // a successful refresh: "rotated" or "converged"
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// requestIDs makes request ids without a random read per request: a
// random per-process prefix and a counter (unique per process, unguessable
// across processes is not needed: an id only correlates log lines).
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs { return &requestIDs{prefix: uuid.NewString()[:8] + "-"} }

func (g *requestIDs) next() string {
	return g.prefix + strconv.FormatUint(g.n.Add(1), 36)
}

// accessLog logs one structured line per request: method, path (never the
// query string, which is where misplaced tokens would be), status, latency
// and a request id. No headers, no bodies. Cheap: LogAttrs (no boxing of
// key-value pairs), one clock read for metrics and log, and the line is
// skipped before any formatting when info is not enabled.
func (s *Server) accessLog(next http.Handler) http.Handler {
	ids := newRequestIDs()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := ids.next()
		h := w.Header()
		h["X-Request-Id"] = []string{id}
		h["X-Content-Type-Options"] = []string{"nosniff"}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		took := time.Since(start)
		s.metrics.observe(rec.op, rec.status, took)
		s.metrics.observeOutcome(rec)
		ctx := r.Context()
		if !s.log.Enabled(ctx, slog.LevelInfo) {
			return
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", took))
	})
}
