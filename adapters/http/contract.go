package http

// The contract: openapi.yaml loaded and prepared, the authentication of
// the operations that require an access token, and the mapping of
// validation failures to problem codes. The other steps every API request
// passes before a handler runs are in gate.go.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
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
	// queryParams are the query parameters each operation declares (path
	// item and operation level), sorted; no other is accepted (ADM-01).
	queryParams map[string][]string
}

// accessTokenSchemes are the security schemes satisfied by an access token
// in the Authorization header: bearerAuth, and oauth2Password, the same
// token obtained through the OAuth2 password form (for Swagger UI at /docs).
var accessTokenSchemes = map[string]bool{"bearerAuth": true, "oauth2Password": true}

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
	router = newStaticRoutes(doc, router)
	c := &contract{router: router, operations: map[string]bool{}, bearerOps: map[string]bool{},
		queryParams: map[string][]string{}}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			c.operations[op.OperationID] = true
			names := []string{}
			for _, ps := range []openapi3.Parameters{item.Parameters, op.Parameters} {
				for _, p := range ps {
					if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
						names = append(names, p.Value.Name)
					}
				}
			}
			slices.Sort(names)
			c.queryParams[op.OperationID] = names
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

// authenticate checks the access token of an operation that requires one
// (bearerOps): its signature and claims only — the session's liveness is
// checked by core, in the round trip of the handler's use case (a
// core.Bearer becomes a core.Principal there); then the tenant headers
// (JWT-08) and the enrol-only restriction. It runs before validation: an
// anonymous caller learns nothing about what a valid body would be.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opID := stateFrom(r.Context()).op
		if !s.contract.bearerOps[opID] {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		// Only the Authorization header is read: a token in the query
		// string (CK-03) is never accepted, so it authenticates nothing.
		raw, ok := bearerToken(r)
		if !ok {
			writeError(w, r, s.log, core.Errorf(core.CodeInvalidToken, "an access token is required"))
			return
		}
		b, err := s.svc.VerifyBearer(ctx, raw)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if err := checkTenantHeaders(r, b.AccountID()); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		// An enrol-only session (docs/session-rules.md §11) may only
		// enrol a second factor.
		if b.EnrolOnly() && !enrolOnlyAllowed[opID] {
			writeError(w, r, s.log, core.EnrolmentRequired())
			return
		}
		next.ServeHTTP(w, r.WithContext(withBearer(ctx, b)))
	})
}

// checkQuery refuses a query parameter the operation does not declare, and
// a declared one given more than once: both would otherwise be ignored
// (kin-openapi reads the first value only), and a caller would believe a
// filter applied that did not (docs/security-checklist.md, ADM-01). The
// rule follows the spec, so a new operation gets it without code.
func (c *contract) checkQuery(opID string, q url.Values) error {
	if len(q) == 0 {
		return nil
	}
	declared := c.queryParams[opID]
	keys := slices.Sorted(maps.Keys(q))
	for _, k := range keys {
		if !slices.Contains(declared, k) {
			msg := fmt.Sprintf("unknown query parameter %q; this operation takes none", k)
			if len(declared) > 0 {
				msg = fmt.Sprintf("unknown query parameter %q; this operation takes: %s", k, strings.Join(declared, ", "))
			}
			return &core.Error{Code: codeUnknownParameter, Field: k, Message: msg}
		}
	}
	for _, k := range keys {
		if n := len(q[k]); n > 1 {
			return &core.Error{Code: codeUnknownParameter, Field: k,
				Message: fmt.Sprintf("query parameter %q is given %d times; give it once", k, n)}
		}
	}
	return nil
}

// requestValidationError turns a kin-openapi validation failure into a
// domain error with a stable code, the field (parameter, body field or
// header) and the rule it breaks, stated from the spec: bounds, format,
// allowed values (ADM-02). kin-openapi's own reasons are the fallback.
func requestValidationError(err error, route *routers.Route) *core.Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &core.Error{Code: codePayloadTooLarge, Message: fmt.Sprintf("request body exceeds %d bytes", maxBodyBytes)}
	}
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return &core.Error{Code: codeBadRequest, Message: "the request is not valid"}
	}
	if p := re.Parameter; p != nil {
		where := map[string]string{openapi3.ParameterInQuery: "query parameter", openapi3.ParameterInPath: "path parameter",
			openapi3.ParameterInHeader: "header", openapi3.ParameterInCookie: "cookie"}[p.In]
		msg := fmt.Sprintf("%s %s is not valid", where, p.Name)
		if errors.Is(re.Err, openapi3filter.ErrInvalidRequired) || (re.Err == nil && p.Required) {
			msg = fmt.Sprintf("%s %s is required", where, p.Name)
		} else if p.Schema != nil && p.Schema.Value != nil {
			if rule := ruleOf(p.Schema.Value); rule != "" {
				msg = fmt.Sprintf("%s %s must be %s", where, p.Name, rule)
			}
		}
		return &core.Error{Code: core.CodeValidation, Field: p.Name, Message: msg}
	}
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		return bodySchemaError(se)
	}
	var pe *openapi3filter.ParseError
	if errors.As(re.Err, &pe) {
		if pe.Kind == openapi3filter.KindUnsupportedFormat {
			return unsupportedMediaType(route)
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
		return unsupportedMediaType(route)
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
func checkTenantHeaders(r *http.Request, accountID uuid.UUID) error {
	for _, name := range tenantHeaders {
		for _, v := range r.Header.Values(name) {
			if id, err := uuid.Parse(strings.TrimSpace(v)); err != nil || id != accountID {
				return core.Errorf(codeTenantMismatch, "the request names another tenant than its access token")
			}
		}
	}
	return nil
}

// unsupportedMediaType names the media types the operation takes.
func unsupportedMediaType(route *routers.Route) *core.Error {
	var types []string
	if route != nil && route.Operation != nil && route.Operation.RequestBody != nil && route.Operation.RequestBody.Value != nil {
		types = slices.Sorted(maps.Keys(route.Operation.RequestBody.Value.Content))
	}
	msg := "Content-Type is not accepted"
	if len(types) > 0 {
		msg = "Content-Type must be " + strings.Join(types, " or ")
	}
	return &core.Error{Code: codeUnsupportedMediaType, Field: "Content-Type", Message: msg}
}

// unsupportedProperty is kin-openapi's reason for a property the schema
// does not declare (additionalProperties: false); the name is only in the
// reason, %q-quoted.
var unsupportedProperty = regexp.MustCompile(`^property ("(?:[^"\\]|\\.)*") is unsupported$`)

// bodySchemaError names the body field a schema error is about and the rule
// it breaks. A field the schema does not have is named itself (not its
// parent object), with the fields that are allowed.
func bodySchemaError(se *openapi3.SchemaError) *core.Error {
	path := se.JSONPointer()
	if m := unsupportedProperty.FindStringSubmatch(se.Reason); m != nil {
		name, err := strconv.Unquote(m[1])
		if err == nil {
			field := strings.Join(append(slices.Clone(path), name), ".")
			msg := fmt.Sprintf("%s is not a field of this request", field)
			if se.Schema != nil && len(se.Schema.Properties) > 0 {
				msg += "; allowed: " + strings.Join(slices.Sorted(maps.Keys(se.Schema.Properties)), ", ")
			}
			return &core.Error{Code: core.CodeValidation, Field: field, Message: msg}
		}
	}
	field := strings.Join(path, ".")
	msg := se.Reason
	switch {
	case se.SchemaField == "required" && field != "":
		msg = field + " is required"
	case field != "" && se.Schema != nil && ruleOf(se.Schema) != "":
		msg = field + " must be " + ruleOf(se.Schema)
	case field != "":
		msg = field + ": " + se.Reason
	}
	return &core.Error{Code: core.CodeValidation, Field: field, Message: msg}
}

// ruleOf states what a value of a scalar schema must be, in words, from the
// spec: allowed values, type with bounds, format, length, pattern. "" for
// schemas it does not describe (objects, arrays).
func ruleOf(s *openapi3.Schema) string {
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i] = fmt.Sprint(v)
		}
		rule := "one of: " + strings.Join(vals, ", ")
		if s.Nullable {
			rule += " (or null)"
		}
		return rule
	}
	var rule string
	switch {
	case s.Type.Is(openapi3.TypeInteger), s.Type.Is(openapi3.TypeNumber):
		kind := "an integer"
		if s.Type.Is(openapi3.TypeNumber) {
			kind = "a number"
		}
		switch {
		case s.Min != nil && s.Max != nil:
			rule = fmt.Sprintf("%s from %v to %v", kind, *s.Min, *s.Max)
		case s.Min != nil:
			rule = fmt.Sprintf("%s of at least %v", kind, *s.Min)
		case s.Max != nil:
			rule = fmt.Sprintf("%s of at most %v", kind, *s.Max)
		default:
			rule = kind
		}
	case s.Type.Is(openapi3.TypeBoolean):
		rule = "true or false"
	case s.Type.Is(openapi3.TypeString):
		switch s.Format {
		case "uuid":
			rule = "a UUID (e.g. 9b2d4c1e-6a7f-4e3b-8c5d-1f2a3b4c5d6e)"
		case "date-time":
			rule = "an RFC 3339 date-time (e.g. 2025-01-16T12:00:00Z)"
		case "email":
			rule = "an email address"
		default:
			rule = "a string"
			switch {
			case s.MaxLength != nil && s.MinLength > 0:
				rule = fmt.Sprintf("a string of %d to %d characters", s.MinLength, *s.MaxLength)
			case s.MaxLength != nil:
				rule = fmt.Sprintf("a string of at most %d characters", *s.MaxLength)
			case s.MinLength > 0:
				rule = fmt.Sprintf("a string of at least %d characters", s.MinLength)
			}
			if s.Pattern != "" {
				rule += " matching " + s.Pattern
			}
		}
	default:
		return ""
	}
	if s.Nullable {
		rule += " (or null)"
	}
	return rule
}
