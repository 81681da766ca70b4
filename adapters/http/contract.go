package http

// The contract: openapi.yaml loaded and prepared, and the gate every API
// request passes before a handler runs (route, authenticate, validate),
// with the mapping of its validation failures to problem codes.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/core"
)

// LoadSpec parses the embedded openapi.yaml.
func LoadSpec() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(sessiond.OpenAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return doc, nil
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
			if err := checkTenantHeaders(r, p); err != nil {
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
	var pe *openapi3filter.ParseError
	if errors.As(re.Err, &pe) {
		if pe.Kind == openapi3filter.KindUnsupportedFormat {
			return &core.Error{Code: codeUnsupportedMediaType, Message: "unsupported content type"}
		}
		return &core.Error{Code: codeBadRequest, Message: "the request body is not well-formed"}
	}
	if errors.Is(re.Err, openapi3filter.ErrInvalidRequired) {
		return &core.Error{Code: core.CodeValidation, Message: "a request body is required"}
	}
	// A body whose Content-Type the operation does not declare is the one
	// body failure kin-openapi reports with no cause (no sentinel exists
	// for it): every other one wraps the reading, decoding or schema error.
	if re.RequestBody != nil && re.Err == nil {
		return &core.Error{Code: codeUnsupportedMediaType, Message: "unsupported content type"}
	}
	return &core.Error{Code: codeBadRequest, Message: "the request is not valid"}
}

// tenantHeaders are the request headers by which clients commonly select a
// tenant. sessiond takes the tenant from the verified token only, and says
// so instead of ignoring a header that disagrees (JWT-08).
var tenantHeaders = []string{"X-Tenant-ID", "X-Account-ID", "X-Tenant"}

// checkTenantHeaders refuses an authenticated request whose tenant header
// names another tenant than its token, or no tenant at all: 403
// tenant_mismatch, before the operation runs. The header's value is not
// echoed.
func checkTenantHeaders(r *http.Request, p core.Principal) error {
	for _, name := range tenantHeaders {
		for _, v := range r.Header.Values(name) {
			if id, err := uuid.Parse(strings.TrimSpace(v)); err != nil || id != p.AccountID {
				return core.Errorf(codeTenantMismatch, "the request names another tenant than its access token")
			}
		}
	}
	return nil
}
