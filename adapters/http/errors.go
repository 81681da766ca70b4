package http

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// Codes only the HTTP layer answers with: the request never reached the
// core service (CSRF, the contract, the router) or is not the service's.
const (
	codeCSRFFailed           core.Code = "csrf_failed"
	codeBadRequest           core.Code = "bad_request"
	codeNotImplemented       core.Code = "not_implemented"
	codePayloadTooLarge      core.Code = "payload_too_large"
	codeUnsupportedMediaType core.Code = "unsupported_media_type"
	codeMethodNotAllowed     core.Code = "method_not_allowed"
	// codeTenantMismatch: a tenant-selecting header names another tenant
	// than the access token (JWT-08).
	codeTenantMismatch core.Code = "tenant_mismatch"
	// codeUnknownParameter: a query parameter the operation does not
	// declare, or a declared one given twice (contract.checkQuery).
	codeUnknownParameter core.Code = "unknown_parameter"
)

// statusByCode is the one place error codes become HTTP statuses: the
// domain's (core) and the HTTP layer's own.
var statusByCode = map[core.Code]int{
	core.CodeInvalidCredentials:     http.StatusUnauthorized,
	core.CodeInvalidToken:           http.StatusUnauthorized,
	core.CodeInvalidRefreshToken:    http.StatusUnauthorized,
	core.CodeSessionExpiredIdle:     http.StatusUnauthorized,
	core.CodeSessionExpiredAbsolute: http.StatusUnauthorized,
	core.CodeRefreshTokenReused:     http.StatusUnauthorized,
	core.CodeForbidden:              http.StatusForbidden,
	core.CodeNotFound:               http.StatusNotFound,
	core.CodeEmailTaken:             http.StatusConflict,
	core.CodeLastOwner:              http.StatusConflict,
	core.CodeSessionLimitReached:    http.StatusConflict,
	core.CodeConflict:               http.StatusConflict,
	core.CodeValidation:             http.StatusUnprocessableEntity,
	core.CodePolicyOutOfBounds:      http.StatusUnprocessableEntity,
	core.CodePolicyInvariant:        http.StatusUnprocessableEntity,
	core.CodeInvalidResetToken:      http.StatusBadRequest,
	core.CodeInvalidCursor:          http.StatusUnprocessableEntity,
	core.CodeRateLimited:            http.StatusTooManyRequests,
	core.CodeUnavailable:            http.StatusServiceUnavailable,
	core.CodeInternal:               http.StatusInternalServerError,
	core.CodeReauthRequired:         http.StatusForbidden,
	core.CodeMFAEnrollmentRequired:  http.StatusForbidden,
	core.CodeInvalidMFACode:         http.StatusUnauthorized,
	core.CodeInvalidMFAChallenge:    http.StatusUnauthorized,
	core.CodeCannotRevokeCurrent:    http.StatusBadRequest,

	core.CodeEmailNotVerified:             http.StatusForbidden,
	core.CodeInvalidVerificationToken:     http.StatusBadRequest,
	core.CodeVerificationPasswordMismatch: http.StatusBadRequest,
	core.CodeInvalidInvitationToken:       http.StatusBadRequest,
	core.CodeInvitationRevoked:            http.StatusBadRequest,
	core.CodeInvitationExpired:            http.StatusBadRequest,
	core.CodeInvitationUsed:               http.StatusBadRequest,
	core.CodeInvitationEmailTaken:         http.StatusConflict,
	core.CodeMemberPasswordsDisabled:      http.StatusForbidden,

	codeCSRFFailed:           http.StatusForbidden,
	codeBadRequest:           http.StatusBadRequest,
	codeNotImplemented:       http.StatusNotImplemented,
	codePayloadTooLarge:      http.StatusRequestEntityTooLarge,
	codeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	codeMethodNotAllowed:     http.StatusMethodNotAllowed,
	codeTenantMismatch:       http.StatusForbidden,
	codeUnknownParameter:     http.StatusBadRequest,
}

// problemFor builds the RFC 9457 body for a domain error.
func problemFor(e *core.Error) (int, api.Problem) {
	status, ok := statusByCode[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := api.Problem{
		Type:   "https://sessiond.dev/problems/" + string(e.Code),
		Title:  http.StatusText(status),
		Status: status,
		Code:   api.ProblemCode(e.Code),
	}
	if e.Message != "" {
		d := e.Message
		p.Detail = &d
	}
	if e.Field != "" {
		p.Errors = &[]api.FieldError{{Field: e.Field, Message: e.Message}}
	}
	return status, p
}

// writeError answers err as problem+json. A rate-limit refusal carries
// its wait and a dependency fault answers 503 (faults.go); any other error
// that is not a *core.Error is an internal error: logged, never shown.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *core.Error
	var wait time.Duration
	if le, lw, ok := asLimited(r, err); ok {
		e, wait = le, lw
	} else if fe, ok := asUnavailable(r, log, err); ok {
		e = fe
	} else if !errors.As(err, &e) {
		log.ErrorContext(r.Context(), "internal error", "err", err, "method", r.Method, "path", r.URL.Path)
		e = &core.Error{Code: core.CodeInternal, Message: "an internal error occurred"}
	}
	status, p := problemFor(e)
	writeProblem(w, r, status, p, wait)
}

// unavailableRetryAfter is the Retry-After of a 503: long enough for a
// database restart or failover to make progress, short enough that
// clients come back soon.
const unavailableRetryAfter = 2 * time.Second

// retryAfter is the one place Retry-After is decided: a 429 waits for the
// limiter that refused (at least a second), a 503 for
// unavailableRetryAfter; other statuses have none.
func retryAfter(status int, wait time.Duration) (string, bool) {
	switch status {
	case http.StatusTooManyRequests:
	case http.StatusServiceUnavailable:
		wait = unavailableRetryAfter
	default:
		return "", false
	}
	return strconv.Itoa(int(math.Max(1, math.Ceil(wait.Seconds())))), true
}

// writeProblem writes the problem body with the headers every error
// answer carries; wait is the limiter's, for a 429.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, p api.Problem, wait time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if v, ok := retryAfter(status, wait); ok {
		h.Set("Retry-After", v)
	}
	if st := stateFrom(r.Context()); st != nil {
		st.code = string(p.Code)
	}
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Bearer realm="sessiond"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}
